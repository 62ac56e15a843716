package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/smtp"
	"net/textproto"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/mxroute-go/mxroute"
)

// One address probed. The library's Dialer does what an MTA does up to the
// session, for exactly this target (Dialer.DialTarget), under the host's
// TLS policy; what the server said before TLS is read from a tap on the
// socket, since a failed attempt keeps only its error; the session the
// Dialer hands over is driven by net/smtp, bounded here: EHLO over TLS
// (RFC 3207, Section 4.2: the extensions that count), the RCPT question,
// QUIT.

// Bounds of what one address may make probe read.
const (
	// maxTap is what a connection's tap keeps: the greeting and the replies
	// to EHLO and STARTTLS, each at most 64 KiB as the Dialer reads them.
	maxTap = 3*(64<<10) + 3*2048
	// maxSession is what the exchange after the Dialer may read: EHLO's
	// reply again, MAIL's, RCPT's, RSET's, QUIT's, all well under it.
	maxSession = 256 << 10
)

// addrProbe is what probing one target found.
type addrProbe struct {
	target mxroute.Target
	port   int
	// notDialled says why the address was not dialled ("": it was).
	notDialled string

	// The connect: its time, or its failure (refused, timeout,
	// unreachable, reset, cancelled) and why.
	connectTime time.Duration
	connectFail string
	connectErr  string

	// The first connection's greeting and reply to EHLO (or HELO), as far
	// as they came.
	greeting, ehlo reply
	// fail is what ended the first connection before its session, when
	// not the connect or TLS: a greeting or EHLO refused, malformed, not
	// in time, a drop, or the --timeout.
	fail *stageFail

	// TLS: the session's state (or, for a certificate the policy rejected,
	// the handshake's), and the failure of STARTTLS or the handshake or the
	// certificate check, with its RFC 8460 result type.
	tlsState  *tls.ConnectionState
	tlsFail   string
	tlsResult mxroute.TLSResult
	plainText bool // after a failed handshake, the session went on in plaintext on a new connection
	// check is why the session falls short of a policy that only reports
	// (MTA-STS testing, DANE without usable records): Conn.TLSCheck.
	check       string
	checkResult mxroute.TLSResult
	trusted     string // "" when the chain verifies to the run's roots, else why not

	// The session the Dialer handed over.
	session    bool         // the Dialer gave a session: a sender would deliver here
	ehloAgain  bool         // the session's own EHLO was answered: exts are its
	exts       []string     // the extensions of interest but STARTTLS, from the session's EHLO (over TLS, the ones that count)
	sessionErr string       // what failed in the exchange after the Dialer
	rcpt       *rcptAnswer  // with --rcpt
	ptr        ptrFacts     // reverse DNS
	dials      []dialRecord // each connection the Dialer made
}

// stageFail is a failure of the first connection's conversation.
type stageFail struct {
	stage   string // "greeting", "EHLO", "STARTTLS", "--timeout"
	failure mxroute.Failure
	detail  string
}

// rcptAnswer is the reply to RCPT TO (or to MAIL FROM, when that failed).
type rcptAnswer struct {
	cmd      string // "MAIL FROM:<>" or "RCPT TO:<...>"
	code     int    // 0: no reply
	text     string // the reply's text, lines joined by "\n"
	err      string // no reply: why
	accepted bool   // RCPT got 2xx
}

// dialRecord is one connection the Dialer asked for.
type dialRecord struct {
	elapsed time.Duration
	err     error
	tap     *tap // nil when the connect failed
}

// probeAddr probes one target of domain within ctx.
func (p *probeRun) probeAddr(ctx context.Context, domain string, t mxroute.Target, rcpt string) *addrProbe {
	a := &addrProbe{target: t, port: p.port}
	var mu sync.Mutex
	d := &mxroute.Dialer{
		Router:   &mxroute.Router{AllowLoopback: p.allowLoopback}, // DialTarget's check of the address, no trace
		Port:     p.port,
		StartTLS: true,
		Hello:    p.hello,
		// Every step within --probe-timeout; the whole within the
		// domain's --timeout (ctx).
		ConnectTimeout: p.probeTimeout, GreetingTimeout: p.probeTimeout,
		HelloTimeout: p.probeTimeout, StartTLSTimeout: p.probeTimeout,
		DialContext: func(ctx context.Context, _, address string) (net.Conn, error) {
			// "tcp": --connect-to may send an IPv6 target to an IPv4
			// lab server.
			start := time.Now()
			c, err := p.dial.DialContext(ctx, "tcp", address)
			rec := dialRecord{elapsed: time.Since(start), err: err}
			if err == nil {
				rec.tap = &tap{Conn: c}
				c = rec.tap
			}
			mu.Lock()
			a.dials = append(a.dials, rec)
			mu.Unlock()
			return c, err
		},
	}
	conn, err := d.DialTarget(ctx, domain, t)
	var attempts []mxroute.Attempt
	if err != nil {
		var me *mxroute.Error
		if !errors.As(err, &me) || errors.Is(err, mxroute.ErrNoAddress) {
			a.notDialled = "not dialled: " + err.Error()
			if me != nil && me.Detail != "" {
				a.notDialled = "not dialled: " + me.Detail
			}
			return a
		}
		attempts = me.Attempts
	} else {
		attempts = conn.Attempts
	}
	for _, rec := range a.dials {
		if rec.tap != nil {
			rec.tap.stop() // what follows is the session's, read by net/smtp
		}
	}
	a.first(attempts, conn)
	if conn != nil {
		a.session = true
		p.converse(ctx, conn, a, rcpt)
	}
	if a.tlsState != nil {
		a.trusted = p.verifyChain(a.tlsState)
	}
	a.ptr = p.lookupPTR(ctx, t.Addr)
	return a
}

// first reads what the first connection did: its connect, its replies
// before TLS, and how it ended (the failed attempt, or the Conn itself).
func (a *addrProbe) first(attempts []mxroute.Attempt, conn *mxroute.Conn) {
	var at *mxroute.Attempt
	if len(attempts) > 0 {
		at = &attempts[0]
	}
	if len(a.dials) == 0 || a.dials[0].err != nil {
		// No connection: the attempt says why (a cancelled one may never
		// have dialled).
		if len(a.dials) > 0 {
			a.connectTime = a.dials[0].elapsed
		}
		a.connectFail, a.connectErr = "cancelled", "the domain's --timeout ended first"
		if at == nil {
			return
		}
		switch at.Failure {
		case mxroute.FailRefused:
			a.connectFail = "refused"
		case mxroute.FailConnectTimeout:
			a.connectFail = "timeout"
		case mxroute.FailUnreachable:
			a.connectFail = "unreachable"
		case mxroute.FailDropped:
			a.connectFail = "reset"
		default:
			return
		}
		a.connectErr = cleanErr(at.Err)
		return
	}
	a.connectTime = a.dials[0].elapsed
	replies := parseReplies(a.dials[0].tap.bytes(), 2)
	if len(replies) > 0 {
		a.greeting = replies[0]
	}
	if a.greeting.code == 220 && len(replies) > 1 {
		a.ehlo = replies[1]
	}
	if at == nil {
		// The first connection is the session.
		a.tlsState = conn.TLSState
		if conn.TLSCheck != nil {
			a.check, a.checkResult = cleanErr(conn.TLSCheck), conn.TLSResult
		}
		return
	}
	switch at.Failure {
	case mxroute.FailTLS:
		a.tlsFail, a.tlsResult, a.tlsState = cleanErr(at.Err), at.TLSResult, at.TLSState
		a.plainText = conn != nil
		if conn != nil && conn.TLSCheck != nil {
			// A testing policy keeps the failed handshake's finding.
			a.check, a.checkResult = cleanErr(conn.TLSCheck), conn.TLSResult
		}
		return
	case mxroute.FailCancelled:
		a.fail = &stageFail{stage: "--timeout", failure: at.Failure, detail: "the domain's --timeout ended first"}
		return
	}
	stage := "STARTTLS"
	switch {
	case at.Failure == mxroute.FailGreetingTimeout || at.Failure == mxroute.FailRejected || a.greeting.code != 220:
		stage = "greeting"
	case at.Failure == mxroute.FailHello || a.ehlo.code == 0:
		stage = "EHLO"
	}
	a.fail = &stageFail{stage: stage, failure: at.Failure, detail: cleanErr(at.Err)}
}

// converse drives the session the Dialer handed over with net/smtp, each
// step within --probe-timeout and all within ctx: EHLO (over TLS the
// extensions that count, RFC 3207, Section 4.2), with --rcpt MAIL FROM:<>,
// RCPT TO: and RSET, then QUIT. It closes conn.
func (p *probeRun) converse(ctx context.Context, conn *mxroute.Conn, a *addrProbe, rcpt string) {
	defer conn.Close()
	st := &stepper{conn: conn, d: p.probeTimeout}
	defer context.AfterFunc(ctx, st.cancel)()
	st.next()
	c, err := smtp.NewClient(&limitConn{Conn: conn, left: maxSession}, a.target.Host)
	if err != nil {
		a.sessionErr = "greeting again: " + cleanErr(err)
		return
	}
	hello := p.hello
	if hello == "" {
		hello = addrLiteral(conn.LocalAddr())
	}
	st.next()
	if err := c.Hello(hello); err != nil {
		a.sessionErr = "EHLO: " + cleanErr(err)
		return
	}
	a.ehloAgain = true
	for _, ext := range extsOfInterest {
		if ok, param := c.Extension(ext); ok {
			a.exts = append(a.exts, strings.TrimSpace(ext+" "+param))
		}
	}
	if rcpt != "" {
		st.next()
		a.rcpt = ask(c.Text, "MAIL FROM:<>")
		if a.rcpt.code/100 == 2 {
			st.next()
			a.rcpt = ask(c.Text, "RCPT TO:<"+rcpt+">")
			a.rcpt.accepted = a.rcpt.code/100 == 2
			st.next()
			_ = ask(c.Text, "RSET")
		}
	}
	st.next()
	_ = c.Quit()
}

// ask sends one command and reads its reply, whatever its code.
func ask(t *textproto.Conn, cmd string) *rcptAnswer {
	ans := &rcptAnswer{cmd: cmd}
	id, err := t.Cmd("%s", cmd)
	if err != nil {
		ans.err = cleanErr(err)
		return ans
	}
	t.StartResponse(id)
	defer t.EndResponse(id)
	code, msg, err := t.ReadResponse(0)
	var te *textproto.Error
	if err != nil && !errors.As(err, &te) {
		ans.err = cleanErr(err)
		return ans
	}
	ans.code, ans.text = code, msg
	return ans
}

// extsOfInterest are the EHLO keywords probe shows and compares, but
// STARTTLS (RFC 1870 SIZE, RFC 2920 PIPELINING, RFC 6152 8BITMIME, RFC 6531
// SMTPUTF8, RFC 8689 REQUIRETLS).
var extsOfInterest = []string{"SIZE", "PIPELINING", "8BITMIME", "SMTPUTF8", "REQUIRETLS"}

// extensions are the extensions of interest the host offers: STARTTLS from
// the EHLO before TLS, the others from the session's own EHLO when it was
// answered (over TLS, RFC 3207, Section 4.2: the ones that count), else
// from the EHLO before TLS.
func (a *addrProbe) extensions() []string {
	var out []string
	if a.offered() {
		out = append(out, "STARTTLS")
	}
	if a.ehloAgain {
		return append(out, a.exts...)
	}
	for _, ext := range extsOfInterest {
		if v, ok := extParam(a.ehlo, ext); ok {
			out = append(out, strings.TrimSpace(ext+" "+v))
		}
	}
	return out
}

// addrLiteral is the address literal of a local address, the EHLO argument
// of a host without a fully qualified name.
func addrLiteral(a net.Addr) string {
	ip := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	if ta, ok := a.(*net.TCPAddr); ok {
		if ap := ta.AddrPort(); ap.Addr().IsValid() {
			ip = ap.Addr().Unmap().WithZone("")
		}
	}
	if ip.Is6() {
		return "[IPv6:" + ip.String() + "]"
	}
	return "[" + ip.String() + "]"
}

// verifyChain says why the presented chain does not verify to the run's
// roots (--ca-file and the system's), or "" when it does: for the reader,
// whatever the policy asked. Names are left to the checks.
func (p *probeRun) verifyChain(cs *tls.ConnectionState) string {
	if len(cs.PeerCertificates) == 0 {
		return "no certificate"
	}
	inter := x509.NewCertPool()
	for _, c := range cs.PeerCertificates[1:] {
		inter.AddCert(c)
	}
	_, err := cs.PeerCertificates[0].Verify(x509.VerifyOptions{Roots: p.roots, Intermediates: inter, CurrentTime: p.now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		return cleanErr(err)
	}
	return ""
}

// A stepper bounds each step of the session by d from its start, and all
// of them by a context: once cancel has put the deadline in the past, next
// leaves it there.
type stepper struct {
	mu   sync.Mutex
	conn net.Conn
	d    time.Duration
	over bool
}

func (s *stepper) next() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.over {
		_ = s.conn.SetDeadline(time.Now().Add(s.d))
	}
}

func (s *stepper) cancel() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.over = true
	_ = s.conn.SetDeadline(time.Unix(1, 0))
}

// errTooMuch ends a session that sends more than maxSession.
var errTooMuch = fmt.Errorf("the server sent more than %d bytes", maxSession)

// limitConn fails reads once left bytes are read.
type limitConn struct {
	net.Conn
	left int
}

func (c *limitConn) Read(b []byte) (int, error) {
	if c.left <= 0 {
		return 0, errTooMuch
	}
	if len(b) > c.left {
		b = b[:c.left]
	}
	n, err := c.Conn.Read(b)
	c.left -= n
	return n, err
}

// A tap keeps the first maxTap bytes read from a connection, until stop:
// what the server said before TLS, for an attempt that failed.
type tap struct {
	net.Conn
	mu      sync.Mutex
	got     []byte
	stopped bool
}

func (c *tap) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	c.mu.Lock()
	if room := maxTap - len(c.got); !c.stopped && room > 0 {
		c.got = append(c.got, b[:min(n, room)]...)
	}
	c.mu.Unlock()
	return n, err
}

func (c *tap) stop() {
	c.mu.Lock()
	c.stopped = true
	c.mu.Unlock()
}

func (c *tap) bytes() []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.got
}

// A reply is an SMTP reply as read from a tap.
type reply struct {
	code  int      // 0: none complete
	lines []string // each line, code included
}

// name is the first word after the code of a greeting's first line: the
// name the server gives itself (RFC 5321, Section 4.2: "220 " (Domain /
// address-literal)).
func (r reply) name() string {
	if len(r.lines) == 0 || len(r.lines[0]) < 4 {
		return ""
	}
	f := strings.Fields(r.lines[0][4:])
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// text is the reply's lines joined by "\n".
func (r reply) text() string { return strings.Join(r.lines, "\n") }

// has reports whether an EHLO reply lists keyword.
func (r reply) has(keyword string) bool {
	for _, line := range r.lines[min(1, len(r.lines)):] {
		if len(line) > 4 {
			if f := strings.Fields(line[4:]); len(f) > 0 && strings.EqualFold(f[0], keyword) {
				return true
			}
		}
	}
	return false
}

// Limits of a reply, as the Dialer reads one: a line of 2,048 bytes, a
// reply of 64 KiB. What breaks them is no reply the Dialer took.
const (
	maxReplyLine = 2048
	maxReply     = 64 << 10
)

// parseReplies reads up to n whole replies from what a server sent (RFC
// 5321, Section 4.2), stopping at the first line that is no reply line,
// breaks the limits, or is not complete.
func parseReplies(b []byte, n int) []reply {
	var out []reply
	var cur reply
	size := 0
	for len(out) < n {
		i := bytes.IndexByte(b, '\n')
		if i < 0 || i+1 > maxReplyLine || size+i+1 > maxReply {
			return out
		}
		size += i + 1
		line := strings.TrimSuffix(string(b[:i]), "\r")
		b = b[i+1:]
		if len(line) < 3 || line[0] < '2' || line[0] > '5' || !isDigit(line[1]) || !isDigit(line[2]) ||
			len(line) > 3 && line[3] != ' ' && line[3] != '-' {
			return out
		}
		code := int(line[0]-'0')*100 + int(line[1]-'0')*10 + int(line[2]-'0')
		if len(cur.lines) > 0 && code != cur.code {
			return out
		}
		cur.code = code
		cur.lines = append(cur.lines, line)
		if len(line) == 3 || line[3] == ' ' {
			out = append(out, cur)
			cur, size = reply{}, 0
		}
	}
	return out
}

// netNoise is what a socket error adds about the socket: the loopback
// addresses --connect-to mapped the target to, which would only mislead.
var netNoise = regexp.MustCompile(`(?:read|write|dial) tcp[46]? (?:[^ ]+->)?[^ ]+: `)

// resultNoise is an RFC 8460 result as an error's text gives it
// ("mxroute: TLS failure certificate-not-trusted: "): the output gives the
// result on its own.
var resultNoise = regexp.MustCompile(`(?:mxroute: )?TLS failure [a-z0-9-]+: `)

// cleanErr is err's text for people: without the socket's addresses, the
// RFC 8460 result and the library's package prefixes.
func cleanErr(err error) string {
	if err == nil {
		return ""
	}
	var ci x509.CertificateInvalidError
	if errors.As(err, &ci) && ci.Reason == x509.Expired {
		// Its text names the time of the check.
		return "a certificate of the chain is out of its validity period"
	}
	s := resultNoise.ReplaceAllString(err.Error(), "")
	s = netNoise.ReplaceAllString(s, "")
	return strings.NewReplacer("mxroute: ", "", "mtasts: ", "", "dane: ", "", "x509: ", "", "connect: ", "").Replace(s)
}
