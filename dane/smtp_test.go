package dane

import (
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// smtpServer is a github.com/emersion/go-smtp server on loopback that offers
// STARTTLS with the given certificate (none: no STARTTLS) and records the
// messages it accepts.
type smtpServer struct {
	addr string
	mu   sync.Mutex
	msgs []string
}

type smtpSession struct{ s *smtpServer }

func (smtpSession) Reset()                               {}
func (smtpSession) Logout() error                        { return nil }
func (smtpSession) Mail(string, *smtp.MailOptions) error { return nil }
func (smtpSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, string(b))
	ss.s.mu.Unlock()
	return nil
}

func newSMTPServer(t *testing.T, cert *tls.Certificate) *smtpServer {
	t.Helper()
	s := &smtpServer{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return smtpSession{s}, nil }))
	srv.Domain = "mx.example.com"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return s
}

// deliver sends one message over STARTTLS with the policy's TLSConfig, as
// an MTA would: a policy that needs TLS refuses a server without STARTTLS.
func deliver(t *testing.T, addr string, p *Policy) error {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if p.Mode() == ModeNone {
		t.Fatal("deliver is for policies that need TLS")
	}
	c, err := smtp.NewClientStartTLS(conn, p.TLSConfig())
	if err != nil {
		conn.Close()
		if strings.Contains(err.Error(), "doesn't support STARTTLS") {
			return StartTLSNotSupported // RFC 7672, Section 2.2: TLS is mandatory
		}
		return err
	}
	defer c.Close()
	if err := c.SendMail("a@client.example", []string{"b@example.com"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		return err
	}
	return c.Quit()
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
			s := newSMTPServer(t, tc.cert)
			err := deliver(t, s.addr, &Policy{Host: "mx.example.com", Records: tc.recs})
			s.mu.Lock()
			n := len(s.msgs)
			s.mu.Unlock()
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
