package dane

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// serveTLS accepts one connection on loopback, handshakes with cert and
// writes "ok". It returns the address; the listener closes with the test.
func serveTLS(t *testing.T, cert tls.Certificate) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				c.SetDeadline(time.Now().Add(10 * time.Second))
				tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
				if tc.Handshake() == nil {
					io.WriteString(tc, "ok")
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// TestHandshake runs real crypto/tls handshakes over loopback TCP with the
// Policy's TLSConfig: success ends in data read, failure in the handshake
// error, carrying the RFC 8460 result type.
func TestHandshake(t *testing.T) {
	k := newPKI(t)
	other := newPKI(t)
	tests := []struct {
		name   string
		reason string
		cert   tls.Certificate
		recs   []Record
		want   Result
	}{
		{"DANE-EE match", "3 1 1 of the leaf", tlsCert(k.leaf, k.inter), []Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.leaf)}, ""},
		{"DANE-EE expired", "3 1 1 of an expired leaf passes (RFC 7672, Section 3.1.1)", tlsCert(k.expiredLeaf), []Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.expiredLeaf)}, ""},
		{"DANE-EE mismatch", "3 1 1 of another key", tlsCert(k.leaf, k.inter), []Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, other.leaf)}, CertificateNotTrusted},
		{"DANE-TA chain", "2 0 1 on the intermediate, the chain sent", tlsCert(k.leaf, k.inter), []Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, ""},
		{"DANE-TA root", "2 0 1 on the root, the full chain sent", tlsCert(k.leaf, k.inter, k.root), []Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.root)}, ""},
		{"DANE-TA wrong name", "2 0 1 on the intermediate, leaf for another name", tlsCert(k.otherLeaf, k.inter), []Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, CertificateHostMismatch},
		{"DANE-TA expired", "2 0 1 on the intermediate, leaf expired", tlsCert(k.expiredLeaf, k.inter), []Record{rec(t, UsageDANETA, SelectorCert, MatchSHA256, k.inter)}, CertificateExpired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := serveTLS(t, tc.cert)
			p := &Policy{Host: "mx.example.com", Records: tc.recs}
			cfg := p.TLSConfig()
			if cfg.ServerName != "mx.example.com" || !cfg.InsecureSkipVerify || cfg.VerifyConnection == nil {
				t.Fatalf("config: ServerName %q, InsecureSkipVerify %v, VerifyConnection set %v", cfg.ServerName, cfg.InsecureSkipVerify, cfg.VerifyConnection != nil)
			}
			d := &tls.Dialer{NetDialer: &net.Dialer{Timeout: 5 * time.Second}, Config: cfg}
			c, err := d.Dial("tcp", addr)
			if tc.want != "" {
				if c != nil {
					c.Close()
				}
				if !errors.Is(err, tc.want) {
					t.Fatalf("%s: handshake error %v, want %s", tc.reason, err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatalf("%s: %v", tc.reason, err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			b, err := io.ReadAll(c)
			if err != nil || string(b) != "ok" {
				t.Fatalf("%s: read %q, %v", tc.reason, b, err)
			}
			if got := c.(*tls.Conn).ConnectionState().ServerName; got != "mx.example.com" {
				t.Errorf("SNI %q, want the TLSA base domain", got)
			}
		})
	}
}

// TestHandshakeSNI: the server sees the TLSA base domain as SNI (RFC 7672,
// Section 8.1), not the MX name, when they differ.
func TestHandshakeSNI(t *testing.T) {
	k := newPKI(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- ""
			return
		}
		defer c.Close()
		cert := tlsCert(k.leaf, k.inter)
		tc := tls.Server(c, &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
			got <- h.ServerName
			return &cert, nil
		}})
		tc.SetDeadline(time.Now().Add(5 * time.Second))
		tc.Handshake()
	}()
	p := &Policy{Host: "alias.example.org", BaseDomain: "mx.example.com.", Records: []Record{rec(t, UsageDANEEE, SelectorSPKI, MatchSHA256, k.leaf)}}
	c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", ln.Addr().String(), p.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if sni := <-got; sni != "mx.example.com" {
		t.Fatalf("SNI %q, want mx.example.com", sni)
	}
}
