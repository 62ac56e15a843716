package mtasts

import (
	"crypto/tls"
	"errors"
	"testing"
	"time"

	"github.com/mxroute-go/mxroute/internal/smtptest"
)

// TestSMTPStartTLS delivers with TLSConfig to go-smtp servers offering
// STARTTLS with certificates from the test CA (RFC 8461, Section 4.2): mail
// goes only to a host whose certificate is trusted, unexpired and names it.
func TestSMTPStartTLS(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	now := time.Now()
	cert := func(c tls.Certificate) *tls.Certificate { return &c }
	tests := []struct {
		name string
		cert *tls.Certificate // nil: no STARTTLS
		want error            // nil = delivered
	}{
		{"valid", cert(ca.issue(t, now.Add(-time.Hour), now.Add(time.Hour), "mx1.example.com")), nil},
		{"wildcard", cert(ca.issue(t, now.Add(-time.Hour), now.Add(time.Hour), "*.example.com")), nil},
		{"other name", cert(ca.issue(t, now.Add(-time.Hour), now.Add(time.Hour), "mx2.example.com")), CertificateHostMismatch},
		{"expired", cert(ca.issue(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "mx1.example.com")), CertificateExpired},
		{"untrusted", cert(other.issue(t, now.Add(-time.Hour), now.Add(time.Hour), "mx1.example.com")), CertificateNotTrusted},
		{"no STARTTLS", nil, smtptest.ErrNoStartTLS},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := smtptest.StartMail(t, "mx1.example.com", tc.cert)
			err := smtptest.Deliver(t, s.Addr, TLSConfig("mx1.example.com", ca.pool))
			n := len(s.Messages())
			if tc.want == nil {
				if err != nil || n != 1 {
					t.Fatalf("err %v, %d message(s)", err, n)
				}
				return
			}
			if !errors.Is(err, tc.want) || n != 0 {
				t.Fatalf("err %v (want %v), %d message(s)", err, tc.want, n)
			}
		})
	}
}
