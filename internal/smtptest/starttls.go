package smtptest

// A real SMTP server for the TLS-policy tests: a github.com/emersion/go-smtp
// server that offers STARTTLS with a given certificate (or no STARTTLS at
// all) and records the messages it accepts, and a client that delivers over
// STARTTLS with a given *tls.Config.

import (
	"crypto/tls"
	"io"
	"log"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
)

// MailServer is a running go-smtp server; it stops when the test ends.
type MailServer struct {
	Addr string // host:port on 127.0.0.1

	mu   sync.Mutex
	msgs []string
}

// StartMail starts a MailServer greeting as domain. A nil cert: no STARTTLS.
func StartMail(t testing.TB, domain string, cert *tls.Certificate) *MailServer {
	t.Helper()
	s := &MailServer{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return session{s}, nil }))
	srv.Domain = domain
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	if cert != nil {
		srv.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s.Addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close(); <-done })
	return s
}

// Messages gives the messages accepted so far, in order.
func (s *MailServer) Messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

type session struct{ s *MailServer }

func (session) Reset()                               {}
func (session) Logout() error                        { return nil }
func (session) Mail(string, *smtp.MailOptions) error { return nil }
func (session) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (ss session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, string(b))
	ss.s.mu.Unlock()
	return nil
}

// ErrNoStartTLS is what Deliver returns for a server that does not offer
// STARTTLS.
var ErrNoStartTLS = noStartTLS{}

type noStartTLS struct{}

func (noStartTLS) Error() string { return "smtptest: server does not offer STARTTLS" }

// Deliver sends one message to addr over STARTTLS with cfg, as an MTA whose
// policy requires TLS would: a server without STARTTLS gets nothing
// (ErrNoStartTLS); a failed handshake returns its error.
func Deliver(t testing.TB, addr string, cfg *tls.Config) error {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := smtp.NewClientStartTLS(conn, cfg)
	if err != nil {
		conn.Close()
		// go-smtp v0.26 says so by this message only.
		if strings.Contains(err.Error(), "doesn't support STARTTLS") {
			return ErrNoStartTLS
		}
		return err
	}
	defer c.Close()
	if err := c.SendMail("a@client.example", []string{"b@example.com"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		return err
	}
	return c.Quit()
}
