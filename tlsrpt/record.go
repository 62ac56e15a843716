package tlsrpt

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/mxroute-go/mxroute/internal/tagrecord"
)

// Sentinels about the TXT record (Section 3). Without exactly one valid
// record the domain has no TLSRPT: nothing is reported to it.
var (
	// ErrNoRecord: no TXT record at _smtp._tls.<domain> begins with
	// "v=TLSRPTv1".
	ErrNoRecord = errors.New("tlsrpt: no TLSRPT TXT record")
	// ErrMultipleRecords: more than one record begins with "v=TLSRPTv1"
	// ("If the number of resulting records is not one, senders MUST assume
	// the recipient domain does not implement TLSRPT").
	ErrMultipleRecords = errors.New("tlsrpt: more than one TLSRPT TXT record")
	// ErrRecordSyntax: the record does not follow the grammar of Section 3.
	ErrRecordSyntax = errors.New("tlsrpt: malformed TLSRPT TXT record")
)

// Record is a parsed _smtp._tls TXT record (Section 3).
type Record struct {
	// RUA are the aggregate report addresses, in the record's order (of
	// every rua field, should there be several): mailto: and https: URIs,
	// and any other scheme as published, which no delivery here uses.
	RUA []*url.URL
	// Extensions are the other fields, in order; senders ignore them
	// ("unknown fields SHALL be ignored").
	Extensions []Extension
}

// Extension is a field the RFC does not define, kept as it was.
type Extension struct {
	Key, Value string
}

// ParseRecord parses one TXT record, its strings already concatenated
// without spaces ("the record MUST be treated as if those strings are
// concatenated together without adding spaces"). The grammar of Section 3:
//
//	tlsrpt-record    = tlsrpt-version 1*(field-delim tlsrpt-field) [field-delim]
//	field-delim      = *WSP ";" *WSP
//	tlsrpt-field     = tlsrpt-rua / tlsrpt-extension
//	tlsrpt-version   = %s"v=TLSRPTv1"
//	tlsrpt-rua       = %s"rua=" tlsrpt-uri *(*WSP "," *WSP tlsrpt-uri)
//	tlsrpt-uri       = URI   ; commas, exclamation points and semicolons
//	                         ; MUST be encoded
//	tlsrpt-extension = tlsrpt-ext-name "=" tlsrpt-ext-value
//	tlsrpt-ext-name  = (ALPHA / DIGIT) *31(ALPHA / DIGIT / "_" / "-" / ".")
//	tlsrpt-ext-value = 1*(%x21-3A / %x3C / %x3E-7E)
//
// The rua field is required. A mailto: URI must name at least one address
// (local@domain), an https: URI a host. Errors wrap ErrRecordSyntax and
// quote the input.
func ParseRecord(txt string) (*Record, error) {
	fail := func(why string) (*Record, error) {
		return nil, fmt.Errorf("%w %q: %s", ErrRecordSyntax, txt, why)
	}
	parts, why := tagrecord.Fields(txt, "v=TLSRPTv1")
	if why != "" {
		return fail(why)
	}
	r := &Record{}
	rua := false
	for _, p := range parts {
		k, v, ok := strings.Cut(p, "=")
		if !ok || !tagrecord.ValidKey(k) {
			return fail(fmt.Sprintf("malformed field %q", p))
		}
		if k != "rua" {
			if !tagrecord.ValidValue(v) {
				return fail(fmt.Sprintf("malformed field %q", p))
			}
			r.Extensions = append(r.Extensions, Extension{Key: k, Value: v})
			continue
		}
		rua = true
		for _, raw := range strings.Split(v, ",") {
			u, why := parseURI(trimWSP(raw))
			if why != "" {
				return fail(fmt.Sprintf("rua URI %q: %s", trimWSP(raw), why))
			}
			r.RUA = append(r.RUA, u)
		}
	}
	if !rua {
		return fail("no rua field")
	}
	return r, nil
}

// FindRecord picks the domain's record out of the TXT records at
// _smtp._tls.<domain> (Section 3): records that do not begin with
// "v=TLSRPTv1" and a ";" are discarded; none left is ErrNoRecord, more than
// one ErrMultipleRecords, and the one left must parse.
func FindRecord(txts []string) (*Record, error) {
	found := tagrecord.Select(txts, "v=TLSRPTv1")
	switch len(found) {
	case 0:
		return nil, ErrNoRecord
	case 1:
		return ParseRecord(found[0])
	}
	return nil, fmt.Errorf("%w: %q", ErrMultipleRecords, found)
}

// String gives the record as it would be published.
func (r *Record) String() string {
	var b strings.Builder
	b.WriteString("v=TLSRPTv1; rua=")
	for i, u := range r.RUA {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString(u.String())
	}
	for _, e := range r.Extensions {
		b.WriteString("; " + e.Key + "=" + e.Value)
	}
	return b.String()
}

// Mailto gives the addresses of the record's mailto: URIs, in order: where
// a report goes by mail (Section 5.3).
func (r *Record) Mailto() []string {
	var out []string
	for _, u := range r.RUA {
		if u.Scheme == "mailto" {
			addrs, _ := mailtoAddrs(u)
			out = append(out, addrs...)
		}
	}
	return out
}

// HTTPS gives the record's https: URIs, in order: where a report is
// POSTed (Section 5.4).
func (r *Record) HTTPS() []string {
	var out []string
	for _, u := range r.RUA {
		if u.Scheme == "https" {
			out = append(out, u.String())
		}
	}
	return out
}

// parseURI checks one tlsrpt-uri: RFC 3986 characters only, with ",", "!"
// and ";" encoded; a scheme; for mailto: addresses, for https: a host. It
// gives the reason it is not one, or "".
func parseURI(s string) (*url.URL, string) {
	if s == "" {
		return nil, "empty"
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return nil, `"%" is not followed by two hex digits`
			}
		case c == '!' || c == ',' || c == ';':
			return nil, fmt.Sprintf("%q must be percent-encoded", c)
		case !isURIChar(c):
			return nil, fmt.Sprintf("%q is not a URI character", c)
		}
	}
	scheme, _, ok := strings.Cut(s, ":")
	if !ok || !validScheme(scheme) {
		return nil, "no scheme"
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, err.Error()
	}
	u.Scheme = strings.ToLower(u.Scheme)
	switch u.Scheme {
	case "mailto":
		if _, why := mailtoAddrs(u); why != "" {
			return nil, why
		}
	case "https":
		if u.Host == "" || u.Opaque != "" {
			return nil, "an https URI without a host"
		}
	}
	return u, ""
}

// mailtoAddrs gives the addresses of a mailto: URI (RFC 6068: "to" is
// addr-spec *("," addr-spec), the commas percent-encoded here), or why
// there is none.
func mailtoAddrs(u *url.URL) ([]string, string) {
	to := u.Opaque
	if to == "" {
		to = u.Path // "mailto:/x" has no opaque part
	}
	to, err := url.PathUnescape(to)
	if err != nil {
		return nil, err.Error()
	}
	if to == "" {
		return nil, "a mailto URI without an address"
	}
	var out []string
	for _, a := range strings.Split(to, ",") {
		local, domain, ok := strings.Cut(a, "@")
		if !ok || local == "" || strings.Contains(domain, "@") {
			return nil, fmt.Sprintf("%q is not an address (local@domain)", a)
		}
		if _, err := normDomain(domain); err != nil {
			return nil, fmt.Sprintf("%q is not an address: %v", a, err)
		}
		for i := 0; i < len(local); i++ {
			if local[i] <= ' ' || local[i] >= 0x7f {
				return nil, fmt.Sprintf("%q is not an address: a space or control character", a)
			}
		}
		out = append(out, a)
	}
	return out, ""
}

// validScheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986,
// Section 3.1).
func validScheme(s string) bool {
	if s == "" || !isAlnum(s[0]) || s[0] <= '9' {
		return false
	}
	for i := 1; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// isURIChar: the unreserved and reserved characters of RFC 3986, Section 2.
func isURIChar(c byte) bool {
	return isAlnum(c) || strings.IndexByte("-._~:/?#[]@!$&'()*+,;=", c) >= 0
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func trimWSP(s string) string { return strings.Trim(s, " \t") }
