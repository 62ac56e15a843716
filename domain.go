package mxroute

import (
	"net/netip"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// Limits on domain syntax (RFC 1035, Section 2.3.4; RFC 5321, Section 4.5.3.1.2).
const (
	maxLabelLen  = 63
	maxDomainLen = 253 // octets, without the trailing dot
)

// destination is a parsed, normalised domain argument of Route.
type destination struct {
	name    string     // lower-case A-label domain without the trailing dot; "" for a literal
	literal netip.Addr // valid for an address literal
}

// parseDomain normalises the domain argument of Route: case folded, one
// trailing dot removed, U-labels converted to A-labels, RFC 5321 syntax
// checked; or it parses an address literal. It never queries DNS.
func parseDomain(in string) (destination, *Error) {
	bad := func(detail string) (destination, *Error) {
		return destination{}, &Error{Domain: in, Status: statusBadSyntax, Err: ErrBadDomain, Detail: detail}
	}
	if in == "" {
		return bad("empty domain")
	}
	if in[0] == '[' {
		addr, ok := parseAddressLiteral(in)
		if !ok {
			return bad("not a valid address literal")
		}
		return destination{literal: addr}, nil
	}
	if !utf8.ValidString(in) {
		// The IDNA mapping would turn invalid bytes into U+FFFD and
		// route a name nobody wrote.
		return bad("not valid UTF-8")
	}
	name := strings.TrimSuffix(mapDots(in), ".")
	if !isASCII(name) || hasALabel(name) {
		// RFC 5890/5891: U-labels travel as A-labels in DNS; UTS #46
		// mapping for lookup also folds case and width. A-labels are
		// run through too, so malformed Punycode is caught here.
		a, err := idna.Lookup.ToASCII(name)
		if err != nil {
			return bad("not a valid internationalized domain name: " + err.Error())
		}
		name = a
	}
	name = strings.ToLower(name)
	if detail := checkHostname(name); detail != "" {
		return bad(detail)
	}
	// RFC 1123, Section 2.1 and RFC 3696, Section 2: a top-level domain is
	// never all-numeric, so "192.0.2.1" is an address written without its
	// brackets, not a domain. Querying MX for it would only leak the
	// mistake to DNS.
	if _, err := netip.ParseAddr(name); err == nil {
		return bad("an IP address must be written as an address literal, e.g. [" + name + "]")
	}
	return destination{name: name}, nil
}

// parseAddressLiteral parses an RFC 5321, Section 4.1.3 address literal:
// "[192.0.2.1]" or "[IPv6:2001:db8::1]" (the tag is case-insensitive).
func parseAddressLiteral(s string) (netip.Addr, bool) {
	if len(s) < 3 || s[0] != '[' || s[len(s)-1] != ']' {
		return netip.Addr{}, false
	}
	s = s[1 : len(s)-1]
	if len(s) >= 5 && strings.EqualFold(s[:5], "IPv6:") {
		a, err := netip.ParseAddr(s[5:])
		// An IPv6 literal with a zone ("%eth0") names no host on the Internet.
		if err != nil || !a.Is6() || a.Zone() != "" {
			return netip.Addr{}, false
		}
		return a, true
	}
	// RFC 5321, Section 4.1.3: IPv4-address-literal = Snum 3("." Snum).
	// netip.ParseAddr accepts exactly the dotted quad (no leading zeros).
	a, err := netip.ParseAddr(s)
	if err != nil || !a.Is4() {
		return netip.Addr{}, false
	}
	return a, true
}

// checkHostname checks RFC 5321, Section 4.1.2 syntax on a lower-case
// ASCII name without trailing dot:
//
//	Domain = sub-domain *("." sub-domain)
//	sub-domain = Let-dig [Ldh-str]
//	Ldh-str = *( ALPHA / DIGIT / "-" ) Let-dig
//
// with labels of 1 to 63 octets and at most 253 octets in all. It returns
// what is wrong, or "".
func checkHostname(name string) string {
	if name == "" {
		return "empty domain"
	}
	if len(name) > maxDomainLen {
		return "longer than 253 octets"
	}
	for label := range strings.SplitSeq(name, ".") {
		switch {
		case label == "":
			return "empty label"
		case len(label) > maxLabelLen:
			return "label longer than 63 octets"
		case label[0] == '-' || label[len(label)-1] == '-':
			return "label starts or ends with a hyphen"
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
				return "character not allowed in a domain: " + quoteByte(c)
			}
		}
	}
	return ""
}

// NormalizeHost returns a host or domain name in the form Route gives names
// (Route.Domain, Host.Name) and compares LocalNames in: lower case, one
// trailing dot removed (any RFC 3490 label separator counts as a dot), and
// U-labels as A-labels (UTS #46 lookup mapping). It checks no syntax and
// asks no DNS: a name IDNA rejects comes back lower case, otherwise as
// given. For a domain Route accepts, it is the name Route asks DNS about,
// so a caller that got no Route can still name what was looked up.
func NormalizeHost(name string) string {
	name = strings.TrimSuffix(mapDots(name), ".")
	if !isASCII(name) {
		if a, err := idna.Lookup.ToASCII(name); err == nil {
			name = a
		}
	}
	return strings.ToLower(name)
}

// ideographicDots are the label separators RFC 3490, Section 3.1 asks to
// be recognised besides the full stop: "U+002E (full stop), U+3002
// (ideographic full stop), U+FF0E (fullwidth full stop), U+FF61 (halfwidth
// ideographic full stop)".
var ideographicDots = strings.NewReplacer("\u3002", ".", "\uff0e", ".", "\uff61", ".")

// mapDots turns every RFC 3490 label separator into ".", so that a trailing
// one is removed like a trailing full stop and none makes an empty label.
func mapDots(s string) string {
	if isASCII(s) {
		return s
	}
	return ideographicDots.Replace(s)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func hasALabel(s string) bool {
	s = strings.ToLower(s)
	return strings.HasPrefix(s, "xn--") || strings.Contains(s, ".xn--")
}

func quoteByte(c byte) string {
	if c < 0x20 || c >= 0x7f {
		return "0x" + string("0123456789abcdef"[c>>4]) + string("0123456789abcdef"[c&15])
	}
	return "'" + string(c) + "'"
}
