package mtasts

import (
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mxroute-go/mxroute/internal/tagrecord"
)

// Mode is a policy's mode (RFC 8461, Section 5).
type Mode string

// The modes.
const (
	// ModeEnforce: MX hosts that match no pattern or fail certificate
	// validation must not be used.
	ModeEnforce Mode = "enforce"
	// ModeTesting: failures are reported, delivery goes on as without a policy.
	ModeTesting Mode = "testing"
	// ModeNone: the domain has withdrawn its policy; treat it as none.
	ModeNone Mode = "none"
)

// MaxMaxAge is the largest max_age a policy may give, 31557600 seconds
// (about a year; Section 3.2).
const MaxMaxAge = 31557600 * time.Second

// Policy is a parsed MTA-STS policy (Section 3.2).
type Policy struct {
	// ID is the id of the _mta-sts TXT record the policy was fetched under,
	// for reports and logs: Client.Lookup sets it; ParsePolicy leaves it
	// empty, as the body has no id.
	ID   string
	Mode Mode
	// MX are the mx patterns in the policy's order.
	MX []Pattern
	// MaxAge is how long the policy may be cached, at most MaxMaxAge: a
	// larger max_age is taken as MaxMaxAge.
	MaxAge time.Duration

	// ext holds the fields the RFC does not define (see Extensions) as
	// "key:value\n" lines, in one string: a cached policy costs about its
	// body, where a []Extension cost 32 bytes a field more (a 64 KiB body
	// of short extension lines took ~520 KiB).
	ext string
}

// Extensions gives the fields of the policy that the RFC does not define,
// in order; senders ignore them (Section 3.2). Each call builds a new slice.
func (p *Policy) Extensions() []Extension {
	var out []Extension
	for rest := p.ext; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		k, v, _ := strings.Cut(line, ":")
		out = append(out, Extension{Key: k, Value: v})
	}
	return out
}

// Pattern is an mx pattern: a domain name, or with Wildcard "*." and a
// domain, which matches one more leftmost label (Section 4.1).
type Pattern struct {
	Wildcard bool
	Domain   string // lower case, no trailing dot
}

func (p Pattern) String() string {
	if p.Wildcard {
		return "*." + p.Domain
	}
	return p.Domain
}

// Match reports whether the MX host name matches the pattern (Section 4.1):
// case-insensitive, a trailing dot ignored; "*.example.com" matches
// "mail.example.com" but neither "example.com" nor "a.mail.example.com".
func (p Pattern) Match(host string) bool {
	host = strings.ToLower(strings.TrimSuffix(host, "."))
	if !p.Wildcard {
		return host == p.Domain
	}
	label, rest, ok := strings.Cut(host, ".")
	return ok && label != "" && rest == p.Domain
}

// Match reports whether the MX host name matches one of the policy's mx
// patterns (Section 4.1).
func (p *Policy) Match(host string) bool {
	for _, m := range p.MX {
		if m.Match(host) {
			return true
		}
	}
	return false
}

// ParsePolicy parses a policy body (Section 3.2). Lines end in LF or CRLF;
// each is "key: value" (white space after the colon and at the end of the
// line is allowed; blank lines are skipped). version must be STSv1, mode one
// of enforce, testing, none, max_age 1 to 10 digits; at least one mx unless
// the mode is none. "If any non-repeated field ... appears more than once,
// senders MUST ignore all but the first instance"; fields the RFC does not
// define are ignored (kept for Extensions). Errors wrap ErrPolicySyntax and
// quote the line.
//
// The policy holds no part of body: its mx domains share one string and
// its extensions another, so it costs about the body's size (for mx lines,
// 24 bytes a pattern more), however the body is cut into lines.
func ParsePolicy(body []byte) (*Policy, error) {
	fail := func(why string) (*Policy, error) {
		return nil, fmt.Errorf("%w: %s", ErrPolicySyntax, why)
	}
	if !utf8.Valid(body) {
		return fail("not UTF-8")
	}
	var (
		p                         Policy
		haveVersion, haveMode, ha bool
		mx                        []Pattern // their Domains point into text until the end
		names                     int       // the length of their Domains in all
		ext                       []byte    // the extension lines, as p.ext keeps them
	)
	text := string(body)
	for rest := text; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		line = strings.TrimSuffix(line, "\r")
		if strings.Trim(line, " \t") == "" {
			continue
		}
		k, v, ok := strings.Cut(line, ":")
		if !ok || !tagrecord.ValidKey(k) {
			return fail(fmt.Sprintf("line %q is not \"key: value\"", line))
		}
		v = strings.Trim(v, " \t")
		switch k {
		case "version":
			if haveVersion {
				continue
			}
			if v != "STSv1" {
				return fail(fmt.Sprintf("version %q is not STSv1", v))
			}
			haveVersion = true
		case "mode":
			if haveMode {
				continue
			}
			switch Mode(v) { // the constants, not v: p keeps nothing of text
			case ModeEnforce:
				p.Mode = ModeEnforce
			case ModeTesting:
				p.Mode = ModeTesting
			case ModeNone:
				p.Mode = ModeNone
			default:
				return fail(fmt.Sprintf("mode %q is not enforce, testing or none", v))
			}
			haveMode = true
		case "max_age":
			if ha {
				continue
			}
			if len(v) == 0 || len(v) > 10 || strings.Trim(v, "0123456789") != "" {
				return fail(fmt.Sprintf("max_age %q is not 1 to 10 digits", v))
			}
			n, _ := strconv.ParseUint(v, 10, 64) // at most 10 digits: fits
			if n > uint64(MaxMaxAge/time.Second) {
				n = uint64(MaxMaxAge / time.Second)
			}
			p.MaxAge = time.Duration(n) * time.Second
			ha = true
		case "mx":
			m, err := ParsePattern(v)
			if err != nil {
				return fail(err.Error())
			}
			mx = append(mx, m)
			names += len(m.Domain)
		default:
			if !validExtValue(v) {
				return fail(fmt.Sprintf("line %q has a malformed value", line))
			}
			ext = append(append(append(append(ext, k...), ':'), v...), '\n')
		}
	}
	switch {
	case !haveVersion:
		return fail("no version field")
	case !haveMode:
		return fail("no mode field")
	case !ha:
		return fail("no max_age field")
	case len(mx) == 0 && p.Mode != ModeNone:
		return fail(fmt.Sprintf("no mx field in mode %s", p.Mode))
	}
	if len(mx) > 0 {
		all := make([]byte, 0, names)
		for _, m := range mx {
			all = append(all, m.Domain...)
		}
		shared := string(all)
		p.MX = make([]Pattern, len(mx))
		for i, m := range mx {
			p.MX[i] = Pattern{Wildcard: m.Wildcard, Domain: shared[:len(m.Domain)]}
			shared = shared[len(m.Domain):]
		}
	}
	p.ext = string(ext)
	return &p, nil
}

// ParsePattern parses an mx value: ["*."] Domain, the domain in RFC 5321
// syntax (letters, digits, hyphens; no label begins or ends with a hyphen;
// labels of at most 63 octets, at most 253 in all). Case is folded; a
// trailing dot is dropped.
func ParsePattern(s string) (Pattern, error) {
	var p Pattern
	d := strings.TrimSuffix(strings.ToLower(s), ".")
	if rest, ok := strings.CutPrefix(d, "*."); ok {
		p.Wildcard, d = true, rest
	}
	if !validDomain(d) {
		return Pattern{}, fmt.Errorf("mx %q is not a domain or *.domain", s)
	}
	p.Domain = d
	return p, nil
}

func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for _, l := range strings.Split(d, ".") {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for i := 0; i < len(l); i++ {
			if !tagrecord.IsAlnum(l[i]) && l[i] != '-' {
				return false
			}
		}
	}
	return true
}

// validExtValue: sts-policy-vchar *(*WSP sts-policy-vchar), visible ASCII
// or UTF-8 beyond ASCII, with inner white space.
func validExtValue(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		if r == ' ' || r == '\t' {
			continue
		}
		if r < 0x21 || r == 0x7f || r == utf8.RuneError {
			return false
		}
	}
	return true
}

// String gives the policy in the format of Section 3.2 with CRLF line ends;
// ParsePolicy of it gives the policy back.
func (p *Policy) String() string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: " + string(p.Mode) + "\r\n")
	for _, m := range p.MX {
		b.WriteString("mx: " + m.String() + "\r\n")
	}
	fmt.Fprintf(&b, "max_age: %d\r\n", int64(p.MaxAge/time.Second))
	for rest := p.ext; rest != ""; {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		k, v, _ := strings.Cut(line, ":")
		b.WriteString(k + ": " + v + "\r\n")
	}
	return b.String()
}
