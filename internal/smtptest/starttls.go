package smtptest

// A real SMTP server for the TLS-policy tests: a github.com/emersion/go-smtp
// server that offers STARTTLS with a given certificate (or no STARTTLS at
// all) and records the messages it accepts, and a client that delivers over
// STARTTLS with a given *tls.Config.

import (
	"context"
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

	known func(rcpt string) bool // nil: every recipient (set before it serves)

	mu      sync.Mutex
	msgs    []string
	overTLS []bool
}

// StartMail starts a MailServer greeting as domain. A nil cert: no STARTTLS.
func StartMail(t testing.TB, domain string, cert *tls.Certificate) *MailServer {
	t.Helper()
	var cfg *tls.Config
	if cert != nil {
		cfg = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	return StartMailTLS(t, domain, cfg)
}

// StartMailTLS starts a MailServer greeting as domain whose STARTTLS uses
// cfg (e.g. with GetCertificate to see the client's SNI); nil: no STARTTLS.
//
// It stops when the test ends: the accepted sockets are closed first, then
// the server is shut down, waiting for every session. go-smtp v0.26's
// Server.Close reads a session's socket under a lock its STARTTLS handler
// does not take when it swaps in the TLS socket, a data race under -race.
func StartMailTLS(t testing.TB, domain string, cfg *tls.Config) *MailServer {
	t.Helper()
	return StartMailRcpt(t, domain, cfg, nil)
}

// StartMailRcpt starts a MailServer as StartMailTLS does whose RCPT TO takes
// only the recipients known reports true for and answers the others "550
// 5.1.1", as a server that knows its mailboxes; nil takes every recipient,
// as a backup MX that cannot check them does.
func StartMailRcpt(t testing.TB, domain string, cfg *tls.Config, known func(rcpt string) bool) *MailServer {
	t.Helper()
	s := &MailServer{known: known}
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		_, overTLS := c.TLSConnectionState()
		return session{s, overTLS}, nil
	}))
	srv.Domain = domain
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	srv.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	srv.TLSConfig = cfg
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &trackingListener{Listener: l}
	s.Addr = ln.Addr().String()
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(ln) }()
	t.Cleanup(func() {
		ln.closeAll()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	})
	return s
}

// trackingListener remembers the sockets it accepted, to close them.
type trackingListener struct {
	net.Listener
	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func (l *trackingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		_ = c.Close()
	} else {
		l.conns = append(l.conns, c)
	}
	return c, nil
}

// closeAll closes the listener and every socket it accepted.
func (l *trackingListener) closeAll() {
	_ = l.Listener.Close()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, c := range l.conns {
		_ = c.Close()
	}
}

// Messages gives the messages accepted so far, in order.
func (s *MailServer) Messages() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.msgs...)
}

// OverTLS says, for each message of Messages, whether it came over TLS.
func (s *MailServer) OverTLS() []bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]bool(nil), s.overTLS...)
}

type session struct {
	s       *MailServer
	overTLS bool // the session began after STARTTLS
}

func (session) Reset()                               {}
func (session) Logout() error                        { return nil }
func (session) Mail(string, *smtp.MailOptions) error { return nil }
func (ss session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if ss.s.known != nil && !ss.s.known(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user"}
	}
	return nil
}
func (ss session) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.msgs = append(ss.s.msgs, string(b))
	ss.s.overTLS = append(ss.s.overTLS, ss.overTLS)
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
