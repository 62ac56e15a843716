package mxroute

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/miekg/dns"
	"github.com/mxroute-go/mxroute/mtasts"
)

// A Step is the kind of decision an [Event] reports.
type Step int

// The decisions Route reports to Router.Trace, in the order they are made.
const (
	// StepCNAME: a CNAME was followed, for the domain (Host "") or for a
	// mail host. Target is the name it points to.
	StepCNAME Step = iota + 1
	// StepNoDomain: the domain does not exist (NXDOMAIN).
	StepNoDomain
	// StepMX: the MX RRset was found. Count is its size, TTL its TTL,
	// Authentic whether it was DNSSEC-authenticated (Route.Authentic).
	StepMX
	// StepImplicitMX: no MX RRset; the domain itself is the mail host.
	// Authentic: the NODATA for MX was DNSSEC-authenticated.
	StepImplicitMX
	// StepNullMX: a lone null MX; the domain accepts no mail.
	// Preference is the null MX's preference.
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
	// at its lowest preference (Preference). Count is how often it is listed.
	StepDuplicate
	// StepShuffle: Count hosts share Preference and were put in random order.
	StepShuffle
	// StepLoopGuard: a host was dropped by the loop guard.
	StepLoopGuard
	// StepSelf: the loop guard found this host (Host) among the mail
	// exchangers, at Preference: every host from that preference on is
	// dropped (each one reported by a StepLoopGuard that follows).
	StepSelf
	// StepMaxHosts: a host was dropped by Router.MaxHosts.
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
	// StepFamily: Count addresses of a host are not used because of
	// Router.Family.
	StepFamily
	// StepUnusable: a mail host has no usable address. Err says why (an
	// *Error, temporary or permanent).
	StepUnusable
	// StepDedupe: addresses of a host (Addrs) were already listed under an
	// earlier host and are not repeated; Count is how many are left.
	StepDedupe
	// StepMaxAddrs: Router.MaxAddrs cut a host's addresses; Count is how
	// many are left (0: the host is dropped).
	StepMaxAddrs
	// StepDone: Route returns. Err is its error, Count the number of targets.
	StepDone

	// The steps of Dialer.Dial, after the route's. Count is the attempt's
	// number (1 for the first), Host and Preference its target's.

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
	// StepNoConnection: Dial returns an error: Err; Count is the number of
	// attempts made (0 when the route itself failed).
	StepNoConnection

	// The TLS policy steps (Router.MTASTS, Router.DANE), reported when a
	// host's lookups have ended.

	// StepMTASTS: the domain's MTA-STS policy, once known: Message gives
	// its id, mode, mx patterns and where it came from (fetched, cached,
	// kept by RFC 8461, Section 3.3 when the TXT lookup or the fetch
	// failed), or that none applies; Count is the number of mx patterns,
	// TTL its max_age, Err what failed on the way (never a bounce).
	StepMTASTS
	// StepMTASTSHost: how the policy treats a host (mode enforce or
	// testing): matched, matching no pattern (Err: the host's *Error in
	// mode enforce), or DANE taking precedence (RFC 8461, Section 2).
	StepMTASTSHost
	// StepTLSA: a host's DANE decision (RFC 7672): TLSA records found
	// (Count, Target the TLSA base domain, Authentic), an authenticated
	// denial, address records not authenticated, or a failed lookup that
	// makes the host unusable (Err). With Host "": the MX RRset is not
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
	StepEHLO:            "ehlo", StepStartTLS: "starttls", StepTLS: "tls",
	StepBackoff: "backoff",
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

// An Event is one decision of Route, reported to Router.Trace.
type Event struct {
	Step       Step
	Domain     string       // the domain routed, as given to Route
	Host       string       // the mail host concerned, or "" when the event is about the domain
	Preference uint16       // the host's MX preference (StepNullMX: the null MX's)
	Rule       string       // the rule applied, e.g. "RFC 5321, Section 5.1"; "" for a plain fact
	Message    string       // one line for people, e.g. "mx2 and mx3 share preference 10: shuffled"
	Target     string       // StepCNAME: the name the CNAME points to, no trailing dot
	TTL        uint32       // StepMX, StepAddrs: the RRset's TTL in seconds, as published (a Cache reports it cold and warm alike); one with the top bit set counts as 0 (RFC 2181, Section 8)
	Count      int          // see each Step
	Addrs      []netip.Addr // StepAddrs, StepDedupe: see each Step; the Event's own copy
	Err        error        // StepUnusable: the host's *Error; StepDone: Route's error, or nil
	// Authentic: StepMX, StepImplicitMX: the MX RRset (or the NODATA that
	// says there is none) came with the AD bit in every response of its
	// CNAME chain, as Route.Authentic; StepAddrs: every address lookup of
	// the host did, as Host.Authentic. Only a trusted validating resolver
	// makes it true (see DNSResolver.DNSSEC); false otherwise.
	Authentic bool
}

// emit sends e to r.Trace. Callers check r.Trace first, so that a Router
// without Trace builds no Event at all.
func (r *Router) emit(ctx context.Context, e Event) { r.Trace(ctx, e) }

// traceMX reports what the MX answer for domain says: the CNAMEs followed,
// NXDOMAIN, the implicit MX, and the MX RRset with its null, IP and
// duplicate targets.
func (r *Router) traceMX(ctx context.Context, domain string, a *answer) {
	if r.Trace == nil {
		return
	}
	r.traceChain(ctx, domain, "", 0, a.asked, a.chain)
	name := strings.TrimSuffix(a.name, ".")
	switch a.kind {
	case noDomain:
		r.emit(ctx, Event{Step: StepNoDomain, Domain: domain, Rule: ruleRFC5321,
			Message: name + " does not exist (NXDOMAIN): bounce"})
		return
	case noData:
		r.emit(ctx, Event{Step: StepImplicitMX, Domain: domain, Host: name, Rule: ruleRFC5321, Authentic: a.authentic,
			Message: "no MX records: implicit MX, " + name + " itself at preference 0"})
		return
	}
	r.emit(ctx, Event{Step: StepMX, Domain: domain, Rule: ruleRFC5321, Count: len(a.rrs), TTL: minTTL(a.rrs), Authentic: a.authentic,
		Message: fmt.Sprintf("MX RRset of %s has %d record(s), TTL %d", name, len(a.rrs), minTTL(a.rrs))})
	var nulls, real []uint16
	seen := map[string][]uint16{}
	var order []string
	for _, rr := range a.rrs {
		mx, ok := rr.(*dns.MX)
		if !ok {
			continue
		}
		pref, target := mx.Preference, NormalizeHost(mx.Mx)
		if target == "" {
			nulls = append(nulls, pref)
			continue
		}
		real = append(real, pref)
		if _, dup := seen[target]; !dup {
			order = append(order, target)
		}
		seen[target] = append(seen[target], pref)
	}
	for _, p := range nulls {
		if len(real) == 0 {
			r.emit(ctx, Event{Step: StepNullMX, Domain: domain, Preference: p, Rule: ruleRFC7505,
				Message: fmt.Sprintf("null MX (preference %d, target \".\"): the domain accepts no mail, bounce 5.1.10", p)})
		} else {
			r.emit(ctx, Event{Step: StepNullMXIgnored, Domain: domain, Preference: p, Rule: ruleRFC7505,
				Message: fmt.Sprintf("null MX mixed with %d other MX record(s): ignored", len(real))})
		}
	}
	for _, name := range order {
		prefs := seen[name]
		best := slices.Min(prefs)
		if isIPName(name) {
			r.emit(ctx, Event{Step: StepIPTarget, Domain: domain, Host: name, Preference: best, Rule: ruleRFC5321,
				Message: name + " is an IP address, not a host name: unusable"})
		} else if !isHostName(name) {
			r.emit(ctx, Event{Step: StepBadTarget, Domain: domain, Host: name, Preference: best, Rule: ruleHostName,
				Message: strconv.Quote(name) + " is not a host name: unusable"})
		}
		if len(prefs) > 1 {
			r.emit(ctx, Event{Step: StepDuplicate, Domain: domain, Host: name, Preference: best, Rule: ruleRFC5321,
				Count: len(prefs), Message: fmt.Sprintf("%s is listed %d times (preferences %s): kept once, at %d",
					name, len(prefs), joinPrefs(prefs), best)})
		}
	}
}

// traceChain reports each CNAME of a chain that starts at from.
func (r *Router) traceChain(ctx context.Context, domain, host string, pref uint16, from string, chain []string) {
	rule, why := ruleRFC5321, "canonicalization"
	if host != "" {
		rule, why = ruleRFC2181, "followed, though an MX target must not be an alias"
	}
	for _, to := range chain {
		f, t := strings.TrimSuffix(from, "."), strings.TrimSuffix(to, ".")
		r.emit(ctx, Event{Step: StepCNAME, Domain: domain, Host: host, Preference: pref, Rule: rule, Target: t,
			Message: "CNAME " + f + " → " + t + " (" + why + ")"})
		from = to
	}
}

// traceOrder reports the runs of equal preference that were shuffled.
func (r *Router) traceOrder(ctx context.Context, domain string, hosts []*mxHost) {
	if r.Trace == nil {
		return
	}
	for i, j := 0, 0; i < len(hosts); i = j {
		if j = tieEnd(hosts, i); j-i > 1 {
			order := make([]string, 0, j-i)
			for _, h := range hosts[i:j] {
				order = append(order, h.name)
			}
			names := slices.Sorted(slices.Values(order))
			r.emit(ctx, Event{Step: StepShuffle, Domain: domain, Preference: hosts[i].pref, Rule: ruleRFC5321, Count: j - i,
				Message: fmt.Sprintf("%s share preference %d: shuffled into %s", joinAnd(names), hosts[i].pref, strings.Join(order, ", "))})
		}
	}
}

// traceLoopGuard reports the hosts the loop guard dropped.
func (r *Router) traceLoopGuard(ctx context.Context, domain string, dropped, after []*mxHost) {
	if r.Trace == nil || len(dropped) == 0 {
		return
	}
	own := dropped[0].pref
	for _, h := range dropped {
		if r.isSelf(h) {
			r.emit(ctx, Event{Step: StepSelf, Domain: domain, Host: h.name, Preference: h.pref, Rule: ruleLoop,
				Message: fmt.Sprintf("this host is %s (%d): every MX from preference %d on goes", h.name, h.pref, own)})
			break
		}
	}
	for _, list := range [2][]*mxHost{dropped, after} {
		for _, h := range list {
			msg := fmt.Sprintf("dropped %s (%d): at or above this host's own preference %d (loop guard)", h.name, h.pref, own)
			if r.isSelf(h) {
				msg = fmt.Sprintf("dropped %s (%d): it is this host (loop guard)", h.name, h.pref)
			}
			r.emit(ctx, Event{Step: StepLoopGuard, Domain: domain, Host: h.name, Preference: h.pref, Rule: ruleLoop, Message: msg})
		}
	}
}

// traceMaxHosts reports the hosts cut by MaxHosts.
func (r *Router) traceMaxHosts(ctx context.Context, domain string, dropped []*mxHost) {
	if r.Trace == nil {
		return
	}
	for _, h := range dropped {
		r.emit(ctx, Event{Step: StepMaxHosts, Domain: domain, Host: h.name, Preference: h.pref, Rule: ruleRFC5321,
			Message: fmt.Sprintf("dropped %s (%d): beyond MaxHosts %d", h.name, h.pref, r.MaxHosts)})
	}
}

// traceHosts reports, per host looked up, the CNAMEs followed, the
// addresses found, those the Family excludes, and why a host is unusable.
func (r *Router) traceHosts(ctx context.Context, domain string, hosts []*mxHost) {
	if r.Trace == nil {
		return
	}
	for _, h := range hosts {
		if !h.v6.looked && !h.v4.looked {
			continue // unusable before any lookup: reported by traceMX
		}
		chain, from := h.v6.ans.chain, h.v6.ans.asked
		if len(chain) == 0 {
			chain, from = h.v4.ans.chain, h.v4.ans.asked
		}
		r.traceChain(ctx, domain, h.name, h.pref, from, chain)
		if found := slices.Concat(h.v6.addrs, h.v4.addrs); len(found) > 0 {
			rrs := slices.Concat(h.v6.ans.rrs, h.v4.ans.rrs)
			ttl := minTTL(rrs)
			e := Event{Step: StepAddrs, Domain: domain, Host: h.name, Preference: h.pref, Addrs: found, TTL: ttl,
				Count: len(found), Authentic: h.authentic(), Rule: ruleRFC5321, Message: fmt.Sprintf("%s (%d) has %s, TTL %d",
					h.name, h.pref, countFamilies(len(h.v6.addrs), len(h.v4.addrs)), ttl)}
			if len(rrs) == 0 { // an address literal: no DNS, no TTL
				e.Rule = ruleLiteral
				e.Message = h.name + " is an address literal: that address, no DNS"
			}
			r.emit(ctx, e)
		}
		useV6, useV4 := r.Family.wants()
		for _, addrs := range r.usedAddrs(h) {
			for _, a := range addrs {
				if b := r.special(a); b != nil {
					r.emit(ctx, Event{Step: StepSpecialAddr, Domain: domain, Host: h.name, Preference: h.pref, Addrs: []netip.Addr{a},
						Rule: ruleSpecial + "; " + b.source, Message: fmt.Sprintf("%s (%d): %s; not used", h.name, h.pref, b.describe(a))})
				}
			}
		}
		if n := len(h.v6.addrs); !useV6 && n > 0 {
			r.emit(ctx, Event{Step: StepFamily, Domain: domain, Host: h.name, Preference: h.pref, Count: n, Rule: ruleRFC6724,
				Message: fmt.Sprintf("%s: %s not used (family %s)", h.name, countFamilies(n, 0), r.Family)})
		}
		if n := len(h.v4.addrs); !useV4 && n > 0 {
			r.emit(ctx, Event{Step: StepFamily, Domain: domain, Host: h.name, Preference: h.pref, Count: n, Rule: ruleRFC6724,
				Message: fmt.Sprintf("%s: %s not used (family %s)", h.name, countFamilies(0, n), r.Family)})
		}
		if h.err == nil && r.Family == Interleave && len(h.addrs) > 1 {
			r.emit(ctx, Event{Step: StepFamily, Domain: domain, Host: h.name, Preference: h.pref, Count: len(h.addrs), Rule: ruleRFC8305,
				Message: h.name + ": address families interleaved, IPv6 first"})
		}
		if h.err != nil {
			verdict := "permanent"
			if h.err.Temporary {
				verdict = "temporary"
			}
			r.emit(ctx, Event{Step: StepUnusable, Domain: domain, Host: h.name, Preference: h.pref, Err: h.err, Rule: ruleRFC5321,
				Message: fmt.Sprintf("%s (%d) unusable: %s (%s %s)", h.name, h.pref, h.err.Detail, verdict, h.err.Status)})
		}
	}
}

// traceDedupe reports the addresses dedupeAddrs is about to remove, with
// the same rule: an address is listed once, under the first host that has it.
func (r *Router) traceDedupe(ctx context.Context, domain string, hosts []*mxHost) {
	if r.Trace == nil {
		return
	}
	seen := map[netip.Addr]string{}
	for _, h := range hosts {
		if h.err != nil {
			continue
		}
		var dups []netip.Addr
		var under string
		for _, a := range h.addrs {
			if first, ok := seen[a.Unmap()]; ok {
				dups, under = append(dups, a), cmp.Or(under, first)
				continue
			}
			seen[a.Unmap()] = h.name
		}
		if len(dups) == 0 {
			continue
		}
		left := len(h.addrs) - len(dups)
		msg := fmt.Sprintf("%s (%d): %s already listed under %s: not repeated", h.name, h.pref, joinAddrs(dups), under)
		if left == 0 {
			msg += "; the host has nothing new and is dropped"
		}
		r.emit(ctx, Event{Step: StepDedupe, Domain: domain, Host: h.name, Preference: h.pref, Addrs: dups, Count: left,
			Rule: ruleRFC5321, Message: msg})
	}
}

// traceMaxAddrs reports what limitAddrs is about to cut.
func (r *Router) traceMaxAddrs(ctx context.Context, domain string, hosts []*mxHost) {
	if r.Trace == nil || r.MaxAddrs <= 0 {
		return
	}
	// As limitAddrs: the host where the count reaches MaxAddrs keeps what
	// fits, and every host after it goes, unusable ones included.
	n, cut := 0, false
	for _, h := range hosts {
		if cut {
			r.emit(ctx, Event{Step: StepMaxAddrs, Domain: domain, Host: h.name, Preference: h.pref, Rule: ruleRFC5321,
				Message: fmt.Sprintf("dropped %s (%d): beyond MaxAddrs %d", h.name, h.pref, r.MaxAddrs)})
			continue
		}
		if n+len(h.addrs) < r.MaxAddrs {
			n += len(h.addrs)
			continue
		}
		cut = true
		if left := r.MaxAddrs - n; left < len(h.addrs) {
			r.emit(ctx, Event{Step: StepMaxAddrs, Domain: domain, Host: h.name, Preference: h.pref, Count: left, Rule: ruleRFC5321,
				Message: fmt.Sprintf("%s (%d): %d of %d address(es) kept (MaxAddrs %d)", h.name, h.pref, left, len(h.addrs), r.MaxAddrs)})
		}
	}
}

// traceDone reports what Route returns.
func (r *Router) traceDone(ctx context.Context, domain string, rt **Route, err *error) {
	if r.Trace == nil {
		return
	}
	e := Event{Step: StepDone, Domain: domain, Err: *err}
	if e.Err != nil {
		verdict := "bounce"
		if IsTemporary(e.Err) {
			verdict = "defer"
		}
		e.Message = verdict + ": " + e.Err.Error()
	} else {
		e.Count = len((*rt).Targets())
		e.Message = fmt.Sprintf("routed: %d host(s), %d address(es) to try", len((*rt).Hosts), e.Count)
	}
	r.emit(ctx, e)
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

func minTTL(rrs []dns.RR) uint32 {
	var ttl uint32
	for i, rr := range rrs {
		if t := ttlOf(rr); i == 0 || t < ttl {
			ttl = t
		}
	}
	return ttl
}

func countFamilies(v6, v4 int) string {
	var parts []string
	if v6 > 0 {
		parts = append(parts, plural(v6, "IPv6 address", "IPv6 addresses"))
	}
	if v4 > 0 {
		parts = append(parts, plural(v4, "IPv4 address", "IPv4 addresses"))
	}
	if len(parts) == 0 {
		return "no address"
	}
	return strings.Join(parts, " and ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}

func joinPrefs(prefs []uint16) string {
	s := make([]string, len(prefs))
	for i, p := range prefs {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}

func joinAddrs(addrs []netip.Addr) string {
	s := make([]string, len(addrs))
	for i, a := range addrs {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// joinAnd joins names as "a and b" or "a, b and c".
func joinAnd(names []string) string {
	if len(names) < 2 {
		return strings.Join(names, "")
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}

// traceMTASTS reports the domain's MTA-STS policy decision.
func (r *Router) traceMTASTS(ctx context.Context, domain string, t *routeTLS) {
	if r.Trace == nil {
		return
	}
	e := Event{Step: StepMTASTS, Domain: domain, Rule: ruleSTS, Err: t.err}
	p := t.policy
	switch {
	case p != nil:
		e.Count = len(p.MX)
		e.TTL = uint32(min(p.MaxAge/time.Second, 1<<31-1))
		e.Message = fmt.Sprintf("MTA-STS policy id %s, mode %s, mx %s, max_age %d (%s)", p.ID, p.Mode, patterns(p), e.TTL, t.status)
		if t.status == mtasts.StatusKept {
			e.Rule = ruleSTSLookup
			e.Message += ": the cached policy stays in force"
		}
		if p.Mode == mtasts.ModeNone {
			e.Message += ": no MTA-STS"
		}
	case t.status == mtasts.StatusFailed:
		e.Rule = ruleSTSLookup
		e.Message = "no MTA-STS policy applies: " + stsFailureNote
	default:
		e.Message = "no MTA-STS policy"
	}
	if t.err != nil {
		e.Message += "; " + t.err.Error()
	}
	r.emit(ctx, e)
}

// traceMTASTSHost reports how the domain's policy treats h.
func (r *Router) traceMTASTSHost(ctx context.Context, domain string, h *mxHost, p *mtasts.Policy) {
	if p == nil || h.tls.stsWhy == "" {
		return
	}
	rule := ruleSTSMatch
	if h.tls.policy != nil && h.tls.policy.Mode == TLSDANE {
		rule = ruleSTSvsDANE
	}
	e := Event{Step: StepMTASTSHost, Domain: domain, Host: h.name, Preference: h.pref, Rule: rule,
		Message: fmt.Sprintf("%s (%d) %s (policy id %s)", h.name, h.pref, h.tls.stsWhy, p.ID)}
	if h.err != nil && h.err.Err == ErrMTASTS {
		e.Err = h.err
	}
	r.emit(ctx, e)
}

// traceTLSA reports h's DANE decision.
func (r *Router) traceTLSA(ctx context.Context, domain string, h *mxHost) {
	t := h.tls
	if r.Trace == nil || t == nil || t.daneWhy == "" {
		return
	}
	e := Event{Step: StepTLSA, Domain: domain, Host: h.name, Preference: h.pref, Rule: t.daneRule, Target: t.daneBase,
		Message: h.name + ": " + t.daneWhy, Authentic: t.dane != nil}
	if t.dane != nil {
		e.Count = len(t.dane.Records)
	}
	if t.daneErr != nil {
		e.Err = t.daneErr
	}
	r.emit(ctx, e)
}
