package mxroute

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/mtasts"
	"github.com/mxroute-go/mxroute/tlsrpt"
)

// The rules of TLS reporting the Dialer's events cite.
const (
	ruleTLSReport  = "RFC 8460, Section 4"
	reasonNoOffer  = "STARTTLS not offered"
	reasonRefused  = "STARTTLS refused"
	reasonNotInSTS = "MX host matches no mx pattern of the MTA-STS policy (mode testing)"
)

// tlsReport counts the session of an ended attempt in Dialer.TLSReports,
// when it is one (tlsSession). The Add runs on a goroutine of the Dial, with
// the caller's ctx, so that a slow Store holds back no other attempt; Dial
// waits for it before it returns. A Collector error never fails the
// delivery: it is reported to the trace, and the Dial goes on.
func (dl *dialing) tlsReport(a *attempt) {
	c := dl.d.TLSReports
	if c == nil {
		return
	}
	s, ok := dl.tlsSession(a)
	if !ok {
		return
	}
	r, t, n := dl.r, a.Target, a.n
	dl.wg.Go(func() {
		err := c.Add(dl.ctx, s)
		if r.Trace == nil {
			return
		}
		e := Event{Step: StepTLSReport, Domain: dl.domain, Host: t.Host, Preference: t.Preference, Rule: ruleTLSReport,
			Count: n, Err: err}
		what := "success"
		if s.Failure != "" {
			what = "failure " + string(s.Failure)
		}
		e.Message = fmt.Sprintf("attempt %d: %s [%s]: TLS session counted for %s's report: %s, %s",
			n, t.Host, t.Addr, s.Policy.Domain, s.Policy.Type, what)
		if err != nil {
			e.Message = fmt.Sprintf("attempt %d: %s [%s]: TLS session not counted (delivery goes on): %v", n, t.Host, t.Addr, err)
		}
		r.emit(dl.ctx, e)
	})
}

// tlsSession is the RFC 8460 session of an ended attempt of a Dial with
// StartTLS, and whether it is one: an attempt whose TLS got a verdict, that
// is, a handshake that passed or failed its policy, STARTTLS not offered or
// refused, a check reported under MTA-STS testing. It is counted under the
// policy the target applied (tlsPolicyOf) with, for a failure, the details
// of Section 4.4.
//
// Not sessions, and not counted: attempts that never got to TLS (refused,
// timed out, unreachable, a greeting that is no 220, EHLO refused, a
// connection lost or a reply late before STARTTLS's outcome): "Transient
// errors due to too-busy network, TCP timeouts, etc. are not required to
// be reported" (Section 4.3.4), and they say nothing of TLS. Nor the
// plaintext retry after a failed opportunistic handshake (the failure was
// counted with the attempt before: one session, one count), nor an attempt
// cancelled (another greeted first, ctx ended) before its handshake was
// done. Without Dialer.StartTLS the Dialer does no TLS: nothing to count.
func (dl *dialing) tlsSession(a *attempt) (tlsrpt.Session, bool) {
	if !dl.d.StartTLS || a.plain || strings.HasPrefix(dl.domain, "[") {
		return tlsrpt.Session{}, false // an address literal has no policy domain to report to
	}
	var (
		res    TLSResult
		reason string
	)
	switch {
	case a.Failure == FailTLS:
		res, reason = a.TLSResult, reasonCode(a.Err, a.TLSResult)
	case a.Failure != 0 && (a.Failure != FailCancelled || a.state == nil):
		return tlsrpt.Session{}, false
	case a.check != nil:
		// A check that reports without enforcing: MTA-STS testing, DANE
		// with unusable records only (tlsa-invalid).
		res = resultOf(a.check)
		reason = reasonCode(a.check, res)
	case a.state == nil:
		// Plaintext, as the policy allowed: no TLS is a failure to
		// negotiate it (Section 4.2), which is what a STARTTLS-stripping
		// attack looks like from the sending side.
		res, reason = tlsrpt.StartTLSNotSupported, reasonNoOffer
		if len(a.hello.lines) > 0 && hasExtension(a.hello, "STARTTLS") {
			reason = reasonRefused
		}
	}
	t := a.Target
	pol, pres, preason := tlsPolicyOf(dl.domain, t.TLS)
	if pres != "" {
		// A policy failure found by the route stands for the session:
		// the failure the policy domain must learn of.
		res, reason = pres, preason
	}
	s := tlsrpt.Session{Policy: pol, Failure: res, Time: a.Start}
	if res == "" {
		return s, true
	}
	s.ReasonCode = reason
	if pres == tlsrpt.STSPolicyFetchError || pres == tlsrpt.STSPolicyInvalid || pres == tlsrpt.STSWebPKIInvalid {
		return s, true // a failure of the policy host, not of this connection
	}
	s.SendingIP = a.local
	s.ReceivingIP = t.Addr
	if !strings.HasPrefix(t.Host, "[") {
		s.MXHost = t.Host
	}
	s.HELO = receivingHELO(a)
	return s, true
}

// tlsPolicyOf is the policy a target's session is counted under (RFC 8460,
// Section 4.4), with a policy failure the route found that makes the
// session a failure whatever its TLS: DANE's TLSA records under the TLSA
// base domain; an MTA-STS policy (enforce or testing) under the recipient
// domain, with its text and mx patterns, and validation-failure for a host
// outside the patterns in mode testing (in mode enforce such a host is
// never a target); the recipient domain's failed MTA-STS lookup
// (TLSPolicy.MTASTSFailure) as an sts policy with no text; otherwise
// no-policy-found under the recipient domain.
func tlsPolicyOf(domain string, p *TLSPolicy) (tlsrpt.Policy, TLSResult, string) {
	switch {
	case p == nil:
		return tlsrpt.NoPolicy(domain), "", ""
	case p.Mode == TLSDANE && p.DANE != nil:
		recs := make([]string, len(p.DANE.Records))
		for i, r := range p.DANE.Records {
			recs[i] = r.String()
		}
		return tlsrpt.TLSA(p.DANE.ServerName(), recs), "", ""
	case (p.Mode == TLSMTASTS || p.Mode == TLSMTASTSTesting) && p.MTASTS != nil:
		pol := tlsrpt.STS(domain, p.MTASTS.String())
		if !p.MTASTS.Match(p.Host) {
			return pol, tlsrpt.ValidationFailure, reasonNotInSTS
		}
		return pol, "", ""
	case p.MTASTSFailure != nil:
		res := resultOf(p.MTASTSFailure)
		return tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: domain}, res, reasonCode(p.MTASTSFailure, res)
	}
	return tlsrpt.NoPolicy(domain), "", ""
}

// reasonCode is the failure-reason-code of a failure (Section 4.4: "a
// text field to include a TLS-related error code or error message"): what
// the dane or mtasts package saw, or the error without the result type,
// which the report carries already.
func reasonCode(err error, res TLSResult) string {
	var (
		de *dane.Error
		me *mtasts.Error
	)
	switch {
	case errors.As(err, &de):
		return joinDetail(de.Detail, de.Err)
	case errors.As(err, &me):
		return joinDetail(me.Detail, me.Err)
	case err == nil:
		return ""
	}
	msg := err.Error()
	if res != "" {
		msg = strings.TrimPrefix(msg, res.Error()+": ")
	}
	return msg
}

func joinDetail(detail string, err error) string {
	switch {
	case err == nil:
		return detail
	case detail == "":
		return err.Error()
	}
	return detail + ": " + err.Error()
}

// receivingHELO is the name the server gave for itself (Section 4.4's
// receiving-mx-helo): the first word of its EHLO (or HELO) reply, else of
// its greeting, when it is a domain or an address literal, as RFC 5321,
// Section 4.1.1.1 has it ("ehlo-ok-rsp = "250" SP Domain [ SP ehlo-greet
// ]"); some servers put a greeting word there ("250-Hello client"), which
// names nothing.
func receivingHELO(a *attempt) string {
	for _, rep := range []smtpReply{a.hello, a.greeting} {
		if len(rep.lines) == 0 || len(rep.lines[0]) < 4 {
			continue
		}
		f := strings.Fields(rep.lines[0][4:])
		if len(f) == 0 {
			continue
		}
		if _, ok := parseAddressLiteral(f[0]); ok || isFQDN(strings.ToLower(strings.TrimSuffix(f[0], "."))) {
			return f[0]
		}
	}
	return ""
}

// localAddr is the address of conn's own end (Section 4.4's
// sending-mta-ip); the zero Addr when the connection (from a DialContext
// hook) has no TCP address.
func localAddr(conn net.Conn) netip.Addr {
	if ta, ok := conn.LocalAddr().(*net.TCPAddr); ok {
		return ta.AddrPort().Addr().Unmap().WithZone("")
	}
	return netip.Addr{}
}
