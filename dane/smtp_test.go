package dane

import (
	"crypto/tls"
	"errors"
	"testing"

	"github.com/mxroute-go/mxroute/internal/smtptest"
)

// deliver sends one message with the policy's TLSConfig; TLS is mandatory in
// ModeDANE and ModeEncrypt (RFC 7672, Section 2.2), so a server without
// STARTTLS gets nothing.
func deliver(t *testing.T, addr string, p *Policy) error {
	t.Helper()
	if p.Mode() == ModeNone {
		t.Fatal("deliver is for policies that need TLS")
	}
	err := smtptest.Deliver(t, addr, p.TLSConfig())
	if errors.Is(err, smtptest.ErrNoStartTLS) {
		return StartTLSNotSupported
	}
	return err
}

// TestSMTPStartTLS delivers over STARTTLS to a go-smtp server presenting
// certificates generated in the test: matching the TLSA records, not
// matching, expired, a DANE-TA chain; mail is accepted only when the policy
// allows.
func TestSMTPStartTLS(t *testing.T) {
	k := newPKI(t)
	other := newPKI(t)
	cert := func(leaf *testCert, issuers ...*testCert) *tls.Certificate { c := tlsCert(leaf, issuers...); return &c }
	tests := []struct {
		name   string
		reason string
		cert   *tls.Certificate // nil: no STARTTLS
		recs   []Record
		want   Result // "" = delivered
	}{
		{"3 1 1 match", "DANE-EE on the leaf key", cert(k.leaf, k.inter), []Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.leaf)}, ""},
		{"3 1 1 mismatch", "DANE-EE of another key: not delivered", cert(k.leaf, k.inter), []Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, other.leaf)}, CertificateNotTrusted},
		{"3 0 1 expired", "DANE-EE ignores expiry (RFC 7672, Section 3.1.1)", cert(k.expiredLeaf), []Record{rec(t, UsageDANEEE, SelectorCert, MatchSHA256, k.expiredLeaf)}, ""},
		{"2 0 1 chain", "DANE-TA on the intermediate", cert(k.leaf, k.inter), []Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, ""},
		{"2 0 1 expired", "DANE-TA with an expired leaf", cert(k.expiredLeaf, k.inter), []Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, CertificateExpired},
		{"2 0 1 wrong name", "DANE-TA with a leaf for another name", cert(k.otherLeaf, k.inter), []Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, CertificateHostMismatch},
		{"no STARTTLS", "a DANE host without STARTTLS is not used", nil, []Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.leaf)}, StartTLSNotSupported},
		{"unusable only", "only unusable records: TLS, any certificate (RFC 7672, Section 2.2)", cert(other.leaf), []Record{rec(t, UsagePKIXEE, SelectorSPKI, MatchSHA256, k.leaf)}, ""},
		{"unusable only, no STARTTLS", "only unusable records: TLS is still mandatory", nil, []Record{rec(t, UsagePKIXEE, SelectorSPKI, MatchSHA256, k.leaf)}, StartTLSNotSupported},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.StartMail(t, "mx.example.com", tc.cert)
			err := deliver(t, s.Addr, &Policy{Host: "mx.example.com", Records: tc.recs})
			n := len(s.Messages())
			if tc.want == "" {
				if err != nil || n != 1 {
					t.Fatalf("%s: err %v, %d message(s) delivered", tc.reason, err, n)
				}
				return
			}
			if !errors.Is(err, tc.want) || n != 0 {
				t.Fatalf("%s: err %v (want %s), %d message(s) delivered", tc.reason, err, tc.want, n)
			}
		})
	}
}
