package mtasts

import (
	"errors"
	"strings"
	"testing"
)

// FuzzParsePolicy: no panic; a policy that parses is within the RFC's bounds
// (mode, max_age, mx unless none), prints to text that parses back to the
// same policy, and its patterns match the names they should and only those.
func FuzzParsePolicy(f *testing.F) {
	f.Add([]byte("version: STSv1\nmode: enforce\nmx: mail.example.com\nmx: *.example.net\nmax_age: 604800\n"))
	f.Add([]byte("version: STSv1\r\nmode: none\r\nmax_age: 0\r\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		p, err := ParsePolicy(body)
		if err != nil {
			if !errors.Is(err, ErrPolicySyntax) {
				t.Fatalf("error %v does not wrap ErrPolicySyntax", err)
			}
			return
		}
		switch p.Mode {
		case ModeEnforce, ModeTesting:
			if len(p.MX) == 0 {
				t.Fatal("enforce or testing without mx")
			}
		case ModeNone:
		default:
			t.Fatalf("mode %q", p.Mode)
		}
		if p.MaxAge < 0 || p.MaxAge > MaxMaxAge {
			t.Fatalf("max_age %s", p.MaxAge)
		}
		again, err := ParsePolicy([]byte(p.String()))
		if err != nil || again.String() != p.String() {
			t.Fatalf("String() %q does not parse back: %v", p.String(), err)
		}
		for _, m := range p.MX {
			if m.Wildcard {
				if !p.Match("x." + m.Domain) {
					t.Fatalf("wildcard %s does not match one label under it", m)
				}
				if m.Match(m.Domain) || m.Match("a.b."+m.Domain) {
					t.Fatalf("wildcard %s matches %q or two labels", m, m.Domain)
				}
			} else if !p.Match(strings.ToUpper(m.Domain) + ".") {
				t.Fatalf("%s does not match itself", m)
			}
		}
	})
}

// FuzzParseRecord: no panic; a record that parses has a valid id, prints
// to a record that parses back, and FindRecord picks it out of a set where
// it is the only STS record.
func FuzzParseRecord(f *testing.F) {
	f.Add("v=STSv1; id=20160831085700Z;")
	f.Add("v=STSv1;id=a;x=y")
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRecord(s)
		found, ferr := FindRecord([]string{"v=spf1 -all", s})
		if err != nil {
			if !errors.Is(err, ErrRecordSyntax) {
				t.Fatalf("error %v does not wrap ErrRecordSyntax", err)
			}
			if ferr == nil {
				t.Fatalf("FindRecord accepted %q, which ParseRecord refuses", s)
			}
			return
		}
		if !validID(r.ID) {
			t.Fatalf("id %q", r.ID)
		}
		again, err := ParseRecord(r.String())
		if err != nil || again.String() != r.String() {
			t.Fatalf("String() %q does not parse back: %v", r.String(), err)
		}
		if ferr != nil || found.ID != r.ID {
			t.Fatalf("FindRecord: %v, %v", found, ferr)
		}
	})
}
