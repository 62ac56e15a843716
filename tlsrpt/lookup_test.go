package tlsrpt

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestLookup: the name asked, and what each answer means.
func TestLookup(t *testing.T) {
	errServfail := errors.New("SERVFAIL")
	zone := map[string][]string{
		"_smtp._tls.example.com":           {"v=spf1 -all", "v=TLSRPTv1; rua=mailto:tlsrpt@example.com"},
		"_smtp._tls.xn--bcher-kva.example": {"v=TLSRPTv1;rua=https://r.example/"},
		"_smtp._tls.two.example":           {"v=TLSRPTv1;rua=https://r.example/", "v=TLSRPTv1;rua=https://s.example/"},
		"_smtp._tls.bad.example":           {"v=TLSRPTv1;rua=mailto:nobody"},
	}
	var asked []string
	txt := func(ctx context.Context, name string) ([]string, error) {
		asked = append(asked, name)
		if name == "_smtp._tls.fail.example" {
			return nil, errServfail
		}
		return zone[name], nil
	}
	for _, tc := range []struct {
		domain string
		name   string // the name asked; "" for none
		want   error  // nil: found
		why    string
	}{
		{"example.com", "_smtp._tls.example.com", nil, "the record among others at _smtp._tls"},
		{"Example.COM.", "_smtp._tls.example.com", nil, "case and a trailing dot do not matter"},
		{"bücher.example", "_smtp._tls.xn--bcher-kva.example", nil, "a U-label is asked as its A-label"},
		{"none.example", "_smtp._tls.none.example", ErrNoRecord, "NXDOMAIN or NODATA: no TLSRPT"},
		{"two.example", "_smtp._tls.two.example", ErrMultipleRecords, "two records: no TLSRPT"},
		{"bad.example", "_smtp._tls.bad.example", ErrRecordSyntax, "one malformed record"},
		{"fail.example", "_smtp._tls.fail.example", ErrDNS, "a failed lookup is temporary, not \"no TLSRPT\""},
		{"exa mple.com", "", ErrBadDomain, "no name is asked for a domain that is no host name"},
		{"", "", ErrBadDomain, "the empty domain"},
	} {
		asked = nil
		r, err := Lookup(t.Context(), tc.domain, txt)
		if tc.want == nil && (err != nil || r == nil) || tc.want != nil && !errors.Is(err, tc.want) {
			t.Errorf("%q: %v, want %v (%s)", tc.domain, err, tc.want, tc.why)
		}
		if got := strings.Join(asked, " "); got != tc.name {
			t.Errorf("%q: asked %q, want %q (%s)", tc.domain, got, tc.name, tc.why)
		}
		if err != nil && tc.name != "" && !strings.Contains(err.Error(), tc.name) {
			t.Errorf("%q: the error %q does not name %s", tc.domain, err, tc.name)
		}
	}
	if _, err := Lookup(t.Context(), "fail.example", txt); !errors.Is(err, errServfail) {
		t.Errorf("the cause of ErrDNS is lost: %v", err)
	}
}
