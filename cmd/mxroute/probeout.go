package main

import (
	"crypto/tls"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/mxroute-go/mxroute"
)

// What probe writes: for each domain, each host in route order with each
// of its addresses (what the connect, the greeting, EHLO, TLS, the
// certificate, the policy, reverse DNS and RCPT gave), then the findings in
// lint's format; --json gives the same as one object per domain. Whatever a
// server or DNS sent is escaped for the terminal and cut to a line.

// printProbe writes one probed domain.
func printProbe(w io.Writer, query string, res probeResult) {
	if res.rt != nil {
		fmt.Fprintln(w, label(query))
		for _, h := range res.rt.Hosts {
			if h.Err != nil {
				fmt.Fprintf(w, "  MX %d %s: not probed: %s\n", h.Preference, esc(h.Name), esc(hostReason(h.Err)))
				continue
			}
			for _, a := range res.addrs {
				if a.target.Host == h.Name {
					printAddr(w, a, res.rcpt != "")
				}
			}
		}
	}
	printLint(w, query, lintResult{findings: res.findings})
}

// printAddr writes what one address gave, a line per step it reached.
func printAddr(w io.Writer, a *addrProbe, rcpt bool) {
	fmt.Fprintf(w, "  MX %d %s [%s]:%d\n", a.target.Preference, esc(a.target.Host), a.target.Addr, a.port)
	line := func(what, format string, args ...any) {
		fmt.Fprintf(w, "    %-9s %s\n", what, esc(fmt.Sprintf(format, args...)))
	}
	switch {
	case a.notDialled != "":
		line("connect", "%s", a.notDialled)
		return
	case a.connectFail != "":
		line("connect", "%s: %s", a.connectFail, a.connectErr)
	default:
		line("connect", "%s", connectTime(a.connectTime))
	}
	if a.connected() {
		switch {
		case a.greeting.code != 0:
			line("greeting", "%s", replySummary(a.greeting))
		case a.fail != nil && a.fail.stage == "greeting":
			line("greeting", "%s", a.fail.detail)
		}
		if a.fail != nil && a.fail.stage != "greeting" {
			line(a.fail.stage, "%s", a.fail.detail)
		}
		if a.ehlo.code != 0 && (a.fail == nil || a.fail.stage != "EHLO") {
			line("EHLO", "%s", ehloSummary(a))
		}
		if t := tlsSummary(a); t != "" {
			line("TLS", "%s", t)
		}
		if leaf := leafOf(a); leaf != nil {
			trust := "trusted"
			if a.trusted != "" {
				trust = "not trusted: " + a.trusted
			}
			line("cert", "%s; issuer %s; not after %s; %s", strings.Join(certNames(leaf), ", "), leaf.Issuer, day(leaf.NotAfter), trust)
		}
		if a.reachedTLS() {
			line("policy", "%s", policySummary(a))
		}
		if a.sessionErr != "" {
			line("session", "%s", a.sessionErr)
		}
		if rcpt && a.rcpt != nil {
			line("RCPT", "%s", rcptSummary(a.rcpt))
		}
	}
	line("PTR", "%s", ptrSummary(a.ptr))
}

// connectTime is the connect's time to a tenth of a millisecond.
func connectTime(d time.Duration) string {
	return fmt.Sprintf("%.1fms", float64(d)/float64(time.Millisecond))
}

// replySummary is a reply's first line, cut, and how many lines followed.
func replySummary(r reply) string {
	s := firstReplyLine(r)
	if len(r.lines) > 1 {
		s += fmt.Sprintf(" (+%d lines)", len(r.lines)-1)
	}
	return s
}

// ehloSummary lists the extensions of interest (STARTTLS from the EHLO
// before TLS, the others from the one that counts), or the reply.
func ehloSummary(a *addrProbe) string {
	if a.ehlo.code/100 != 2 {
		return replySummary(a.ehlo)
	}
	exts := a.extensions()
	if len(exts) == 0 {
		return "none of STARTTLS, SIZE, PIPELINING, 8BITMIME, SMTPUTF8, REQUIRETLS"
	}
	return strings.Join(exts, " ")
}

// extParam finds an extension in an EHLO reply, with its parameters.
func extParam(r reply, keyword string) (string, bool) {
	for _, line := range r.lines[min(1, len(r.lines)):] {
		if len(line) > 4 {
			f := strings.Fields(line[4:])
			if len(f) > 0 && strings.EqualFold(f[0], keyword) {
				return strings.Join(f[1:], " "), true
			}
		}
	}
	return "", false
}

// tlsSummary is what STARTTLS gave: the version and cipher, or the failure.
func tlsSummary(a *addrProbe) string {
	switch {
	case a.tlsState != nil:
		return tls.VersionName(a.tlsState.Version) + ", " + tls.CipherSuiteName(a.tlsState.CipherSuite)
	case a.tlsFail != "":
		return "failed: " + a.tlsFail
	case a.reachedTLS() && !a.offered():
		return "not offered: plaintext"
	case a.session:
		return "none: plaintext"
	}
	return ""
}

// policySummary is the host's TLS policy and what the session made of it,
// with the RFC 8460 result of a failure.
func policySummary(a *addrProbe) string {
	p := a.target.TLS
	mode := tlsModeText(p)
	if p != nil && p.MTASTS != nil {
		mode += fmt.Sprintf(" (policy id %s)", p.MTASTS.ID)
	}
	switch {
	case a.tlsFail != "" && p.Required():
		return fmt.Sprintf("%s: fails (RFC 8460 %s): senders that apply it skip this host", mode, string(a.tlsResult))
	case a.check != "":
		return fmt.Sprintf("%s: fails (RFC 8460 %s), reported, not enforced: %s", mode, string(a.checkResult), a.check)
	case p == nil || p.Mode == mxroute.TLSOpportunistic:
		return mode + ": any certificate, plaintext when TLS fails"
	case a.session && a.tlsState != nil:
		return mode + ": verified"
	}
	return mode + ": not reached"
}

// rcptSummary is the reply to RCPT TO, or to MAIL FROM when that failed.
func rcptSummary(r *rcptAnswer) string {
	if r.code == 0 {
		return r.cmd + ": no reply: " + r.err
	}
	return fmt.Sprintf("%s: %d %s", r.cmd, r.code, clip(firstLineOf(r.text), 200))
}

// ptrSummary is what reverse DNS said.
func ptrSummary(f ptrFacts) string {
	switch {
	case f.err != "":
		return "lookup failed: " + f.err
	case !f.looked:
		return "not looked up"
	case len(f.names) == 0:
		return "none at " + f.name
	case len(f.confirmed) == len(f.names):
		return strings.Join(f.names, ", ") + " (forward-confirmed)"
	case len(f.confirmed) > 0:
		return strings.Join(f.names, ", ") + " (forward-confirmed: " + strings.Join(f.confirmed, ", ") + ")"
	}
	return strings.Join(f.names, ", ") + " (not forward-confirmed)"
}

// jsonProbe is one line of "mxroute probe --json".
type jsonProbe struct {
	SchemaVersion int           `json:"schema_version"`
	Query         string        `json:"query"`
	Domain        string        `json:"domain"`
	Result        string        `json:"result"` // the route's: "routed", "defer", "bounce"
	Error         *jsonError    `json:"error"`
	Hosts         []jsonHost    `json:"hosts"` // the route's hosts, unusable ones with their error
	Addresses     []jsonAddr    `json:"addresses"`
	Findings      []jsonFinding `json:"findings"`
}

// jsonAddr is one address probed.
type jsonAddr struct {
	Host        string      `json:"host"`
	Preference  uint16      `json:"preference"`
	Address     string      `json:"address"`
	Family      string      `json:"family"`
	Port        int         `json:"port"`
	NotDialled  string      `json:"not_dialled,omitempty"`
	Connected   bool        `json:"connected"`
	ConnectMS   float64     `json:"connect_ms"`
	ConnectFail string      `json:"connect_failure,omitempty"` // refused, timeout, unreachable, reset, cancelled
	ConnectErr  string      `json:"connect_error,omitempty"`
	Greeting    *jsonReply  `json:"greeting"`
	EHLO        *jsonReply  `json:"ehlo"`
	Failure     *jsonStage  `json:"failure"` // what ended the session before TLS
	Extensions  []string    `json:"extensions"`
	TLS         *jsonTLSRun `json:"tls"`
	Certificate *jsonCert   `json:"certificate"`
	Policy      jsonVerdict `json:"policy"`
	Session     bool        `json:"session"`
	SessionErr  string      `json:"session_error,omitempty"`
	RCPT        *jsonRcpt   `json:"rcpt"`
	PTR         jsonPTR     `json:"ptr"`
}

type jsonReply struct {
	Code int    `json:"code"`
	Name string `json:"name,omitempty"` // a greeting's
	Text string `json:"text"`
}

type jsonStage struct {
	Stage   string `json:"stage"`
	Failure string `json:"failure"` // the Dialer's: rejected, malformed, greeting-timeout, ...
	Detail  string `json:"detail"`
}

type jsonTLSRun struct {
	Offered   bool   `json:"offered"`
	Version   string `json:"version,omitempty"`
	Cipher    string `json:"cipher,omitempty"`
	Failure   string `json:"failure,omitempty"`
	Result    string `json:"result,omitempty"` // RFC 8460 result type of the failure
	Plaintext bool   `json:"plaintext_retry"`
}

type jsonCert struct {
	Names    []string `json:"names"`
	Issuer   string   `json:"issuer"`
	NotAfter string   `json:"not_after"` // RFC 3339, UTC
	Trusted  bool     `json:"trusted"`
	Untrust  string   `json:"untrusted_why,omitempty"`
}

type jsonVerdict struct {
	Mode     string `json:"mode"`
	Required bool   `json:"required"`
	Summary  string `json:"summary"`
	Result   string `json:"result,omitempty"` // RFC 8460 result type of a failure
}

type jsonRcpt struct {
	Command  string `json:"command"`
	Code     int    `json:"code"`
	Text     string `json:"text"`
	Error    string `json:"error,omitempty"`
	Accepted bool   `json:"accepted"`
}

type jsonPTR struct {
	Name      string   `json:"name"`
	Names     []string `json:"names"`
	Confirmed []string `json:"confirmed"`
	Error     string   `json:"error,omitempty"`
}

// jsonProbeOf is probe's JSON of a domain.
func jsonProbeOf(query string, res probeResult) jsonProbe {
	domain, _ := domainOf(query)
	out := jsonProbe{SchemaVersion: schemaVersion, Query: query, Domain: domain, Result: "routed", Error: jsonErrorOf(res.err),
		Hosts: []jsonHost{}, Addresses: []jsonAddr{}, Findings: jsonLintOf(query, lintResult{findings: res.findings}).Findings}
	if res.err != nil {
		out.Result, _ = verdictOf(res.err)
	}
	if res.rt != nil {
		for _, h := range res.rt.Hosts {
			jh := jsonHost{Name: h.Name, Preference: h.Preference, Usable: h.Err == nil, Authentic: h.Authentic, Addresses: []string{}, Error: jsonErrorOf(h.Err)}
			for _, a := range h.Addrs {
				jh.Addresses = append(jh.Addresses, a.String())
			}
			if h.Err == nil {
				jh.TLS = jsonHostTLSOf(res.routed, h)
			}
			out.Hosts = append(out.Hosts, jh)
		}
	}
	for _, a := range res.addrs {
		out.Addresses = append(out.Addresses, jsonAddrOf(a))
	}
	return out
}

func jsonAddrOf(a *addrProbe) jsonAddr {
	j := jsonAddr{Host: a.target.Host, Preference: a.target.Preference, Address: a.target.Addr.String(), Family: family(a.target.Addr),
		Port: a.port, NotDialled: a.notDialled, Connected: a.connected(), ConnectFail: a.connectFail, ConnectErr: a.connectErr,
		Extensions: []string{}, Session: a.session, SessionErr: a.sessionErr,
		PTR: jsonPTR{Name: a.ptr.name, Names: append([]string{}, a.ptr.names...), Confirmed: append([]string{}, a.ptr.confirmed...), Error: a.ptr.err}}
	if a.notDialled == "" {
		j.ConnectMS = float64(a.connectTime.Microseconds()) / 1000
	}
	if a.greeting.code != 0 {
		j.Greeting = &jsonReply{Code: a.greeting.code, Name: a.greeting.name(), Text: a.greeting.text()}
	}
	if a.ehlo.code != 0 {
		j.EHLO = &jsonReply{Code: a.ehlo.code, Text: a.ehlo.text()}
	}
	if a.fail != nil {
		j.Failure = &jsonStage{Stage: a.fail.stage, Failure: a.fail.failure.String(), Detail: a.fail.detail}
	}
	j.Extensions = append(j.Extensions, a.extensions()...)
	if a.reachedTLS() {
		t := &jsonTLSRun{Offered: a.offered(), Failure: a.tlsFail, Result: string(a.tlsResult), Plaintext: a.plainText}
		if a.tlsState != nil {
			t.Version, t.Cipher = tls.VersionName(a.tlsState.Version), tls.CipherSuiteName(a.tlsState.CipherSuite)
		}
		j.TLS = t
		j.Policy = jsonVerdict{Mode: tlsModeOf(a.target.TLS), Required: a.target.TLS.Required(), Summary: policySummary(a),
			Result: string(firstNonEmpty(a.tlsResult, a.checkResult))}
	} else {
		j.Policy = jsonVerdict{Mode: tlsModeOf(a.target.TLS), Required: a.target.TLS.Required(), Summary: "not reached"}
	}
	if leaf := leafOf(a); leaf != nil {
		j.Certificate = &jsonCert{Names: certNames(leaf), Issuer: leaf.Issuer.String(), NotAfter: leaf.NotAfter.UTC().Format(time.RFC3339),
			Trusted: a.trusted == "", Untrust: a.trusted}
	}
	if r := a.rcpt; r != nil {
		j.RCPT = &jsonRcpt{Command: r.cmd, Code: r.code, Text: r.text, Error: r.err, Accepted: r.accepted}
	}
	return j
}

func firstNonEmpty(a, b mxroute.TLSResult) mxroute.TLSResult {
	if a != "" {
		return a
	}
	return b
}
