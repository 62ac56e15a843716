package tlsrpt

import (
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// ErrBadDomain: a policy domain, submitter domain or MX host name is not a
// host name (letters, digits, hyphens, dots; an A-label for an IDN).
var ErrBadDomain = errors.New("tlsrpt: not a valid domain")

// normDomain gives a domain as reports carry it: lower case, no trailing
// dot, A-labels ("In the case of Internationalized Domain Names, the domain
// MUST consist of the Punycode-encoded A-labels and not the U-labels", RFC
// 8460, Section 4.4). Errors wrap ErrBadDomain and quote the input.
func normDomain(in string) (string, error) {
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("%w %q: %s", ErrBadDomain, in, why)
	}
	if !utf8.ValidString(in) {
		return bad("not valid UTF-8")
	}
	d := strings.TrimSuffix(in, ".")
	if !isASCII(d) || strings.Contains(strings.ToLower(d), "xn--") {
		a, err := idna.Lookup.ToASCII(d)
		if err != nil {
			return bad("not a valid internationalized domain name: " + err.Error())
		}
		d = a
	}
	d = strings.ToLower(d)
	if d == "" || len(d) > 253 {
		return bad("empty or longer than 253 octets")
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return bad(fmt.Sprintf("label %q is empty, longer than 63 octets, or begins or ends with a hyphen", l))
		}
		for i := 0; i < len(l); i++ {
			if !isAlnum(l[i]) && l[i] != '-' {
				return bad(fmt.Sprintf("label %q has a character other than a letter, digit or hyphen", l))
			}
		}
	}
	return d, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

func isAlnum(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}
