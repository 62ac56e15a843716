package mxroute

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"time"

	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/mtasts"
	"github.com/mxroute-go/mxroute/tlsrpt"
)

// TLSResult is an RFC 8460 (SMTP TLS Reporting, Section 4.3) result type,
// e.g. "certificate-host-mismatch": the same type as dane.Result and
// mtasts.Result, so compare it with their constants
// (dane.StartTLSNotSupported, mtasts.CertificateExpired, ...). "" is no
// failure.
type TLSResult = tlsrpt.Result

// Timeouts of the session after the greeting (Dialer.StartTLS).
const (
	defaultHelloTimeout    = 5 * time.Minute // Postfix smtp_helo_timeout
	defaultStartTLSTimeout = 5 * time.Minute // Postfix smtp_starttls_timeout
)

// The rules the session's trace events cite.
const (
	ruleEHLO          = "RFC 5321, Section 4.1.1.1"
	ruleReplyWait     = "RFC 5321, Section 4.5.3.2"
	ruleSTARTTLS      = "RFC 3207, Section 4"
	ruleTLSQuit       = "RFC 3207, Section 4.1"
	ruleDANERequired  = "RFC 7672, Section 2.2"
	ruleDANEVerify    = "RFC 7672, Section 3"
	ruleSTSRequired   = "RFC 8461, Section 5"
	ruleSTSVerify     = "RFC 8461, Section 4.2"
	ruleOpportunistic = "RFC 7435, Section 1.3"
)

// The statuses of a Dial that got no session because of TLS, as Postfix's
// smtp_proto.c gives them.
const (
	// "TLS is required, but was not offered by host %s"; RFC 3463: X.7.4
	// security features not supported.
	statusTLSNotOffered = "4.7.4"
	// "Cannot start TLS: handshake failure" and "Server certificate not
	// verified"; RFC 3463: X.7.5 cryptographic failure.
	statusTLSFailed = "4.7.5"
	// "TLS is required, but host %s refused to start TLS: %s": Postfix
	// passes on the status of the server's reply, 4.7.0 in the 454 of
	// Postfix's and Exim's own servers; RFC 3463: X.7.0 other or undefined
	// security status. Temporary here whatever the server said.
	statusTLSRefused = "4.7.0"
	// An unusable Dialer.Hello; RFC 3463: X.3.5 system incorrectly
	// configured.
	statusBadConfig = "4.3.5"
)

func (d *Dialer) helloTimeout() time.Duration {
	if d.HelloTimeout > 0 {
		return d.HelloTimeout
	}
	return defaultHelloTimeout
}

func (d *Dialer) startTLSTimeout() time.Duration {
	if d.StartTLSTimeout > 0 {
		return d.StartTLSTimeout
	}
	return defaultStartTLSTimeout
}

// osHostname is os.Hostname, replaced by tests.
var osHostname = os.Hostname

// helloName checks Dialer.Hello, or finds the default: os.Hostname() when
// it is fully qualified. It returns "" when each connection's local address
// is to be sent instead, and an error for a Hello that is no FQDN or address
// literal. RFC 5321, Section 4.1.1.1: the EHLO argument is "either a
// primary host name ... or, if the host has no name, an address literal".
func (d *Dialer) helloName(domain string) (string, *Error) {
	if h := d.Hello; h != "" {
		if _, ok := parseAddressLiteral(h); ok {
			return h, nil
		}
		if n := strings.ToLower(strings.TrimSuffix(h, ".")); isFQDN(n) {
			return n, nil
		}
		return "", &Error{Domain: domain, Status: statusBadConfig, Temporary: true, Err: ErrBadHello,
			Detail: fmt.Sprintf("Dialer.Hello is %q", h)}
	}
	if h, err := osHostname(); err == nil {
		if n := strings.ToLower(strings.TrimSuffix(h, ".")); isFQDN(n) {
			return n, nil
		}
	}
	return "", nil
}

// isFQDN reports whether name (lower case, no trailing dot) is a fully
// qualified domain name by RFC 5321's syntax: two labels at least, the last
// not all digits (RFC 1123, Section 2.1), so no address without brackets.
func isFQDN(name string) bool {
	if checkHostname(name) != "" || !strings.Contains(name, ".") {
		return false
	}
	last := name[strings.LastIndexByte(name, '.')+1:]
	return strings.Trim(last, "0123456789") != ""
}

// localLiteral is the address literal of conn's local address, the EHLO
// argument of a host without a fully qualified name; "[127.0.0.1]" when the
// connection (from a DialContext hook) has no TCP address.
func localLiteral(conn net.Conn) string {
	a := netip.AddrFrom4([4]byte{127, 0, 0, 1})
	if ta, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		if ap := ta.AddrPort(); ap.Addr().IsValid() {
			a = ap.Addr().Unmap().WithZone("")
		}
	}
	if a.Is6() {
		return "[IPv6:" + a.String() + "]"
	}
	return "[" + a.String() + "]"
}

// session runs EHLO and STARTTLS on a greeted attempt under the target's
// TLS policy (Dialer.StartTLS). It leaves a.conn the session to hand over
// (the *tls.Conn once TLS is up) or closes it and sets the attempt's
// failure; a.retryPlain asks for the plaintext retry of a failed
// opportunistic handshake. When ctx ends it returns at once, leaving the
// connection to try, which reports the attempt cancelled.
func (dl *dialing) session(a *attempt, w *watch, br *bufio.Reader) {
	d, p := dl.d, a.Target.TLS
	required := p.Required()
	a.local = localAddr(a.conn)
	hello := dl.hello
	if hello == "" {
		hello = localLiteral(a.conn)
	}

	// EHLO, and HELO when the server knows no EHLO and TLS may be left out.
	rep, err := a.exchange(w, br, "EHLO "+hello, d.helloTimeout())
	if err != nil {
		dl.replyFailed(a, w, "EHLO", err)
		return
	}
	a.hello = rep
	esmtp := rep.code/100 == 2
	switch {
	case esmtp:
		dl.step(a, StepEHLO, ruleEHLO, nil, fmt.Sprintf("EHLO %s: %s", hello, firstLine(rep)))
	case rep.code == 421:
		// RFC 5321, Section 3.8: the server is closing the session.
		dl.helloRejected(a, rep, fmt.Errorf("EHLO rejected: %q", rep.String()))
		return
	case required && (rep.code == 500 || rep.code == 502):
		// EHLO unknown: no ESMTP, so no STARTTLS, and no HELO either,
		// since the policy cannot be met without it.
		err := fmt.Errorf("%w: EHLO answered %q: no ESMTP, so no STARTTLS, and the %s policy requires TLS",
			tlsrpt.StartTLSNotSupported, rep.String(), p.mode())
		dl.step(a, StepEHLO, policyRule(p), err, fmt.Sprintf("EHLO %s: %s", hello, firstLine(rep)))
		a.Reply = rep.String()
		dl.tlsFailed(a, tlsrpt.StartTLSNotSupported, statusTLSNotOffered, err, true)
		return
	case required:
		dl.helloRejected(a, rep, fmt.Errorf("EHLO rejected: %q", rep.String()))
		return
	default:
		// The server may know no EHLO (500 or 502: "command not
		// recognized"); Postfix falls back to HELO on every reply to EHLO
		// but 2xx and 421, as a server may also answer 501 or 550 to an
		// EHLO it does not accept (RFC 5321, Section 4.1.4).
		hrep, err := a.exchange(w, br, "HELO "+hello, d.helloTimeout())
		if err != nil {
			dl.replyFailed(a, w, "HELO", err)
			return
		}
		if hrep.code/100 != 2 {
			dl.helloRejected(a, hrep, fmt.Errorf("EHLO answered %q, HELO rejected: %q", rep.String(), hrep.String()))
			return
		}
		a.hello = hrep
		dl.step(a, StepEHLO, ruleEHLO, nil, fmt.Sprintf("EHLO %s: %s; HELO: %s: no ESMTP, no STARTTLS (%s)",
			hello, firstLine(rep), firstLine(hrep), p.mode()))
	}
	a.buffered = buffered(br)

	// STARTTLS: when offered, or whenever the policy requires TLS (a
	// server may hide it, or a middlebox strip it from the EHLO reply).
	offered := esmtp && hasExtension(rep, "STARTTLS")
	switch {
	case a.plain:
		dl.step(a, StepStartTLS, ruleOpportunistic, nil, fmt.Sprintf("no STARTTLS: the plaintext retry after attempt %d's failed TLS handshake", a.n-1))
		a.check = a.prevCheck
		return
	case !esmtp || !offered && !required:
		a.check = p.report(tlsrpt.StartTLSNotSupported, "STARTTLS not offered")
		dl.step(a, StepStartTLS, policyRule(p), nil, fmt.Sprintf("STARTTLS not offered: plaintext, as the %s policy allows", p.mode()))
		return
	}
	srep, err := a.exchange(w, br, "STARTTLS", d.startTLSTimeout())
	if err != nil {
		dl.replyFailed(a, w, "STARTTLS", err)
		return
	}
	if srep.code/100 != 2 { // Postfix takes any 2xx as RFC 3207's 220
		what := "refused STARTTLS"
		if !offered {
			what = "did not offer STARTTLS and refused it"
		}
		if required {
			err := fmt.Errorf("%w: the server %s: %q, and the %s policy requires TLS", tlsrpt.StartTLSNotSupported, what, srep.String(), p.mode())
			dl.step(a, StepStartTLS, policyRule(p), err, what+": "+firstLine(srep))
			a.Reply = srep.String()
			status := statusTLSRefused
			if !offered {
				status = statusTLSNotOffered
			}
			dl.tlsFailed(a, tlsrpt.StartTLSNotSupported, status, err, true)
			return
		}
		// Postfix: "Else try to continue in plain-text mode."
		a.check = p.report(tlsrpt.StartTLSNotSupported, what+": "+srep.String())
		a.buffered = buffered(br)
		dl.step(a, StepStartTLS, policyRule(p), nil, fmt.Sprintf("%s: %s: plaintext, as the %s policy allows", what, firstLine(srep), p.mode()))
		return
	}
	msg := "STARTTLS: " + firstLine(srep)
	if !offered {
		msg = "STARTTLS not offered, sent anyway since the " + p.mode().String() + " policy requires TLS: " + firstLine(srep)
	}
	if n := br.Buffered(); n > 0 {
		// RFC 3207, Section 4.2: nothing said before the handshake
		// counts; bytes after the 220 would be an injection (Postfix
		// purges its buffers here too).
		msg += fmt.Sprintf(" (%d byte(s) sent after it discarded)", n)
	}
	dl.step(a, StepStartTLS, ruleSTARTTLS, nil, msg)
	dl.handshake(a, w)
}

// handshake runs the TLS handshake of an accepted STARTTLS with the
// target's tls.Config, then the policy's check; a check that fails a
// required policy ends the session with a QUIT over TLS (RFC 3207, Section
// 4.1), one that fails a testing policy is kept for the report.
func (dl *dialing) handshake(a *attempt, w *watch) {
	p := a.Target.TLS
	required := p.Required()
	cfg := p.TLSConfig()
	if cfg.ServerName == "" && !strings.HasPrefix(a.Target.Host, "[") {
		cfg.ServerName = a.Target.Host // a nil policy knows no host: SNI the MX host
	}
	// The check runs after the handshake, not inside it, so that a failed
	// check can still QUIT over the session it got.
	verify := cfg.VerifyConnection
	if verify == nil {
		verify = p.Verify // what a testing policy reports; nil for the others
	}
	cfg.VerifyConnection = nil
	timeout := dl.d.startTLSTimeout()
	tc := tls.Client(a.conn, cfg)
	w.arm(timeout)
	err := tc.Handshake()
	expired := w.disarm()
	if err != nil {
		if w.ended() {
			return // cancelled: try reports it
		}
		if expired || isTimeout(err) {
			err = fmt.Errorf("no TLS handshake within %s: %w", timeout, err)
		}
		err = fmt.Errorf("%w: TLS handshake failed: %w", tlsrpt.ValidationFailure, err)
		if required {
			dl.step(a, StepTLS, policyRule(p), err, "TLS handshake failed: "+err.Error())
			dl.tlsFailed(a, tlsrpt.ValidationFailure, statusTLSFailed, err, false)
			return
		}
		// Postfix (smtp_proto.c): "If TLS is optional, try delivery to the
		// same server over a plaintext connection."
		a.retryPlain = true
		a.check = p.report(tlsrpt.ValidationFailure, err.Error())
		dl.step(a, StepTLS, ruleOpportunistic, err, "TLS handshake failed: "+err.Error()+"; the "+p.mode().String()+" policy lets the address be tried again in plaintext")
		dl.tlsFailed(a, tlsrpt.ValidationFailure, "", fmt.Errorf("%w; retried in plaintext", err), false)
		return
	}
	a.conn = tc
	state := tc.ConnectionState()
	if cerr := verify(state); cerr != nil {
		res := resultOf(cerr)
		if required {
			err := fmt.Errorf("the server's certificate fails the %s policy: %w", p.mode(), cerr)
			dl.step(a, StepTLS, verifyRule(p), err, describeTLS(state)+": "+err.Error())
			a.Attempt.TLSState = &state
			dl.tlsFailed(a, res, statusTLSFailed, err, true)
			return
		}
		a.check = cerr
		dl.step(a, StepTLS, verifyRule(p), nil, describeTLS(state)+": the "+p.mode().String()+
			" check fails, reported and not enforced: "+cerr.Error())
	} else {
		msg := describeTLS(state)
		switch {
		case p != nil && p.Mode == TLSDANE && p.DANE != nil && p.DANE.Mode() == dane.ModeEncrypt:
			// RFC 7672, Section 2.2: every record unusable: encrypted,
			// not authenticated; Postfix reports tlsa-invalid.
			a.check = &dane.Error{Result: dane.TLSAInvalid, Host: p.DANE.ServerName(),
				Detail: "no usable TLSA record: encrypted, not authenticated"}
			msg += ": encrypted; no usable TLSA record, so not authenticated (RFC 7672, Section 2.2)"
		case required:
			msg += ": certificate verified by the " + p.String() + " policy"
		case p.mode() == TLSMTASTSTesting:
			msg += ": certificate passes the " + p.String() + " policy (testing: checked and reported, not enforced)"
		default:
			msg += ": encrypted, certificate not verified (" + p.mode().String() + ")"
		}
		dl.step(a, StepTLS, verifyRule(p), nil, msg)
	}
	a.state = &state
}

// exchange sends cmd and reads its whole reply within timeout.
func (a *attempt) exchange(w *watch, br *bufio.Reader, cmd string, timeout time.Duration) (smtpReply, error) {
	w.arm(timeout)
	_, err := io.WriteString(a.conn, cmd+"\r\n")
	var rep smtpReply
	if err == nil {
		rep, err = readGreeting(br, nil)
	}
	if expired := w.disarm(); err != nil && (expired || isTimeout(err)) && !w.ended() {
		err = &replyTimeout{cmd: strings.Fields(cmd)[0], timeout: timeout, err: err}
	}
	if err != nil && len(rep.lines) > 0 {
		a.Reply = rep.String()
	}
	return rep, err
}

// replyTimeout is the error of a reply that did not come in time.
type replyTimeout struct {
	cmd     string
	timeout time.Duration
	err     error
}

func (e *replyTimeout) Error() string {
	return fmt.Sprintf("no complete reply to %s within %s: %v", e.cmd, e.timeout, e.err)
}
func (e *replyTimeout) Unwrap() error { return e.err }

// replyFailed ends an attempt whose command got no usable reply: a
// timeout, a drop, or what is no SMTP reply. No QUIT: the stream is broken.
func (dl *dialing) replyFailed(a *attempt, w *watch, cmd string, err error) {
	if w.ended() {
		return // cancelled: try reports it
	}
	var rt *replyTimeout
	switch {
	case errors.As(err, &rt):
		a.Failure, a.Err = FailReplyTimeout, err
	case errors.Is(err, errMalformed):
		a.Failure, a.Err = FailMalformed, fmt.Errorf("reply to %s: %w", cmd, err)
	default:
		a.Failure, a.Err = FailDropped, fmt.Errorf("connection lost waiting for the reply to %s: %w", cmd, err)
	}
	a.close(false)
}

// helloRejected ends an attempt whose EHLO (or HELO) was refused, with a
// QUIT, as Postfix does after "host refused to talk to me".
func (dl *dialing) helloRejected(a *attempt, rep smtpReply, err error) {
	dl.step(a, StepEHLO, ruleEHLO, err, err.Error())
	a.Reply, a.Failure, a.Err = rep.String(), FailHello, err
	a.close(true)
}

// tlsFailed ends an attempt that did not get the TLS its policy asks for:
// FailTLS with its RFC 8460 result; status is the Dial error's 4.7.x when
// this makes the host unusable ("" for a handshake retried in plaintext).
func (dl *dialing) tlsFailed(a *attempt, res TLSResult, status string, err error, quit bool) {
	a.Failure, a.Err, a.TLSResult, a.tlsStatus = FailTLS, err, res, status
	a.close(quit)
}

// step reports one decision of the session to the trace.
func (dl *dialing) step(a *attempt, s Step, rule string, err error, msg string) {
	r := dl.r
	if r.Trace == nil {
		return
	}
	t := a.Target
	r.emit(dl.ctx, Event{Step: s, Domain: dl.domain, Host: t.Host, Preference: t.Preference, Rule: rule, Count: a.n, Err: err,
		Message: fmt.Sprintf("attempt %d: %s [%s]: %s", a.n, t.Host, t.Addr, msg)})
}

// report is what a policy that reports without enforcing (MTA-STS
// testing) keeps of a session without the TLS it asks for: an
// *mtasts.Error with res; nil under every other policy.
func (p *TLSPolicy) report(res TLSResult, detail string) error {
	if p == nil || p.Mode != TLSMTASTSTesting {
		return nil
	}
	return &mtasts.Error{Result: res, Host: p.Host, Detail: detail}
}

// resultOf is the RFC 8460 result type an error of a policy check carries.
func resultOf(err error) TLSResult {
	var (
		de *dane.Error
		me *mtasts.Error
	)
	switch {
	case errors.As(err, &de):
		return de.Result
	case errors.As(err, &me) && me.Result != "":
		return me.Result
	}
	return tlsrpt.ValidationFailure
}

// policyRule is the rule that makes TLS required, or not, for p.
func policyRule(p *TLSPolicy) string {
	switch p.mode() {
	case TLSDANE:
		return ruleDANERequired
	case TLSMTASTS, TLSMTASTSTesting:
		return ruleSTSRequired
	}
	return ruleOpportunistic
}

// verifyRule is the rule of p's certificate check.
func verifyRule(p *TLSPolicy) string {
	switch p.mode() {
	case TLSDANE:
		return ruleDANEVerify
	case TLSMTASTS, TLSMTASTSTesting:
		return ruleSTSVerify
	}
	return ruleOpportunistic
}

// mode is p.Mode; TLSOpportunistic for nil.
func (p *TLSPolicy) mode() TLSMode {
	if p == nil {
		return TLSOpportunistic
	}
	return p.Mode
}

// describeTLS says which TLS a handshake got, e.g. "TLS 1.3, TLS_AES_128_GCM_SHA256".
func describeTLS(cs tls.ConnectionState) string {
	return tls.VersionName(cs.Version) + ", " + tls.CipherSuiteName(cs.CipherSuite)
}

// hasExtension reports whether an EHLO reply lists keyword (RFC 5321,
// Section 4.1.1.1: "ehlo-line = ehlo-keyword *( SP ehlo-param )", one per
// line after the first; keywords are case-insensitive).
func hasExtension(rep smtpReply, keyword string) bool {
	for _, line := range rep.lines[1:] {
		if len(line) < 4 {
			continue
		}
		if f := strings.Fields(line[4:]); len(f) > 0 && strings.EqualFold(f[0], keyword) {
			return true
		}
	}
	return false
}

// firstLine is a reply's first line, with " ..." when more follow.
func firstLine(rep smtpReply) string {
	if len(rep.lines) == 0 {
		return ""
	}
	if len(rep.lines) > 1 {
		return fmt.Sprintf("%s ... (%d lines)", rep.lines[0], len(rep.lines))
	}
	return rep.lines[0]
}

// buffered returns a copy of what br holds beyond the last reply.
func buffered(br *bufio.Reader) []byte {
	n := br.Buffered()
	if n == 0 {
		return nil
	}
	b, _ := br.Peek(n)
	return append([]byte(nil), b...)
}
