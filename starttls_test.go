package mxroute

import (
	"bufio"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/internal/dnstest"
	"github.com/mxroute-go/mxroute/internal/smtptest"
	"github.com/mxroute-go/mxroute/internal/testpki"
	"github.com/mxroute-go/mxroute/mtasts"
)

// smtpScript is the server side of an SMTP session as a test scripts it
// (smtptest.Converse): its replies to EHLO, HELO and STARTTLS, what it does
// after a 220 to STARTTLS, and the commands it got, in order.
type smtpScript struct {
	ehlo     string                             // the reply to EHLO; "": ESMTP with STARTTLS
	helo     string                             // the reply to HELO; "": 250
	starttls string                             // the reply to STARTTLS; "": 220
	upgrade  func(c net.Conn, br *bufio.Reader) // after a 220 to STARTTLS; nil: hold (a stalled handshake)
	wait     map[string]<-chan struct{}         // a command ("EHLO", "STARTTLS") whose reply waits for the channel

	stop chan struct{}    // closed when the test ends, before the server stops: no reply waits then
	srv  *smtptest.Server // the server serve started

	mu   sync.Mutex
	cmds []string
}

func (s *smtpScript) serve(t testing.TB) string {
	up := s.upgrade
	if up == nil {
		up = hold
	}
	s.stop = make(chan struct{})
	s.srv = smtptest.Serve(t, smtptest.Converse("220 mx.test ESMTP", s.answer, up))
	t.Cleanup(func() { close(s.stop) }) // runs before the server's Close, which waits for the answers
	return s.srv.Addr
}

// left waits until the server has seen the client close n connections, so
// that commands holds all they carried: the Dialer writes its QUIT and
// closes without awaiting the 221 (dial.go, quitTimeout), so Dial can
// return before the server has read the QUIT.
func (s *smtpScript) left(t *testing.T, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	require.True(t, s.srv.WaitClosed(ctx, n), "the client closes its %d connection(s) to the script", n)
}

// closedBy is how many of the dials (as testNet records them) went to addr
// and were closed by the client: all of them, but the Conn's when addr won.
func closedBy(dials []string, addr string, won bool) int {
	n := 0
	for _, d := range dials {
		if strings.HasSuffix(d, " "+addr) {
			n++
		}
	}
	if won {
		n--
	}
	return n
}

func (s *smtpScript) answer(cmd string) string {
	verb := strings.ToUpper(strings.Fields(cmd + " x")[0])
	s.mu.Lock()
	s.cmds = append(s.cmds, cmd)
	wait := s.wait[verb]
	s.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-s.stop:
			return ""
		}
	}
	switch verb {
	case "EHLO":
		return cmp.Or(s.ehlo, "250-mx.test\r\n250-PIPELINING\r\n250 STARTTLS\r\n")
	case "HELO":
		return cmp.Or(s.helo, "250 mx.test\r\n")
	case "STARTTLS":
		return cmp.Or(s.starttls, "220 2.0.0 go ahead\r\n")
	case "QUIT":
		return "221 2.0.0 bye\r\n"
	}
	return "250 2.0.0 ok\r\n"
}

func (s *smtpScript) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// hold reads until the client leaves: a handshake that never comes.
func hold(_ net.Conn, br *bufio.Reader) { _, _ = io.Copy(io.Discard, br) }

// breakTLS answers the ClientHello with what is no TLS.
func breakTLS(c net.Conn, br *bufio.Reader) {
	if _, err := br.ReadByte(); err != nil {
		return
	}
	_, _ = io.WriteString(c, "500 5.5.1 this is not TLS\r\n")
	hold(c, br)
}

// serveTLS runs a real TLS server handshake with cert after the 220, then
// reads until the client leaves.
func serveTLS(cert tls.Certificate) func(c net.Conn, br *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		tc := tls.Server(readerConn{c, br}, &tls.Config{Certificates: []tls.Certificate{cert}})
		if tc.Handshake() == nil {
			_, _ = io.Copy(io.Discard, tc)
		}
	}
}

// readerConn is a connection read through a reader that may hold bytes
// already received.
type readerConn struct {
	net.Conn
	r io.Reader
}

func (c readerConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// never is a reply that never comes (until the test ends).
var never = make(<-chan struct{})

// mailServer starts a go-smtp server with cert (nil: no STARTTLS) and
// returns its address.
func mailServer(cert *testpki.Cert, issuers ...*testpki.Cert) func(t testing.TB) string {
	return func(t testing.TB) string {
		if cert == nil {
			return smtptest.StartMail(t, "mx.test", nil).Addr
		}
		c := cert.TLS(issuers...)
		return smtptest.StartMail(t, "mx.test", &c).Addr
	}
}

// startTLSTest is dialTest with StartTLS: the zone's documentation
// addresses mapped to loopback servers, the policy nil (opportunistic).
func startTLSTest(t *testing.T) (*Dialer, *testNet) {
	d, n := dialTest(t)
	d.StartTLS, d.Hello = true, "client.test"
	d.HelloTimeout, d.StartTLSTimeout = 10*time.Second, 10*time.Second
	return d, n
}

// deliver sends one message over c with go-smtp's plain client, as an MTA
// does with the Conn: no STARTTLS of its own.
func deliver(t *testing.T, c *Conn) {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second)) // not on a connection without deadlines
	cl := smtp.NewClient(c)
	defer cl.Close()
	require.NoError(t, cl.Hello("client.test"))
	require.NoError(t, cl.SendMail("a@client.test", []string{"b@a.test"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")))
	require.NoError(t, cl.Quit())
}

// failures lists the attempts' failures and RFC 8460 results.
func failures(as []Attempt) (fs []Failure, rs []TLSResult) {
	for _, a := range as {
		fs, rs = append(fs, a.Failure), append(rs, a.TLSResult)
	}
	return fs, rs
}

// TestStartTLSOpportunistic: with a nil policy (no MTA-STS, no DANE),
// STARTTLS when offered, any certificate, plaintext when it is not offered
// or is refused, a plaintext retry on the same address after a failed
// handshake (Postfix's "may"), HELO for a server that knows no EHLO.
func TestStartTLSOpportunistic(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	anyCert := ca.Issue(t, testpki.Template{CommonName: "not.the.mx", DNSNames: []string{"not.the.mx"}})
	tests := []struct {
		reason   string
		mx1      *smtpScript                 // MX 10, smtpScript, or
		server   func(t testing.TB) string   // MX 10, a real server
		winner   string                      // the Conn's host
		overTLS  bool                        // Conn.TLSState
		failures []Failure                   // the Conn's Attempts
		results  []TLSResult                 // their TLSResult
		dialed   []string                    // the addresses dialled
		cmds     []string                    // what the smtpScript MX 10 got before the Conn was handed over
		hello    string                      // Conn.HelloReply
		check    func(t *testing.T, c *Conn) // more
	}{
		{reason: "STARTTLS offered: TLS, whatever the certificate names",
			server: mailServer(anyCert), winner: "mx1.two.test", overTLS: true, failures: nil, results: nil,
			dialed: []string{"192.0.2.11"}, hello: "250-Hello client.test"},
		{reason: "STARTTLS not offered: plaintext",
			server: mailServer(nil), winner: "mx1.two.test", dialed: []string{"192.0.2.11"}},
		{reason: "454 to STARTTLS: plaintext on the same connection (Postfix: continue in plain-text mode)",
			mx1: &smtpScript{starttls: "454 4.7.0 TLS not available\r\n"}, winner: "mx1.two.test",
			dialed: []string{"192.0.2.11"}, cmds: []string{"EHLO client.test", "STARTTLS"}},
		{reason: "a failed handshake: the same address again, in plaintext (Postfix tls_retry_plain)",
			mx1: &smtpScript{upgrade: breakTLS}, winner: "mx1.two.test",
			failures: []Failure{FailTLS}, results: []TLSResult{dane.ValidationFailure},
			dialed: []string{"192.0.2.11", "192.0.2.11"},
			cmds:   []string{"EHLO client.test", "STARTTLS", "EHLO client.test"}},
		{reason: "500 to EHLO: HELO, plaintext",
			mx1: &smtpScript{ehlo: "500 5.5.1 unknown command\r\n"}, winner: "mx1.two.test", dialed: []string{"192.0.2.11"},
			cmds: []string{"EHLO client.test", "HELO client.test"}, hello: "250 mx.test"},
		{reason: "502 to EHLO: HELO, plaintext",
			mx1: &smtpScript{ehlo: "502 5.5.2 not implemented\r\n", helo: "250 old.mx.test\r\n"}, winner: "mx1.two.test",
			dialed: []string{"192.0.2.11"}, cmds: []string{"EHLO client.test", "HELO client.test"}, hello: "250 old.mx.test"},
		{reason: "421 to EHLO: QUIT, the next host (RFC 5321, Section 3.8)",
			mx1: &smtpScript{ehlo: "421 4.3.2 going away\r\n"}, winner: "mx2.two.test", overTLS: true, failures: []Failure{FailHello},
			results: []TLSResult{""}, dialed: []string{"192.0.2.11", "192.0.2.12"}, cmds: []string{"EHLO client.test", "QUIT"}},
		{reason: "EHLO and HELO refused: QUIT, the next host",
			mx1: &smtpScript{ehlo: "550 5.7.1 go away\r\n", helo: "550 5.7.1 go away\r\n"}, winner: "mx2.two.test", overTLS: true,
			failures: []Failure{FailHello}, results: []TLSResult{""}, dialed: []string{"192.0.2.11", "192.0.2.12"},
			cmds: []string{"EHLO client.test", "HELO client.test", "QUIT"}},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := startTLSTest(t)
			addr := tt.server
			if tt.mx1 != nil {
				addr = tt.mx1.serve
			}
			n.set("192.0.2.11:25", addr(t))
			n.set("192.0.2.12:25", mailServer(anyCert)(t))
			c, err := d.Dial(t.Context(), "two.test")
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, tt.winner, c.Target.Host)
			assert.Equal(t, tt.overTLS, c.TLSState != nil, "TLSState")
			fs, rs := failures(c.Attempts)
			assert.Equal(t, tt.failures, fs)
			assert.Equal(t, tt.results, rs)
			var dialed []string
			for _, call := range n.dialed() {
				dialed = append(dialed, strings.TrimSuffix(strings.TrimPrefix(call, "tcp4 "), ":25"))
			}
			assert.Equal(t, tt.dialed, dialed)
			if tt.mx1 != nil {
				tt.mx1.left(t, closedBy(n.dialed(), "192.0.2.11:25", tt.winner == "mx1.two.test"))
				assert.Equal(t, tt.cmds, tt.mx1.commands())
			}
			if tt.hello != "" {
				assert.True(t, strings.HasPrefix(c.HelloReply, tt.hello), "HelloReply %q", c.HelloReply)
			}
			assert.Nil(t, c.TLSCheck, "no policy asks for a report")
			assert.Empty(t, c.TLSResult)
			if tt.mx1 != nil && tt.winner == "mx1.two.test" {
				// Reading the Conn starts with the greeting again, and
				// the client's own EHLO reaches the server.
				got := make([]byte, len("220 mx.test ESMTP\r\n"))
				_, err := io.ReadFull(c, got)
				require.NoError(t, err)
				assert.Equal(t, "220 mx.test ESMTP\r\n", string(got))
				return
			}
			deliver(t, c)
		})
	}
}

// TestStartTLSSNI: a nil policy sends the MX host as SNI, as README says
// (it sent none before); a policy sends its own name.
func TestStartTLSSNI(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	cert := ca.Issue(t, testpki.Template{CommonName: "mx1.two.test", DNSNames: []string{"mx1.two.test"}}).TLS()
	sni := make(chan string, 1)
	srv := smtptest.StartMailTLS(t, "mx1.two.test", &tls.Config{GetCertificate: func(h *tls.ClientHelloInfo) (*tls.Certificate, error) {
		sni <- h.ServerName
		return &cert, nil
	}})
	d, n := startTLSTest(t)
	n.set("192.0.2.11:25", srv.Addr)
	c, err := d.Dial(t.Context(), "two.test")
	require.NoError(t, err)
	assert.Equal(t, "mx1.two.test", <-sni, "SNI is the MX host")
	require.NotNil(t, c.TLSState)
	assert.Equal(t, "mx1.two.test", c.TLSState.ServerName)
	deliver(t, c)
	assert.Equal(t, []bool{true}, srv.OverTLS(), "the message came over TLS")
}

// daneStartTLS is a.test with two MX hosts, each with a DANE-EE record for
// good's key, routed over the wire from a validating server (AD set), and
// a Dialer mapping their addresses to the test's servers.
func daneStartTLS(t *testing.T, good *testpki.Cert) (*Dialer, *testNet, *validatingServer) {
	s := &validatingServer{rrs: dnstest.RRs(
		"a.test. 300 IN MX 10 mx1.a.test.", "a.test. 300 IN MX 20 mx2.a.test.",
		"mx1.a.test. 300 IN A 192.0.2.1", "mx2.a.test. 300 IN A 192.0.2.2",
		tlsaFor(t, "mx1.a.test", good), tlsaFor(t, "mx2.a.test", good))}
	n := newTestNet()
	d := &Dialer{Router: daneRouter(t, s), DialContext: n.dial, StartTLS: true, Hello: "client.test",
		ConnectTimeout: 5 * time.Second, GreetingTimeout: 5 * time.Second, HelloTimeout: 5 * time.Second, StartTLSTimeout: time.Second}
	return d, n, s
}

// askedOnce checks that no DNS question was asked twice: failing over to
// the next host asks nothing again.
func askedOnce(t *testing.T, s *validatingServer) {
	t.Helper()
	seen := map[string]int{}
	for _, q := range s.questions() {
		seen[q]++
	}
	for q, k := range seen {
		assert.Equal(t, 1, k, "%s asked %d times", q, k)
	}
}

// TestStartTLSDANE: a host with usable TLSA records (RFC 7672, Section
// 2.2) gets an authenticated session or is passed over: STARTTLS not
// offered, refused, a failed handshake, a certificate no record matches;
// the next host is tried with no DNS asked again.
func TestStartTLSDANE(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	good := ca.Issue(t, testpki.Template{CommonName: "mx.a.test", DNSNames: []string{"mx1.a.test", "mx2.a.test"}})
	other := ca.Issue(t, testpki.Template{CommonName: "mx.a.test", DNSNames: []string{"mx1.a.test", "mx2.a.test"}})
	expired := ca.Issue(t, testpki.Template{CommonName: "mx1.a.test", NotBefore: time.Now().Add(-48 * time.Hour),
		NotAfter: time.Now().Add(-24 * time.Hour)})
	tests := []struct {
		reason  string
		mx1     *smtpScript
		server  func(t testing.TB) string
		winner  string
		result  TLSResult // MX 10's failure; "": MX 10 wins
		cmds    []string  // what the smtpScript MX 10 got
		expired bool      // the TLSA record is for the expired certificate
	}{
		{reason: "the record matches the key: an authenticated session", server: mailServer(good), winner: "mx1.a.test"},
		{reason: "DANE-EE ignores validity periods (RFC 7672, Section 3.1.1)", server: mailServer(expired), winner: "mx1.a.test", expired: true},
		{reason: "another key: certificate-not-trusted, MX 20", server: mailServer(other), winner: "mx2.a.test",
			result: dane.CertificateNotTrusted},
		{reason: "STARTTLS not offered: sent anyway, refused: starttls-not-supported, MX 20",
			mx1:    &smtpScript{ehlo: "250-mx.test\r\n250 PIPELINING\r\n", starttls: "502 5.5.1 unknown command\r\n"},
			winner: "mx2.a.test", result: dane.StartTLSNotSupported, cmds: []string{"EHLO client.test", "STARTTLS", "QUIT"}},
		{reason: "STARTTLS not offered, sent anyway and accepted: authenticated (a stripped EHLO reply is no downgrade)",
			mx1:    &smtpScript{ehlo: "250-mx.test\r\n250 PIPELINING\r\n", upgrade: serveTLS(good.TLS())},
			winner: "mx1.a.test", cmds: []string{"EHLO client.test", "STARTTLS"}},
		{reason: "454 to STARTTLS: starttls-not-supported, MX 20", mx1: &smtpScript{starttls: "454 4.7.0 TLS not available\r\n"},
			winner: "mx2.a.test", result: dane.StartTLSNotSupported, cmds: []string{"EHLO client.test", "STARTTLS", "QUIT"}},
		{reason: "a failed handshake: validation-failure, MX 20, no plaintext retry", mx1: &smtpScript{upgrade: breakTLS},
			winner: "mx2.a.test", result: dane.ValidationFailure, cmds: []string{"EHLO client.test", "STARTTLS"}},
		{reason: "a stalled handshake: validation-failure at StartTLSTimeout, MX 20", mx1: &smtpScript{},
			winner: "mx2.a.test", result: dane.ValidationFailure, cmds: []string{"EHLO client.test", "STARTTLS"}},
		{reason: "500 to EHLO: no HELO when TLS is required, MX 20", mx1: &smtpScript{ehlo: "500 5.5.1 unknown command\r\n"},
			winner: "mx2.a.test", result: dane.StartTLSNotSupported, cmds: []string{"EHLO client.test", "QUIT"}},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			leaf := good
			if tt.expired {
				leaf = expired
			}
			d, n, s := daneStartTLS(t, leaf)
			addr := tt.server
			if tt.mx1 != nil {
				addr = tt.mx1.serve
			}
			n.set("192.0.2.1:25", addr(t))
			n.set("192.0.2.2:25", mailServer(leaf)(t))
			c, err := d.Dial(t.Context(), "a.test")
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, tt.winner, c.Target.Host)
			require.NotNil(t, c.TLSState, "DANE: never plaintext")
			assert.Equal(t, TLSDANE, c.TLS.Mode)
			assert.Equal(t, "mx"+tt.winner[2:3]+".a.test", c.TLSState.ServerName, "SNI: the TLSA base domain")
			if tt.result == "" {
				assert.Empty(t, c.Attempts)
			} else {
				require.Len(t, c.Attempts, 1)
				a := c.Attempts[0]
				assert.Equal(t, FailTLS, a.Failure, "%v", a.Err)
				assert.Equal(t, tt.result, a.TLSResult)
				assert.ErrorIs(t, a.Err, tt.result, "Err matches its result")
				assert.Len(t, n.dialed(), 2, "MX 10 once, no plaintext retry, then MX 20")
				if tt.result == dane.CertificateNotTrusted {
					require.NotNil(t, a.TLSState, "a certificate the policy rejects: the session's certificates are kept")
					assert.Equal(t, other.Cert.Raw, a.TLSState.PeerCertificates[0].Raw)
				} else {
					assert.Nil(t, a.TLSState, "no handshake, or none that finished: no state")
				}
			}
			if tt.mx1 != nil {
				tt.mx1.left(t, closedBy(n.dialed(), "192.0.2.1:25", tt.winner == "mx1.a.test"))
				assert.Equal(t, tt.cmds, tt.mx1.commands())
			}
			askedOnce(t, s)
			if tt.mx1 == nil || tt.winner != "mx1.a.test" {
				deliver(t, c)
			}
		})
	}
}

// TestStartTLSNoSession: when no host gets the TLS its policy requires,
// Dial defers with Postfix's 4.7.x, wrapping ErrNoConnection, carrying
// every attempt and, as its Cause, the first TLS failure.
func TestStartTLSNoSession(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	good := ca.Issue(t, testpki.Template{CommonName: "mx.a.test"})
	other := ca.Issue(t, testpki.Template{CommonName: "mx.a.test"})
	tests := []struct {
		reason   string
		mx1, mx2 func(t testing.TB) string
		status   string
		result   TLSResult
		failures []Failure
	}{
		{"no record matches either key: 4.7.5, Postfix's \"Server certificate not verified\"",
			mailServer(other), mailServer(other), "4.7.5", dane.CertificateNotTrusted, []Failure{FailTLS, FailTLS}},
		{"STARTTLS not offered, then a refused connect: 4.7.4, \"TLS is required, but was not offered\"",
			(&smtpScript{ehlo: "250 mx.test\r\n", starttls: "502 5.5.1 no\r\n"}).serve, smtptest.ClosedPort,
			"4.7.4", dane.StartTLSNotSupported, []Failure{FailTLS, FailRefused}},
		{"offered and refused, then a refused connect: 4.7.0, Postfix passes on the 454's status",
			(&smtpScript{starttls: "454 4.7.0 not now\r\n"}).serve, smtptest.ClosedPort,
			"4.7.0", dane.StartTLSNotSupported, []Failure{FailTLS, FailRefused}},
		{"a refused connect, then a failed handshake: 4.7.5, \"Cannot start TLS: handshake failure\"",
			smtptest.ClosedPort, (&smtpScript{upgrade: breakTLS}).serve,
			"4.7.5", dane.ValidationFailure, []Failure{FailRefused, FailTLS}},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n, s := daneStartTLS(t, good)
			n.set("192.0.2.1:25", tt.mx1(t))
			n.set("192.0.2.2:25", tt.mx2(t))
			c, err := d.Dial(t.Context(), "a.test")
			require.Nil(t, c)
			require.ErrorIs(t, err, ErrNoConnection)
			assert.ErrorIs(t, err, tt.result, "the RFC 8460 result is reachable from the error")
			assert.True(t, IsTemporary(err), "defer, never bounce")
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.status, e.Status)
			fs, _ := failures(e.Attempts)
			assert.Equal(t, tt.failures, fs)
			assert.Contains(t, err.Error(), string(tt.result))
			assert.Zero(t, n.stillOpen())
			askedOnce(t, s)
		})
	}
}

// mtastsStartTLS is a.test with two MX hosts under an MTA-STS policy in
// mode (both hosts match), certificates checked against ca.
func mtastsStartTLS(t *testing.T, mode string, ca *testpki.Cert) (*Dialer, *testNet, *validatingServer) {
	ph := newPolicyHost(t, stsPolicy(mode, "*.a.test"))
	s := &validatingServer{rrs: dnstest.RRs("a.test. 300 IN MX 10 mx1.a.test.", "a.test. 300 IN MX 20 mx2.a.test.",
		"mx1.a.test. 300 IN A 192.0.2.1", "mx2.a.test. 300 IN A 192.0.2.2",
		`_mta-sts.a.test. 300 IN TXT "v=STSv1; id=7"`), insecure: []string{"test."}}
	r := stsRouter(t, s, ph)
	r.RootCAs = testpki.Pool(ca)
	n := newTestNet()
	return &Dialer{Router: r, DialContext: n.dial, StartTLS: true, Hello: "client.test"}, n, s
}

// TestStartTLSMTASTS: under an enforced policy a host must present a
// WebPKI certificate for its name (RFC 8461, Section 4.2) or is passed
// over; under testing the session is handed over whatever the check
// finds, and the finding is kept for a report (RFC 8461, Section 5).
func TestStartTLSMTASTS(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	mx := func(names ...string) *testpki.Cert {
		return ca.Issue(t, testpki.Template{CommonName: names[0], DNSNames: names})
	}
	good := mx("mx1.a.test", "mx2.a.test")
	expired := ca.Issue(t, testpki.Template{CommonName: "mx1.a.test", DNSNames: []string{"mx1.a.test"},
		NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)})
	untrusted := testpki.NewRoot(t, "another CA").Issue(t, testpki.Template{CommonName: "mx1.a.test", DNSNames: []string{"mx1.a.test"}})
	tests := []struct {
		reason  string
		mode    string
		mx1     func(t testing.TB) string
		winner  string
		overTLS bool
		result  TLSResult // enforce: MX 10's FailTLS; testing: Conn.TLSResult
	}{
		{"enforce, the MX name from a trusted CA: verified", "enforce", mailServer(good), "mx1.a.test", true, ""},
		{"enforce, another name: certificate-host-mismatch, MX 20", "enforce", mailServer(mx("mx9.a.test")), "mx2.a.test", true,
			mtasts.CertificateHostMismatch},
		{"enforce, expired: certificate-expired, MX 20", "enforce", mailServer(expired), "mx2.a.test", true, mtasts.CertificateExpired},
		{"enforce, an unknown CA: certificate-not-trusted, MX 20", "enforce", mailServer(untrusted), "mx2.a.test", true,
			mtasts.CertificateNotTrusted},
		{"enforce, no STARTTLS: starttls-not-supported, MX 20", "enforce", mailServer(nil), "mx2.a.test", true,
			mtasts.StartTLSNotSupported},
		{"testing, the MX name: nothing to report", "testing", mailServer(good), "mx1.a.test", true, ""},
		{"testing, another name: the TLS session, the mismatch kept", "testing", mailServer(mx("mx9.a.test")), "mx1.a.test", true,
			mtasts.CertificateHostMismatch},
		{"testing, an unknown CA: the TLS session, kept", "testing", mailServer(untrusted), "mx1.a.test", true,
			mtasts.CertificateNotTrusted},
		{"testing, no STARTTLS: plaintext, starttls-not-supported kept", "testing", mailServer(nil), "mx1.a.test", false,
			mtasts.StartTLSNotSupported},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n, s := mtastsStartTLS(t, tt.mode, ca)
			n.set("192.0.2.1:25", tt.mx1(t))
			n.set("192.0.2.2:25", mailServer(good)(t))
			c, err := d.Dial(t.Context(), "a.test")
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, tt.winner, c.Target.Host)
			assert.Equal(t, tt.overTLS, c.TLSState != nil)
			assert.Equal(t, "7", c.TLS.MTASTS.ID)
			switch {
			case tt.mode == "enforce" && tt.result != "":
				require.Len(t, c.Attempts, 1)
				assert.Equal(t, FailTLS, c.Attempts[0].Failure)
				assert.Equal(t, tt.result, c.Attempts[0].TLSResult, "%v", c.Attempts[0].Err)
				assert.Empty(t, c.TLSResult)
			case tt.mode == "testing":
				assert.Empty(t, c.Attempts, "testing never blocks delivery")
				assert.Equal(t, tt.result, c.TLSResult)
				if tt.result != "" {
					assert.ErrorIs(t, c.TLSCheck, tt.result)
					var me *mtasts.Error
					assert.ErrorAs(t, c.TLSCheck, &me)
				} else {
					assert.NoError(t, c.TLSCheck)
				}
			default:
				assert.Empty(t, c.Attempts)
				assert.Empty(t, c.TLSResult)
			}
			askedOnce(t, s)
			deliver(t, c)
		})
	}
}

// trickle writes an endless EHLO reply a byte at a time.
func trickle(c *net.TCPConn) bool {
	if _, err := io.WriteString(c, "220 mx.test ESMTP\r\n"); err != nil {
		return true
	}
	br := bufio.NewReader(c)
	if _, err := br.ReadString('\n'); err != nil {
		return true
	}
	line := "250-a line that never ends in time\r\n"
	for i := 0; ; i++ {
		if _, err := io.WriteString(c, line[i%len(line):i%len(line)+1]); err != nil {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// endless writes "250-" lines after the EHLO as fast as they go.
func endless(c *net.TCPConn) bool {
	if _, err := io.WriteString(c, "220 mx.test ESMTP\r\n"); err != nil {
		return true
	}
	if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
		return true
	}
	for {
		if _, err := io.WriteString(c, "250-AN-EXTENSION-THAT-NEVER-ENDS\r\n"); err != nil {
			return false
		}
	}
}

// TestStartTLSBounded: a hostile server costs at most HelloTimeout or
// StartTLSTimeout, or the 64 KiB reply limit, then the next host is
// tried; a stalled opportunistic handshake is retried in plaintext.
func TestStartTLSBounded(t *testing.T) {
	tests := []struct {
		reason   string
		mx1      func(t testing.TB) string
		winner   string
		failures []Failure
	}{
		{"an EHLO reply trickled a byte at a time: reply-timeout", serve(trickle), "mx2.two.test", []Failure{FailReplyTimeout}},
		{"endless 250- lines: malformed at 64 KiB", serve(endless), "mx2.two.test", []Failure{FailMalformed}},
		{"no reply to EHLO: reply-timeout", func(t testing.TB) string {
			return (&smtpScript{wait: map[string]<-chan struct{}{"EHLO": never}}).serve(t)
		}, "mx2.two.test", []Failure{FailReplyTimeout}},
		{"no reply to STARTTLS: reply-timeout", func(t testing.TB) string {
			return (&smtpScript{wait: map[string]<-chan struct{}{"STARTTLS": never}}).serve(t)
		}, "mx2.two.test", []Failure{FailReplyTimeout}},
		{"a stalled handshake: tls at StartTLSTimeout, then MX 10 again in plaintext", (&smtpScript{}).serve,
			"mx1.two.test", []Failure{FailTLS}},
		{"closed after the EHLO: dropped", serve(smtptest.Converse("220 mx.test", func(string) string { return "" }, nil)),
			"mx2.two.test", []Failure{FailDropped}},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := startTLSTest(t)
			d.HelloTimeout, d.StartTLSTimeout = 300*time.Millisecond, 300*time.Millisecond
			n.set("192.0.2.11:25", tt.mx1(t))
			n.set("192.0.2.12:25", mailServer(nil)(t))
			c, err := d.Dial(t.Context(), "two.test")
			require.NoError(t, err)
			defer quit(t, c)
			assert.Equal(t, tt.winner, c.Target.Host)
			fs, _ := failures(c.Attempts)
			assert.Equal(t, tt.failures, fs, "%v", c.Attempts)
			assert.Equal(t, 1, n.stillOpen(), "only the Conn is open")
		})
	}
}

// TestStartTLSContext: ctx ending during EHLO or the handshake stops the
// attempt at once; the error answers errors.Is(err, ctx.Err()).
func TestStartTLSContext(t *testing.T) {
	for _, tt := range []struct {
		reason string
		mx     func(t testing.TB) *smtpScript
	}{
		{"waiting for the EHLO reply", func(t testing.TB) *smtpScript {
			return &smtpScript{wait: map[string]<-chan struct{}{"EHLO": never}}
		}},
		{"in a stalled handshake", func(testing.TB) *smtpScript { return &smtpScript{} }},
	} {
		for _, nodl := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s, deadlines unsupported %v", tt.reason, nodl), func(t *testing.T) {
				d, n := startTLSTest(t)
				d.HelloTimeout, d.StartTLSTimeout = time.Minute, time.Minute
				if nodl {
					d.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
						c, err := n.dial(ctx, network, address)
						if err != nil {
							return nil, err
						}
						return noDeadlines{c}, nil
					}
				}
				n.set("192.0.2.1:25", tt.mx(t).serve(t))
				ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
				defer cancel()
				c, err := d.Dial(ctx, "one.test")
				require.Nil(t, c)
				require.ErrorIs(t, err, context.DeadlineExceeded)
				require.ErrorIs(t, err, ErrNoConnection)
				var e *Error
				require.ErrorAs(t, err, &e)
				require.Len(t, e.Attempts, 1)
				assert.Equal(t, FailCancelled, e.Attempts[0].Failure)
				assert.Equal(t, "220 mx.test ESMTP", e.Attempts[0].Reply, "the greeting it gave")
				assert.Zero(t, n.stillOpen())
			})
		}
	}
}

// TestStartTLSNoDeadlines: on a connection whose deadlines cannot be set,
// HelloTimeout closes it.
func TestStartTLSNoDeadlines(t *testing.T) {
	d, n := startTLSTest(t)
	d.DialContext = func(ctx context.Context, network, address string) (net.Conn, error) {
		c, err := n.dial(ctx, network, address)
		if err != nil {
			return nil, err
		}
		return noDeadlines{c}, nil
	}
	d.HelloTimeout = 100 * time.Millisecond
	n.set("192.0.2.11:25", (&smtpScript{wait: map[string]<-chan struct{}{"EHLO": never}}).serve(t))
	ca := testpki.NewRoot(t, "CA")
	n.set("192.0.2.12:25", mailServer(ca.Issue(t, testpki.Template{CommonName: "mx2.two.test"}))(t))
	c, err := d.Dial(t.Context(), "two.test")
	require.NoError(t, err)
	defer c.Close()
	require.Len(t, c.Attempts, 1)
	assert.Equal(t, FailReplyTimeout, c.Attempts[0].Failure, "%v", c.Attempts[0].Err)
	assert.NotNil(t, c.TLSState)
	assert.Equal(t, 1, n.stillOpen())
	deliver(t, c)
}

// TestStartTLSStaggerKeepsTurn: with Stagger, an attempt that has greeted
// keeps its turn through EHLO and TLS: MX 20 is not dialled while MX 10
// takes 300 ms to answer EHLO.
func TestStartTLSStaggerKeepsTurn(t *testing.T) {
	d, n := startTLSTest(t)
	d.Stagger = 20 * time.Millisecond
	slow := make(chan struct{})
	time.AfterFunc(300*time.Millisecond, func() { close(slow) })
	n.set("192.0.2.11:25", (&smtpScript{ehlo: "250 mx.test\r\n", wait: map[string]<-chan struct{}{"EHLO": slow}}).serve(t))
	n.set("192.0.2.12:25", mailServer(nil)(t))
	c, err := d.Dial(t.Context(), "two.test")
	require.NoError(t, err)
	defer quit(t, c)
	assert.Equal(t, "mx1.two.test", c.Target.Host)
	assert.Equal(t, []string{"tcp4 192.0.2.11:25"}, n.dialed(), "MX 20 waits for MX 10 to fail")
}

// TestStartTLSHello: the EHLO argument, RFC 5321, Section 4.1.1.1: a
// fully qualified name or an address literal; the host name when it is
// one, the local address otherwise; anything else defers with ErrBadHello
// before any connection.
func TestStartTLSHello(t *testing.T) {
	tests := []struct {
		reason   string
		hello    string
		hostname string
		want     string // the EHLO command; "": ErrBadHello
	}{
		{"Hello as given", "relay.client.test", "ignored.example", "EHLO relay.client.test"},
		{"a trailing dot and upper case are normalised", "Relay.Client.Test.", "", "EHLO relay.client.test"},
		{"an IPv4 address literal", "[192.0.2.99]", "", "EHLO [192.0.2.99]"},
		{"an IPv6 address literal", "[IPv6:2001:db8::99]", "", "EHLO [IPv6:2001:db8::99]"},
		{"\"\": a fully qualified host name", "", "box.client.test", "EHLO box.client.test"},
		{"\"\": a short host name gives the local address literal", "", "box", "EHLO [127.0.0.1]"},
		{"a name that is not fully qualified", "localhost", "", ""},
		{"an address without brackets", "192.0.2.1", "", ""},
		{"not a name", "relay client", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			defer func(f func() (string, error)) { osHostname = f }(osHostname)
			osHostname = func() (string, error) { return tt.hostname, nil }
			d, n := startTLSTest(t)
			d.Hello = tt.hello
			mx := &smtpScript{ehlo: "250 mx.test\r\n"}
			n.set("192.0.2.1:25", mx.serve(t))
			c, err := d.Dial(t.Context(), "one.test")
			if tt.want == "" {
				require.ErrorIs(t, err, ErrBadHello)
				assert.True(t, IsTemporary(err), "a configuration error defers")
				var e *Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, "4.3.5", e.Status)
				assert.Contains(t, err.Error(), fmt.Sprintf("%q", tt.hello))
				assert.Empty(t, n.dialed())
				return
			}
			require.NoError(t, err)
			defer c.Close()
			assert.Equal(t, tt.want, mx.commands()[0])
		})
	}
}

// TestStartTLSTrace: the session's decisions are steps of their own, in
// order, the failing ones with the error that carries their RFC 8460
// result.
func TestStartTLSTrace(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	good := ca.Issue(t, testpki.Template{CommonName: "mx.a.test"})
	other := ca.Issue(t, testpki.Template{CommonName: "mx.a.test"})
	d, n, _ := daneStartTLS(t, good)
	n.set("192.0.2.1:25", mailServer(other)(t))
	n.set("192.0.2.2:25", mailServer(good)(t))
	var mu sync.Mutex
	var got []string
	var tlsErr error
	d.Router.Trace = func(_ context.Context, e Event) {
		switch e.Step {
		case StepConnect, StepConnectFailed, StepGreeted, StepNoConnection, StepEHLO, StepStartTLS, StepTLS:
		default:
			return
		}
		mu.Lock()
		defer mu.Unlock()
		got = append(got, fmt.Sprintf("%s %d %s", e.Step, e.Count, e.Host))
		assert.NotEmpty(t, e.Message)
		if e.Step == StepTLS && e.Count == 1 {
			tlsErr = e.Err
			assert.Equal(t, "RFC 7672, Section 3", e.Rule)
		}
	}
	c, err := d.Dial(t.Context(), "a.test")
	require.NoError(t, err)
	quit(t, c)
	assert.Equal(t, []string{
		"connect 1 mx1.a.test", "ehlo 1 mx1.a.test", "starttls 1 mx1.a.test", "tls 1 mx1.a.test", "connect-failed 1 mx1.a.test",
		"connect 2 mx2.a.test", "ehlo 2 mx2.a.test", "starttls 2 mx2.a.test", "tls 2 mx2.a.test", "greeted 2 mx2.a.test",
	}, got)
	assert.ErrorIs(t, tlsErr, dane.CertificateNotTrusted)
	assert.Equal(t, "ehlo", StepEHLO.String())
	assert.Equal(t, "starttls", StepStartTLS.String())
	assert.Equal(t, "tls", StepTLS.String())
}

// TestStartTLSOff: without StartTLS nothing is sent after the greeting.
func TestStartTLSOff(t *testing.T) {
	d, n := dialTest(t)
	mx := &smtpScript{}
	n.set("192.0.2.1:25", mx.serve(t))
	c, err := d.Dial(t.Context(), "one.test")
	require.NoError(t, err)
	assert.Nil(t, c.TLSState)
	assert.Empty(t, c.HelloReply)
	require.NoError(t, c.Close())
	mx.left(t, 1)
	assert.Empty(t, mx.commands())
}

// TestTLSResultErrors: the RFC 8460 result of a check error.
func TestTLSResultErrors(t *testing.T) {
	assert.Equal(t, dane.CertificateExpired, resultOf(fmt.Errorf("x: %w", &dane.Error{Result: dane.CertificateExpired})))
	assert.Equal(t, mtasts.CertificateHostMismatch, resultOf(&mtasts.Error{Result: mtasts.CertificateHostMismatch}))
	assert.Equal(t, dane.ValidationFailure, resultOf(errors.New("other")))
	assert.Equal(t, "hello-rejected", FailHello.String())
	assert.Equal(t, "reply-timeout", FailReplyTimeout.String())
	assert.Equal(t, "tls", FailTLS.String())
}

// TestStartTLSQuitOverTLS: a certificate the required policy rejects ends
// the session with a QUIT over the TLS it got, as RFC 3207, Section 4.1
// asks ("it SHOULD issue an SMTP QUIT command immediately after the TLS
// negotiation is complete"), and as Postfix does.
func TestStartTLSQuitOverTLS(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	good := ca.Issue(t, testpki.Template{CommonName: "mx.a.test"})
	other := ca.Issue(t, testpki.Template{CommonName: "mx.a.test"}).TLS()
	said := make(chan string, 1)
	mx1 := &smtpScript{upgrade: func(c net.Conn, br *bufio.Reader) {
		tc := tls.Server(readerConn{c, br}, &tls.Config{Certificates: []tls.Certificate{other}})
		if err := tc.Handshake(); err != nil {
			said <- "handshake: " + err.Error()
			return
		}
		line, _ := bufio.NewReader(tc).ReadString('\n')
		said <- line
	}}
	d, n, _ := daneStartTLS(t, good)
	n.set("192.0.2.1:25", mx1.serve(t))
	n.set("192.0.2.2:25", mailServer(good)(t))
	c, err := d.Dial(t.Context(), "a.test")
	require.NoError(t, err)
	defer quit(t, c)
	assert.Equal(t, "mx2.a.test", c.Target.Host)
	assert.Equal(t, "QUIT\r\n", <-said)
}

// TestStartTLSTraceTesting: under MTA-STS testing the handshake's verdict
// says what the check found, passing or not: the check runs (for the
// report), so a passing certificate is no "certificate not verified".
func TestStartTLSTraceTesting(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	good := ca.Issue(t, testpki.Template{CommonName: "mx1.a.test", DNSNames: []string{"mx1.a.test", "mx2.a.test"}})
	wrong := ca.Issue(t, testpki.Template{CommonName: "mx9.a.test", DNSNames: []string{"mx9.a.test"}})
	for _, tt := range []struct {
		reason string
		cert   *testpki.Cert
		want   string
	}{
		{"a certificate that passes the check", good, "passes"},
		{"one that fails it", wrong, "fails, reported and not enforced"},
	} {
		t.Run(tt.reason, func(t *testing.T) {
			d, n, _ := mtastsStartTLS(t, "testing", ca)
			n.set("192.0.2.1:25", mailServer(tt.cert)(t))
			var mu sync.Mutex
			var verdict string
			d.Router.Trace = func(_ context.Context, e Event) {
				if e.Step == StepTLS {
					mu.Lock()
					verdict = e.Message
					mu.Unlock()
				}
			}
			c, err := d.Dial(t.Context(), "a.test")
			require.NoError(t, err)
			quit(t, c)
			mu.Lock()
			defer mu.Unlock()
			assert.Contains(t, verdict, tt.want)
			assert.NotContains(t, verdict, "not verified")
		})
	}
}
