package mtasts

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// TestTLSConfig: real handshakes over loopback TCP with MX certificates made
// by the test CA (RFC 8461, Section 4.2).
func TestTLSConfig(t *testing.T) {
	ca := newCA(t)
	other := newCA(t)
	now := time.Now()
	tests := []struct {
		name   string
		reason string
		cert   tls.Certificate
		host   string
		want   Result
	}{
		{"valid", "a certificate for the MX host from a trusted CA", ca.issue(t, now.Add(-time.Hour), now.Add(time.Hour), "mx1.example.com"), "mx1.example.com", ""},
		{"wildcard", "a *.example.com DNS-ID matches one label", ca.issue(t, now.Add(-time.Hour), now.Add(time.Hour), "*.example.com"), "MX1.example.com.", ""},
		{"wildcard two labels", "*.example.com does not match a.mx1.example.com", ca.issue(t, now.Add(-time.Hour), now.Add(time.Hour), "*.example.com"), "a.mx1.example.com", CertificateHostMismatch},
		{"other name", "a DNS-ID matching the MX host name is required", ca.issue(t, now.Add(-time.Hour), now.Add(time.Hour), "mx2.example.com"), "mx1.example.com", CertificateHostMismatch},
		{"expired", "the certificate must be non-expired", ca.issue(t, now.Add(-48*time.Hour), now.Add(-24*time.Hour), "mx1.example.com"), "mx1.example.com", CertificateExpired},
		{"untrusted", "the chain must lead to a trusted root", other.issue(t, now.Add(-time.Hour), now.Add(time.Hour), "mx1.example.com"), "mx1.example.com", CertificateNotTrusted},
		{"untrusted and wrong name", "an untrusted certificate is reported as untrusted, whatever its names", other.issue(t, now.Add(-time.Hour), now.Add(time.Hour), "evil.example"), "mx1.example.com", CertificateNotTrusted},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			var wg sync.WaitGroup
			defer wg.Wait()
			defer ln.Close()
			sni := make(chan string, 1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				c, err := ln.Accept()
				if err != nil {
					return
				}
				defer c.Close()
				c.SetDeadline(time.Now().Add(5 * time.Second))
				cert := tc.cert
				s := tls.Server(c, &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
					sni <- h.ServerName
					return &cert, nil
				}})
				if s.Handshake() == nil {
					io.WriteString(s, "220 ok")
				}
			}()
			c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), TLSConfig(tc.host, ca.pool))
			if got := <-sni; got != normDomain(tc.host) {
				t.Errorf("SNI %q, want the MX host name", got)
			}
			if tc.want != "" {
				if c != nil {
					c.Close()
				}
				var e *Error
				if !errors.Is(err, tc.want) || !errors.As(err, &e) || e.Host == "" {
					t.Fatalf("%s: got %v, want %s", tc.reason, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.reason, err)
			}
			defer c.Close()
			if b, err := io.ReadAll(c); string(b) != "220 ok" {
				t.Fatalf("read %q, %v", b, err)
			}
		})
	}
	// Section 7.2: TLS 1.2 at least, whatever crypto/tls's default becomes;
	// a server that offers only TLS 1.1 is refused.
	if v := TLSConfig("mx1.example.com", nil).MinVersion; v != tls.VersionTLS12 {
		t.Errorf("MinVersion %x", v)
	}
	old := ca.issue(t, now.Add(-time.Hour), now.Add(time.Hour), "mx1.example.com")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		tls.Server(c, &tls.Config{Certificates: []tls.Certificate{old}, MaxVersion: tls.VersionTLS11}).Handshake()
	}()
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), TLSConfig("mx1.example.com", ca.pool))
	if err == nil {
		c.Close()
		t.Error("a TLS 1.1 handshake succeeded")
	}
	ln.Close()
	<-done
	if err := VerifyMX(nil, "mx.example.com", ca.pool, time.Time{}); !errors.Is(err, ValidationFailure) {
		t.Errorf("no certificate: %v", err)
	}
}
