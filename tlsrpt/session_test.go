package tlsrpt

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

// TestSTS: an MTA-STS policy as a report gives it (RFC 8460, Section 4.5):
// one string per line, each mx value also in mx-host.
func TestSTS(t *testing.T) {
	text := "version: STSv1\r\nmode: testing\r\nmx: mx1.example.com\r\nmx: mx2.example.com\r\nmx: mx.backup-example.com\r\nmax_age: 604800\r\n"
	p := STS("example.com", text)
	want := []string{"version: STSv1", "mode: testing", "mx: mx1.example.com", "mx: mx2.example.com",
		"mx: mx.backup-example.com", "max_age: 604800"}
	if p.Type != PolicySTS || p.Domain != "example.com" || !slices.Equal(p.String, want) {
		t.Errorf("STS: %+v, want the six lines of Section 4.5", p)
	}
	if !slices.Equal(p.MXHost, []string{"mx1.example.com", "mx2.example.com", "mx.backup-example.com"}) {
		t.Errorf("mx-host %q: \"where there are multiple mx values, they must be listed as separate mx elements\"", p.MXHost)
	}
	if lf := STS("example.com", strings.ReplaceAll(text, "\r\n", "\n")); !slices.Equal(lf.String, want) {
		t.Errorf("LF line ends: %q", lf.String)
	}
}

// TestTLSA: TLSA records as a report gives them (Section 4.5): "the fields
// are in presentation format ... with no internal spaces", in a fixed order.
func TestTLSA(t *testing.T) {
	p := TLSA("mail.example.com", []string{
		"3 0 1 12350A337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747D1D1234",
		"3 0 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D",
		"2 1 1 ab cd\tef",
	})
	want := []string{
		"2 1 1 abcdef",
		"3 0 1 12350A337E6DB9C6123522D136A475638CC43E1ED424F8EEC8513D747D1D1234",
		"3 0 1 1F850A337E6DB9C609C522D136A475638CC43E1ED424F8EEC8513D747D1D085D",
	}
	if p.Type != PolicyTLSA || p.Domain != "mail.example.com" || !slices.Equal(p.String, want) || len(p.MXHost) != 0 {
		t.Errorf("TLSA: %+v, want %q", p, want)
	}
}

// TestPolicyJSON: the policy object of Section 4.4, arrays never null, the
// zero type written as no-policy-found.
func TestPolicyJSON(t *testing.T) {
	for _, tc := range []struct {
		p    Policy
		want string
	}{
		{NoPolicy("example.com"), `{"policy-type":"no-policy-found","policy-string":[],"policy-domain":"example.com","mx-host":[]}`},
		{Policy{Domain: "example.com"}, `{"policy-type":"no-policy-found","policy-string":[],"policy-domain":"example.com","mx-host":[]}`},
		{STS("example.com", "mx: *.example.com"), `{"policy-type":"sts","policy-string":["mx: *.example.com"],"policy-domain":"example.com","mx-host":["*.example.com"]}`},
	} {
		b, err := json.Marshal(tc.p)
		if err != nil || string(b) != tc.want {
			t.Errorf("%+v: %s, %v; want %s", tc.p, b, err, tc.want)
		}
	}
}

// TestClean: text from a remote host is made fit to keep: PostgreSQL
// refuses invalid UTF-8 and NUL, and a hostile server must not make rows
// grow without bound.
func TestClean(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"mx.example.com", "mx.example.com"},
		{"mx\x00.example\r\n.com", "mx.example.com"},
		{"a\tb", "a b"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{strings.Repeat("é", 200), strings.Repeat("é", 127)},
	} {
		if got := clean(tc.in, maxHELO); got != tc.want {
			t.Errorf("clean(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
