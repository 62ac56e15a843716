package mxroute

import (
	"context"
	"log/slog"
	"net/netip"
	"strconv"
	"strings"
)

// A Step is the kind of decision an [Event] reports.
type Step int

// The decisions of a route, in the order they are made. Route reports them
// to Router.Trace; Targets and Dialer.Dial, which walk the same route,
// report the same ones in the same order, but for StepDone.
const (
	// StepCNAME: a CNAME was followed, for the domain (Host "") or for a
	// mail host. Target is the name it points to.
	StepCNAME Step = iota + 1
	// StepNoDomain: the domain does not exist (NXDOMAIN).
	StepNoDomain
	// StepMX: the MX RRset was found (TTL, Authentic as Route.Authentic).
	StepMX
	// StepImplicitMX: no MX RRset; the domain itself is the mail host.
	// Authentic: the NODATA for MX was DNSSEC-authenticated.
	StepImplicitMX
	// StepNullMX: a lone null MX (at Preference); the domain accepts no mail.
	StepNullMX
	// StepNullMXIgnored: a null MX mixed with real MX records, ignored.
	StepNullMXIgnored
	// StepIPTarget: an MX record names an IP address; that host is unusable.
	StepIPTarget
	// StepBadTarget: an MX record names something that is no host name
	// (RFC 1123, Section 2.1: "<html>.example", "1.2.3.4.5"); that host is
	// unusable.
	StepBadTarget
	// StepDuplicate: a mail host is listed more than once; it is kept once,
	// at its lowest preference (Preference).
	StepDuplicate
	// StepShuffle: hosts share Preference and were put in random order.
	StepShuffle
	// StepLoopGuard: a host was dropped by the loop guard.
	StepLoopGuard
	// StepSelf: the loop guard found this host (Host) among the mail
	// exchangers, at Preference: every host from that preference on is
	// dropped (each one reported by a StepLoopGuard that follows).
	StepSelf
	// StepMaxHosts: a host was dropped by Router.MaxHosts: it comes after
	// the last host MaxHosts allows.
	StepMaxHosts
	// StepAddrs: a mail host's addresses were found. Addrs are the
	// addresses (AAAA, then A, as each lookup returned them, before the
	// family policy), TTL the smallest TTL among their records, Authentic
	// whether every address lookup was DNSSEC-authenticated (Host.Authentic).
	StepAddrs
	// StepSpecialAddr: an address of a mail host (Addrs, one) is a
	// special-purpose address that is never a remote mail server
	// (loopback, unspecified, link-local, multicast, broadcast, reserved,
	// IPv4-mapped in an AAAA record; see Router.AllowLoopback) and is not
	// used. Message says which block and why.
	StepSpecialAddr
	// StepFamily: Router.Family leaves out addresses of a host, or
	// interleaves them.
	StepFamily
	// StepUnusable: a mail host has no usable address. Err says why (an
	// *Error, temporary or permanent).
	StepUnusable
	// StepDedupe: addresses of a host (Addrs) were already listed, under an
	// earlier host or earlier in this one, and are not repeated; a host
	// that keeps none is dropped.
	StepDedupe
	// StepMaxAddrs: Router.MaxAddrs is reached with a host, whose addresses
	// were cut. Each host after it is a StepMaxAddrsDropped.
	StepMaxAddrs
	// StepDone: Route returns. Err is its error.
	StepDone

	// The steps of Dialer.Dial, after the route's; Host and Preference are
	// the attempt's target's.

	// StepConnect: an attempt starts (Rule "RFC 8305, Section 5" when
	// earlier ones are still running).
	StepConnect
	// StepConnectFailed: an attempt ended without becoming the Conn: Err is
	// Attempt.Err, Message the Attempt (failure, time taken, reply).
	StepConnectFailed
	// StepGreeted: the attempt that becomes the Conn got its 220 greeting
	// (quoted in Message) and, with Dialer.StartTLS, through EHLO and
	// STARTTLS (StepEHLO, StepStartTLS and StepTLS before it).
	StepGreeted
	// StepNoConnection: Dial returns an error: Err.
	StepNoConnection

	// The TLS policy steps (Router.MTASTS, Router.DANE), reported when a
	// host's lookups have ended.

	// StepMTASTS: the domain's MTA-STS policy, once known: Message gives
	// its id, mode, mx patterns and where it came from (fetched, cached,
	// kept by RFC 8461, Section 3.3 when the TXT lookup or the fetch
	// failed), or that none applies; TTL is its max_age, Err what failed
	// on the way (never a bounce).
	StepMTASTS
	// StepMTASTSHost: how the policy treats a host (mode enforce or
	// testing): matched, matching no pattern (Err: the host's *Error in
	// mode enforce), or DANE taking precedence (RFC 8461, Section 2).
	StepMTASTSHost
	// StepTLSA: a host's DANE decision (RFC 7672): TLSA records found
	// (Target the TLSA base domain, Authentic), an authenticated denial,
	// address records not authenticated, or a failed lookup that makes the
	// host unusable (Err). With Host "": the MX RRset is not
	// authenticated, so no TLSA question is asked.
	StepTLSA
	// StepDANEUnavailable: Router.DANE is on, but the Resolver never reports
	// authentic answers (a ZoneResolver, a SystemResolver, a DNSResolver
	// without DNSSEC or without a trusted server, the default one), so DANE
	// can never apply (RFC 7672, Section 2.2): once per route, before its MX
	// question, instead of StepTLSA's unauthenticated MX RRset; Message
	// says why.
	StepDANEUnavailable

	// The session steps of Dialer.Dial with StartTLS, reported by the
	// attempt (Count, Host, Preference) as they are decided.

	// StepEHLO: the reply to EHLO (or, when the server knows no EHLO, to
	// HELO), quoted in Message; Err when it ends the attempt (FailHello,
	// or a policy requiring TLS from a server that knows no EHLO).
	StepEHLO
	// StepStartTLS: STARTTLS sent and accepted, or the session left in
	// plaintext (not offered, refused) as the policy allows, or refused
	// where the policy requires TLS (Err, with the RFC 8460 result).
	StepStartTLS
	// StepTLS: the handshake's verdict: the TLS version and cipher and
	// what the policy's check found (Err when the handshake or a required
	// check failed; a check that only reports is in Message).
	StepTLS
	// StepTLSReport: the attempt's TLS session counted in
	// Dialer.TLSReports (RFC 8460) once the attempt has ended: Message
	// gives the policy domain, type and result; Err when the Collector
	// failed (the delivery goes on).
	StepTLSReport
	// StepMaxAddrsDropped: a host was dropped by Router.MaxAddrs: it comes
	// after the host where the limit was reached (StepMaxAddrs).
	StepMaxAddrsDropped
	// StepBackoff: a decision of Dialer.Backoff, the memory of addresses
	// that could not be reached (RFC 5321, Section 4.5.4.1): an address in
	// backoff held back, to be tried after all the others (never dropped);
	// an attempt's failure remembered, with the time until which the
	// address waits; a remembered address that greeted, forgotten; or the
	// store failing (Err; the address is then tried in route order).
	// Count is the address's failures remembered (0 once forgotten).
	StepBackoff
)

var stepNames = [...]string{
	StepCNAME: "cname", StepNoDomain: "no-domain", StepMX: "mx", StepImplicitMX: "implicit-mx",
	StepNullMX: "null-mx", StepNullMXIgnored: "null-mx-ignored", StepIPTarget: "ip-target", StepBadTarget: "bad-target",
	StepDuplicate: "duplicate", StepShuffle: "shuffle", StepLoopGuard: "loop-guard",
	StepSelf: "self", StepMaxHosts: "max-hosts", StepAddrs: "addrs", StepSpecialAddr: "special-addr", StepFamily: "family", StepUnusable: "unusable",
	StepDedupe: "dedupe", StepMaxAddrs: "max-addrs", StepDone: "done",
	StepConnect: "connect", StepConnectFailed: "connect-failed", StepGreeted: "greeted", StepNoConnection: "no-connection",
	StepMTASTS: "mta-sts", StepMTASTSHost: "mta-sts-host", StepTLSA: "tlsa",
	StepDANEUnavailable: "dane-unavailable",
	StepEHLO:            "ehlo", StepStartTLS: "starttls", StepTLS: "tls", StepTLSReport: "tls-report",
	StepMaxAddrsDropped: "max-addrs-dropped", StepBackoff: "backoff",
}

// String returns the step's short name, e.g. "loop-guard".
func (s Step) String() string {
	if s > 0 && int(s) < len(stepNames) {
		return stepNames[s]
	}
	return "Step(" + strconv.Itoa(int(s)) + ")"
}

// The rules an Event cites.
const (
	ruleRFC5321  = "RFC 5321, Section 5.1"
	ruleRFC7505  = "RFC 7505, Section 3"
	ruleRFC2181  = "RFC 2181, Section 10.3"
	ruleRFC6724  = "RFC 6724, Section 2.1"
	ruleRFC8305  = "RFC 8305, Section 4"
	ruleLoop     = "RFC 5321, Section 5.1; RFC 974"
	ruleLiteral  = "RFC 5321, Section 4.1.3"
	ruleHostName = "RFC 1123, Section 2.1; RFC 5321, Section 2.3.5"
	ruleSpecial  = "RFC 6890"
)

// An Event is one decision of a route, reported to Router.Trace.
type Event struct {
	Step       Step
	Domain     string // the domain routed, as given to Route
	Host       string // the mail host concerned, or "" when the event is about the domain
	Preference uint16 // the host's MX preference (StepNullMX: the null MX's)
	Rule       string // the rule applied, e.g. "RFC 5321, Section 5.1"; "" for a plain fact
	Message    string // one line for people, e.g. "mx2 and mx3 share preference 10: shuffled"
	Target     string // StepCNAME: the name the CNAME points to; StepTLSA: the TLSA base domain; no trailing dot
	TTL        uint32 // StepMX, StepAddrs: the RRset's TTL in seconds, as published (a Cache reports it cold and warm alike); one with the top bit set counts as 0 (RFC 2181, Section 8); StepMTASTS: max_age
	// Count is how many of one thing, the same thing for every event of a
	// Step: StepMX, StepTLSA: records in the RRset; StepDuplicate: MX
	// records naming the host; StepShuffle: hosts shuffled; StepAddrs:
	// addresses found (len(Addrs)); StepFamily: the host's addresses left
	// out, or interleaved; StepDedupe, StepMaxAddrs: addresses the host
	// keeps; StepDone: targets; StepMTASTS: mx patterns; StepNoConnection:
	// attempts made. The steps of an attempt (StepConnect to StepGreeted,
	// StepEHLO, StepStartTLS, StepTLS): its number, 1 for the first. 0 for
	// every other Step.
	Count int
	Addrs []netip.Addr // StepAddrs, StepSpecialAddr, StepDedupe: see each Step; the Event's own copy
	Err   error        // StepUnusable: the host's *Error; StepDone: Route's error, or nil; see each Step
	// Authentic: StepMX, StepImplicitMX: the MX RRset (or the NODATA that
	// says there is none) came with the AD bit in every response of its
	// CNAME chain, as Route.Authentic; StepAddrs: every address lookup of
	// the host did, as Host.Authentic; StepTLSA: secure TLSA records. Only
	// a trusted validating resolver makes it true (see
	// DNSResolver.DNSSEC); false otherwise.
	Authentic bool
}

// emit sends e to r.Trace. Callers check r.Trace first, so that a Router
// without Trace builds no Event at all.
func (r *Router) emit(ctx context.Context, e Event) { r.Trace(ctx, e) }

// A tracer reports the decisions of one route to Router.Trace, each from
// the stage that makes it, beside its rule (as net/http/httptrace's hooks
// are called where things happen). For a Router without Trace it is off:
// callers test on before they build an Event, so that such a route builds
// none and allocates nothing for the trace.
type tracer struct {
	fn     func(context.Context, Event) // Router.Trace
	domain string                       // the domain routed, as given to Route
}

// on reports whether the route's decisions are wanted.
func (t tracer) on() bool { return t.fn != nil }

// emit reports e, a decision about the route's domain.
func (t tracer) emit(ctx context.Context, e Event) {
	e.Domain = t.domain
	t.fn(ctx, e)
}

// cnames reports each CNAME of a chain (FQDNs) that starts at from: of the
// domain (host "") or of a mail host's lookups.
func (t tracer) cnames(ctx context.Context, host string, pref uint16, from string, chain []string) {
	rule, why := ruleRFC5321, "canonicalization"
	if host != "" {
		rule, why = ruleRFC2181, "followed, though an MX target must not be an alias"
	}
	for _, next := range chain {
		f, n := bare(from), bare(next)
		t.emit(ctx, Event{Step: StepCNAME, Host: host, Preference: pref, Rule: rule, Target: n,
			Message: "CNAME " + f + " → " + n + " (" + why + ")"})
		from = next
	}
}

// SlogTrace returns a Router.Trace function that logs each Event to l at
// level, with its message and these attributes when set: step, domain,
// host, preference, rule, target, ttl, count, addrs, authentic (only when
// true), err. It is safe for
// concurrent use when l is (every slog handler of the standard library is).
func SlogTrace(l *slog.Logger, level slog.Level) func(context.Context, Event) {
	return func(ctx context.Context, e Event) {
		if !l.Enabled(ctx, level) {
			return
		}
		attrs := make([]slog.Attr, 0, 11)
		attrs = append(attrs, slog.String("step", e.Step.String()), slog.String("domain", e.Domain))
		if e.Host != "" {
			attrs = append(attrs, slog.String("host", e.Host))
		}
		if e.Host != "" || e.Step == StepShuffle || e.Step == StepNullMX || e.Step == StepNullMXIgnored {
			attrs = append(attrs, slog.Int("preference", int(e.Preference)))
		}
		if e.Rule != "" {
			attrs = append(attrs, slog.String("rule", e.Rule))
		}
		if e.Target != "" {
			attrs = append(attrs, slog.String("target", e.Target))
		}
		if e.TTL != 0 {
			attrs = append(attrs, slog.Int("ttl", int(e.TTL)))
		}
		if e.Count != 0 {
			attrs = append(attrs, slog.Int("count", e.Count))
		}
		if len(e.Addrs) > 0 {
			attrs = append(attrs, slog.String("addrs", joinAddrs(e.Addrs)))
		}
		if e.Authentic {
			attrs = append(attrs, slog.Bool("authentic", true))
		}
		if e.Err != nil {
			attrs = append(attrs, slog.String("err", e.Err.Error()))
		}
		l.LogAttrs(ctx, level, e.Message, attrs...)
	}
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}
