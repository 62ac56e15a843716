// Package mxroute turns a mail domain into the ordered, retry-ready list of
// addresses an SMTP client should try, following RFC 5321, Section 5.1 and the
// rules around it:
//
//   - MX records sorted by preference, equal preferences shuffled (RFC 5321,
//     Section 5.1; RFC 1123, Section 5.3.4);
//   - no MX records: the domain itself, at preference 0 (the implicit MX);
//     no such domain: a bounce;
//   - a null MX "MX 0 ." (RFC 7505): the domain takes no mail, a bounce with
//     no fallback to its addresses;
//   - CNAMEs followed, with loop and length limits, for the domain and for
//     mail hosts;
//   - every address of a multihomed host, in the resolver's order, families
//     ordered by [Family] (RFC 6724, RFC 8305);
//   - the loop guard of a relay that finds itself among the mail exchangers;
//   - every failure an [*Error] that says defer or bounce, with an RFC 3463
//     status code;
//   - every decision reported, with the rule behind it, to Router.Trace
//     ([SlogTrace] logs them with log/slog).
//
// A zero [Router] routes through the resolvers of /etc/resolv.conf:
//
//	rt, err := new(mxroute.Router).Route(ctx, "example.com")
//	if err != nil {
//		if mxroute.IsTemporary(err) { /* defer */ } else { /* bounce */ }
//	}
//	for _, t := range rt.Targets() { /* connect to t.Addr, port 25 */ }
//
// [Router.Targets] streams the same targets as they become known, so that
// delivery can start before the last host is resolved.
//
// DNS is reached only through a [Resolver]: [DNSResolver] talks to DNS
// servers, [ZoneResolver] answers from zone files (tests, offline tools),
// [SystemResolver] adapts Go's net.Resolver, and [ResolverFunc] adapts a
// function. A [Cache] in front of any of them remembers answers for their
// TTL; a route it can answer costs microseconds.
//
// # Connecting
//
// A [Dialer] walks the targets of [Router.Targets] in route order and returns
// the first connection whose server greets with 220, as a [Conn] any SMTP
// client can take over. It passes addresses that refuse, time out, drop or
// greet with 4xx or 5xx; with Stagger set it starts the next attempt beside a
// slow one (RFC 8305, Section 5). When no server greets it says defer
// ([ErrNoConnection], always temporary, each attempt in [Error.Attempts]); the
// route's own errors come back as Route gives them, and a bounce dials nothing.
//
// # TLS policies
//
// With [Router.MTASTS] (an [mtasts.Client], RFC 8461) or [Router.DANE] (RFC
// 7672, which needs a Resolver that reports DNSSEC status, such as a
// [DNSResolver] with DNSSEC set), every Host, Target and Conn carries a
// [*TLSPolicy]: its [TLSMode], whether TLS is [TLSPolicy.Required], and the
// tls.Config for STARTTLS that checks the certificate as the policy asks
// ([TLSPolicy.TLSConfig]). A policy is never dropped in silence: a host that an
// enforced MTA-STS policy excludes, or whose TLSA lookup failed, is unusable
// with a temporary error, and a cached MTA-STS policy outlives a failed fetch.
// The packages mtasts and dane work on their own for any MTA too.
//
// With [Dialer.StartTLS] the Dialer does EHLO and STARTTLS as each target's
// policy asks, and with [Dialer.TLSReports] (a tlsrpt.Collector) it counts
// each attempt's TLS session for the daily reports of SMTP TLS Reporting (RFC
// 8460), which package tlsrpt writes and delivers.
package mxroute

import (
	"context"
	"crypto/x509"
	"fmt"
	"math/rand/v2"
	"net/netip"

	"github.com/mxroute-go/mxroute/mtasts"
)

// A Router computes delivery routes. Its zero value is ready to use, and a
// Router is safe for concurrent use as long as its fields are not changed.
type Router struct {
	// Resolver asks DNS. nil: a DNSResolver configured from /etc/resolv.conf.
	Resolver Resolver
	// LocalNames are this host's names, for the loop guard (RFC 5321,
	// Section 5.1): matched case-insensitively, trailing dot ignored,
	// against each mail host's name and the CNAME chain its lookups
	// followed (an alias of this host is this host). Empty: none.
	LocalNames []string
	// LocalAddrs are this host's addresses, for the loop guard; they are
	// known only once looked up, so every host up to this host's
	// preference is looked up before MaxHosts applies. A host whose
	// lookups fail is not recognised: set LocalNames too. Empty: none.
	LocalAddrs []netip.Addr
	// Rand shuffles mail hosts of equal preference: a seeded Rand
	// (math/rand/v2) gives a reproducible order. The Router locks it while
	// it draws, so it may route from many goroutines, but nothing else may
	// use the Rand at the same time. nil: a random order per call.
	Rand *rand.Rand
	// MaxHosts bounds the usable mail hosts looked up and returned, after
	// the loop guard and in route order; hosts found unusable take no
	// place and stay in Route.Hosts with their Err, so a limit never turns
	// a deliverable domain into a bounce (docs/rules.md, rule 10). 0: no limit.
	MaxHosts int
	// MaxAddrs bounds the addresses in Route.Targets; hosts after the one
	// where it is reached are dropped. RFC 5321, Section 5.1 asks that at
	// least two be tried. 0: no limit.
	MaxAddrs int
	// AllowLoopback lets loopback addresses (127.0.0.0/8, ::1) be targets,
	// for test harnesses and local relays. false: dropped like every other
	// special-purpose address (special.go), since an MX pointing there
	// hands the mail to this host's own listener, which may trust it.
	AllowLoopback bool
	// Family selects the address families and their order within a host.
	// The zero value, AnyFamily, uses both, IPv6 first.
	Family Family
	// MaxMX bounds the MX records used from one response, keeping the most
	// preferred, so a hostile 65,535-record RRset costs no more than a
	// normal one. 0: 100.
	MaxMX int
	// MaxAddrsPerHost bounds the records used from each A and AAAA
	// response, and the addresses kept per host. 0: 64.
	MaxAddrsPerHost int
	// MaxLookups bounds the A/AAAA questions of one route in flight at
	// once, and so the goroutines it starts (a Cache hit starts none).
	// 0: 64, the AAAA and A of 32 hosts in one round-trip; with DANE, whose
	// TLSA questions count too, 96.
	MaxLookups int
	// UseAdditional lets addresses in the MX response's additional section
	// stand in for the A/AAAA lookups of in-bailiwick hosts, saving a
	// round-trip. false: every address is asked for, since RFC 2181,
	// Section 5.4.1 ranks additional data below answers (docs/rules.md, The
	// additional section).
	UseAdditional bool
	// Trace is called with each decision of a route as it is made, in
	// route order, with its rule (see Step and docs/rules.md): by Route,
	// and alike by Targets and Dialer.Dial, on the goroutine that routes
	// (never a lookup's). It may be called from several goroutines at once
	// and the route waits for it. nil: no tracing, at no cost. SlogTrace
	// adapts a *slog.Logger.
	Trace func(ctx context.Context, e Event)
	// MTASTS applies the recipient domain's MTA-STS policy (RFC 8461): its
	// TXT question goes out with the MX question, and in mode enforce a
	// host matching no mx pattern is unusable (temporary, ErrMTASTS); a
	// policy that must be fetched holds the hosts until it is, or until ctx
	// ends (docs/rules.md, rule 13). nil: no MTA-STS.
	MTASTS *mtasts.Client
	// DANE asks for each mail host's TLSA records (RFC 7672) when the MX
	// RRset is authentic, in the round of its addresses: secure records make
	// the host require DANE (Host.TLS), a failed lookup makes it unusable,
	// temporary (docs/rules.md, rule 14). It needs a Resolver that reports DNSSEC
	// status: a DNSResolver with DNSSEC whose server is a trusted validating
	// resolver (loopback, TrustAD). Through one that never does (a
	// ZoneResolver, a SystemResolver, a DNSResolver without DNSSEC, the
	// default one) DANE never applies, and every route's trace says so
	// (StepDANEUnavailable). false: no TLSA questions.
	DANE bool
	// RootCAs are the roots an MTA-STS host's certificate must chain to
	// (TLSPolicy.TLSConfig). nil: the system's roots.
	RootCAs *x509.CertPool
}

// defaultResolver serves Routers whose Resolver is nil.
var defaultResolver Resolver = &DNSResolver{}

func (r *Router) resolver() Resolver {
	if r.Resolver != nil {
		return r.Resolver
	}
	return defaultResolver
}

// A Route is where mail for one domain goes.
type Route struct {
	Domain    string // the domain asked for: lower case, A-label, no trailing dot; or an address literal
	Canonical string // after following CNAMEs (equal to Domain when there were none)
	Implicit  bool   // no MX RRset: the domain itself is the one host, preference 0
	Hosts     []Host // in the order to try
	// Authentic: the MX RRset, or for an implicit MX the NODATA that says
	// there is none, came with the AD bit set in every response of its
	// CNAME chain (DNSSEC-validated by the recursive resolver; see
	// DNSResolver.DNSSEC). false: not authenticated or not known
	// (ZoneResolver and SystemResolver never claim it; an address
	// literal is not from DNS).
	Authentic bool
}

// A Host is one mail exchanger of a Route.
type Host struct {
	Name       string       // as published in the MX record, lower case, no trailing dot; the canonical domain for an implicit MX; "[192.0.2.1]" for an address literal
	Preference uint16       // the MX preference; 0 for an implicit MX or an address literal
	Addrs      []netip.Addr // in the order to try; empty when Err is set
	Err        error        // why this host is unusable (a *Error), or nil
	// Authentic: every address lookup made for this host (AAAA and/or A,
	// CNAMEs included, NODATA too) was answered with the AD bit set. DANE
	// (RFC 7672) needs it, with Route.Authentic, before it trusts the
	// host's TLSA records. false when any lookup failed or was not
	// authenticated, and for an address literal.
	Authentic bool
	// Canonical is Name after the CNAMEs of its address lookups (lower
	// case, no trailing dot): the name DANE looks up first (RFC 7672,
	// Section 2.2.2). Equal to Name when there were none.
	Canonical string
	// TLS is what STARTTLS to this host must verify (DANE, MTA-STS or
	// opportunistic), with the tls.Config for it. nil when the Router has
	// neither MTASTS nor DANE, and for an address literal (opportunistic;
	// its methods work on nil).
	TLS *TLSPolicy
}

// A Target is one address to try, with the host it belongs to.
type Target struct {
	Host       string
	Preference uint16
	Addr       netip.Addr
	// TLS is the host's TLS policy (Host.TLS): nil without Router.MTASTS
	// and Router.DANE.
	TLS *TLSPolicy
	// Authentic is the route's Route.Authentic: the MX RRset was
	// DNSSEC-authenticated.
	Authentic bool
}

// Targets returns every usable address of the route, in the order to try:
// hosts in route order, each host's addresses in their order.
func (rt *Route) Targets() []Target {
	if rt == nil {
		return nil
	}
	n := 0
	for _, h := range rt.Hosts {
		n += len(h.Addrs)
	}
	out := make([]Target, 0, n)
	for _, h := range rt.Hosts {
		for _, a := range h.Addrs {
			out = append(out, Target{Host: h.Name, Preference: h.Preference, Addr: a, TLS: h.TLS, Authentic: rt.Authentic})
		}
	}
	return out
}

// Route computes where mail for domain goes. domain is a domain name (case
// and a trailing dot do not matter, U-labels are converted to A-labels) or an
// RFC 5321 address literal such as "[192.0.2.1]" or "[IPv6:2001:db8::1]",
// which routes to that address without DNS.
//
// Every error is an *Error: errors.Is tells which sentinel, IsTemporary
// whether to defer or bounce. When err is ErrNoAddress the Route is returned
// too, for diagnostics: its Hosts say why each host is unusable, and it has
// no Targets. With any other error the Route is nil.
//
// A route costs two round-trips: one for the MX RRset, one for the A and
// AAAA records of all its hosts, asked in parallel. [Router.Targets] gives
// the same targets as they become known.
func (r *Router) Route(ctx context.Context, domain string) (*Route, error) {
	rt, err := r.route(ctx, domain)
	if r.Trace != nil {
		r.Trace(ctx, doneEvent(domain, rt, err))
	}
	return rt, err
}

// route is Route but for its last event.
func (r *Router) route(ctx context.Context, domain string) (*Route, error) {
	ro, err := r.begin(ctx, domain)
	if err != nil {
		return nil, err
	}
	defer ro.stopMTASTS()
	ro.startLookups(ctx, ro.hosts)
	return ro.finish(ctx)
}

// finish waits for the lookups, walks the hosts (see routing.walk) and makes
// the Route, or says why there is none.
func (ro *routing) finish(ctx context.Context) (*Route, error) {
	ro.wait()
	n := 0
	for _, h := range ro.hosts {
		n += len(h.v6.addrs) + len(h.v4.addrs)
	}
	end, err := ro.walk(ctx, make([]netip.Addr, 0, n), nil) // one array for every host's addresses
	ro.stop()                                               // the lookups of hosts past a limit
	switch {
	case err != nil:
		return nil, err // the loop guard left no host
	case end == walkCut || ctx.Err() != nil:
		return nil, ctxError(ro.domain, ctx.Err())
	}
	rt := ro.rt
	if err := ro.noTarget(ctx); err != nil {
		if rt.Implicit {
			return nil, err
		}
		rt.Hosts = publicHosts(ro.hosts) // for diagnostics: why each host is unusable
		return rt, err
	}
	rt.Hosts = publicHosts(ro.hosts)
	return rt, nil
}

// doneEvent is the last event of Route: what it returns.
func doneEvent(domain string, rt *Route, err error) Event {
	e := Event{Step: StepDone, Domain: domain, Err: err}
	if err != nil {
		verdict := "bounce"
		if IsTemporary(err) {
			verdict = "defer"
		}
		e.Message = verdict + ": " + err.Error()
		return e
	}
	for _, h := range rt.Hosts {
		e.Count += len(h.Addrs)
	}
	e.Message = fmt.Sprintf("routed: %d host(s), %d address(es) to try", len(rt.Hosts), e.Count)
	return e
}
