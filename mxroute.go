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
package mxroute

import (
	"context"
	"math/rand/v2"
	"net/netip"
)

// A Router computes delivery routes. Its zero value is ready to use, and a
// Router is safe for concurrent use as long as its fields are not changed.
type Router struct {
	// Resolver asks DNS. nil: a DNSResolver configured from /etc/resolv.conf.
	Resolver Resolver
	// LocalNames are this host's names, for the loop guard. Matched
	// case-insensitively, trailing dot ignored, against each mail host's
	// name and, once its lookups have ended, every name on its CNAME
	// chain (an alias of this host is this host); so, as with LocalAddrs,
	// the hosts tied with the last one MaxHosts looks up are looked up
	// too, and Targets yields a host only once every host at or below its
	// preference is known not to be this host. Empty: none.
	LocalNames []string
	// LocalAddrs are this host's addresses, for the loop guard. When set,
	// every mail host up to this host's own preference is looked up before
	// MaxHosts applies, since an address can only be recognised once known.
	// A host whose own lookup fails cannot be recognised by address, so set
	// LocalNames too. Empty: none.
	LocalAddrs []netip.Addr
	// Rand shuffles mail hosts of equal preference. nil: a random order per
	// call. A seeded Rand (math/rand/v2) gives a reproducible order; the
	// Router serialises its use of Rand, so it may still route from many
	// goroutines, but Rand must not be used elsewhere at the same time.
	Rand *rand.Rand
	// MaxHosts bounds the usable mail hosts looked up and returned, after
	// the loop guard and in route order: a host already known to be
	// unusable (an IP-address target or one that is no host name, NXDOMAIN,
	// no address, only special-purpose addresses, none in Family, a failed
	// lookup) takes no place, and the route looks further down the list
	// (a further round-trip, only when the first lookups left fewer usable
	// hosts than MaxHosts), so a cost limit never turns a deliverable domain
	// into a bounce. Unusable hosts met on the way stay in Route.Hosts with
	// their Err. 0: no limit.
	MaxHosts int
	// MaxAddrs bounds the addresses in Route.Targets; hosts after the one
	// where the limit is reached are dropped. 0: no limit. RFC 5321, Section
	// 5.1 asks that at least two be tried.
	MaxAddrs int
	// AllowLoopback lets loopback addresses (127.0.0.0/8, ::1) be targets,
	// for test harnesses and local relays whose mail server runs on this
	// host. false (the zero value): a loopback address in an A or AAAA
	// record or an address literal is dropped like every other
	// special-purpose address (see special.go), since an MX pointing
	// there would hand the mail to this host's own listener, which often
	// trusts localhost as a relay. The other special-purpose blocks
	// (0.0.0.0/8, ::, link-local, multicast, broadcast, reserved,
	// IPv4-mapped addresses in AAAA records) are never targets. An address
	// in LocalAddrs is this host for the loop guard, loopback or not.
	AllowLoopback bool
	// Family selects the address families and their order within a host.
	// The zero value, AnyFamily, uses both, IPv6 first.
	Family Family
	// MaxMX bounds the MX records used from one response: the MaxMX most
	// preferred (lowest preference values) are kept, the rest ignored, so
	// a hostile 65,535-record RRset costs no more than a normal one and a
	// cap never drops a better host for a worse one. 0: 100.
	MaxMX int
	// MaxAddrsPerHost bounds the records used from each A and AAAA
	// response, and the addresses kept for one host after ordering.
	// 0: 64.
	MaxAddrsPerHost int
	// MaxLookups bounds the A/AAAA questions of one route in flight at
	// once, and so the goroutines a route starts. 0: 64, the AAAA and A of
	// 32 mail hosts in one round-trip (a 20- or 30-host domain costs two
	// round-trips, not three), without letting a 100-record RRset fire 200
	// questions at once; DNSResolver.MaxInFlight bounds the exchanges of
	// all routes together. Questions a Cache answers start no goroutine.
	MaxLookups int
	// UseAdditional lets the addresses of mail hosts that the MX response
	// carries in its additional section stand in for their A/AAAA lookups,
	// saving that round-trip. Only records from the very response that
	// gave the MX RRset are used, only for hosts at or below the domain's
	// canonical name (in bailiwick), and only for the families present; the
	// rest is asked as usual. Off by default: additional records are not
	// answers to any question, RFC 2181, Section 5.4.1 ranks them below
	// every other kind of data ("Unauthenticated RRs received and cached
	// from the least trustworthy of those groupings ... should not be
	// cached in such a way that they would ever be returned as answers"),
	// and servers differ in what they add; a domain can move its mail hosts'
	// addresses without the MX response reflecting it at once.
	UseAdditional bool
	// Trace, when set, is called with each decision Route makes, in order:
	// the CNAMEs followed, the MX RRset, null MX, IP-address targets and
	// targets that are no host names, shuffled ties, hosts dropped by the
	// loop guard or the limits, each host's addresses, the special-purpose
	// ones dropped, or why it is unusable, and the result (see Step).
	// Targets reports the decisions made before the address lookups (up to
	// the loop guard by name); its targets are the rest of the story.
	// ctx is the one given to Route, so a value in it can tell one route's
	// events from another's. Trace may be called from several goroutines
	// at once (a Router routing concurrently), so it must be safe for
	// concurrent use; it should return quickly, as Route waits for it.
	// nil: no tracing, at no cost (no Event is built). SlogTrace adapts a
	// *slog.Logger.
	Trace func(ctx context.Context, e Event)
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
}

// A Target is one address to try, with the host it belongs to.
type Target struct {
	Host       string
	Preference uint16
	Addr       netip.Addr
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
			out = append(out, Target{Host: h.Name, Preference: h.Preference, Addr: a})
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
func (r *Router) Route(ctx context.Context, domain string) (out *Route, outErr error) {
	defer r.traceDone(ctx, domain, &out, &outErr)
	ro, err := r.begin(ctx, domain)
	if err != nil {
		return nil, err
	}
	ro.startLookups(ctx, ro.hosts)
	return ro.finish(ctx)
}

// routing is one route being computed. Its stages, shared by Route and
// Targets: begin (the domain, its MX RRset, sorted hosts, the loop guard by
// name, the hosts to look up), startLookups (their A/AAAA questions, in
// parallel), then finish (Route: the loop guard by address, limits, address
// order, errors) or the streaming loop of Targets.
type routing struct {
	r      *Router
	res    Resolver
	domain string    // as given to Route
	rt     *Route    // Hosts not yet set
	hosts  []*mxHost // sorted, after the loop guard by name: the hosts to look up
	beyond []*mxHost // after the loop guard by name, past the hosts to look up (MaxHosts)
	self   bool      // the loop guard found this host among the mail exchangers
	round  int       // hosts taken by the latest round of lookups (see lookFurther)

	first lookups    // the A/AAAA questions of the first round of lookups
	more  []*lookups // those of further rounds (see routing.lookFurther)
}

// begin runs the stages of a route before the address lookups: it parses
// the domain, asks for its MX RRset, sorts the hosts, applies the loop guard
// to what is known so far, and chooses the hosts to look up.
func (r *Router) begin(ctx context.Context, domain string) (*routing, *Error) {
	dest, perr := parseDomain(domain)
	if perr != nil {
		return nil, perr
	}
	ro := &routing{r: r, domain: domain}
	if dest.literal.IsValid() {
		ro.literal(dest.literal)
	} else if err := ro.mx(ctx, dest.name); err != nil {
		return nil, err
	}
	hosts, dropped, self := r.loopGuard(ro.hosts)
	r.traceLoopGuard(ctx, domain, dropped, nil)
	if ro.self = self; self && len(hosts) == 0 {
		return nil, ro.loopError()
	}
	n := r.lookupCount(hosts, r.MaxHosts)
	ro.hosts, ro.beyond, ro.round = hosts[:n], hosts[n:], n
	return ro, nil
}

// literal routes an address literal: one host, that address, no DNS.
// The loop guard and the Family still apply.
func (ro *routing) literal(addr netip.Addr) {
	h := &mxHost{name: "[" + addr.String() + "]"}
	if addr.Is4() {
		h.v4 = addrResult{looked: true, addrs: []netip.Addr{addr}}
		h.v6.looked = true
	} else {
		h.name = "[IPv6:" + addr.String() + "]"
		h.v6 = addrResult{looked: true, addrs: []netip.Addr{addr}}
		h.v4.looked = true
	}
	ro.rt = &Route{Domain: h.name, Canonical: h.name}
	ro.hosts = []*mxHost{h}
}

// lookupCount returns how many of hosts (sorted, the next ones in route
// order) to look up to find want usable ones, without MaxHosts all of them:
// hosts known to be unusable before any lookup (an IP-address target) come
// along at no cost and take no place. When the loop guard needs lookups
// (LocalAddrs, or LocalNames and CNAMEs), every further host at the
// preference of the last one is taken too, since one of those may turn
// out to be this host and drop its whole preference (see loopGuard).
func (r *Router) lookupCount(hosts []*mxHost, want int) int {
	if r.MaxHosts <= 0 {
		return len(hosts)
	}
	n := 0
	for got := 0; n < len(hosts) && got < want; n++ {
		if hosts[n].err == nil {
			got++
		}
	}
	if r.guardsAfterLookup() && n > 0 {
		for n < len(hosts) && hosts[n].pref == hosts[n-1].pref {
			n++
		}
	}
	return n
}

// lookFurther starts a further round of lookups when MaxHosts is set, the hosts
// looked up so far (all ended) have fewer usable ones than MaxHosts, and
// hosts are left beyond them. It reports whether it started one.
//
// Each further round takes at least twice the hosts of the one before, so a
// list of many unusable hosts (a hostile RRset of MaxMX bad targets, with
// MaxHosts 1) costs a few rounds, not one round-trip per host; the hosts
// looked up past the MaxHosts-th usable one are cut as usual.
func (ro *routing) lookFurther(ctx context.Context) bool {
	r := ro.r
	if r.MaxHosts <= 0 || len(ro.beyond) == 0 {
		return false
	}
	usable := 0
	for _, h := range ro.hosts {
		if r.hasTarget(h) {
			usable++
		}
	}
	if usable >= r.MaxHosts {
		return false
	}
	n := r.lookupCount(ro.beyond, max(r.MaxHosts-usable, 2*ro.round))
	ro.round = n
	next := ro.beyond[:n]
	ro.hosts = append(ro.hosts[:len(ro.hosts):len(ro.hosts)], next...)
	ro.beyond = ro.beyond[n:]
	ro.startLookups(ctx, next)
	return true
}

// maxHostsCut returns the number of hosts to keep: up to and including the
// MaxHosts-th usable one (all of them without MaxHosts).
func (r *Router) maxHostsCut(hosts []*mxHost) int {
	if r.MaxHosts <= 0 {
		return len(hosts)
	}
	usable := 0
	for i, h := range hosts {
		if r.hasTarget(h) {
			if usable++; usable == r.MaxHosts {
				return i + 1
			}
		}
	}
	return len(hosts)
}

// finish waits for the lookups, applies the loop guard to what they found
// (addresses, CNAMEs), looks further while MaxHosts is not reached (see
// lookFurther), cuts at MaxHosts, orders and de-duplicates the addresses, applies
// MaxAddrs and says why the route is unusable if it is.
func (ro *routing) finish(ctx context.Context) (*Route, error) {
	r, domain, rt := ro.r, ro.domain, ro.rt
	for {
		ro.wait()
		if r.guardsAfterLookup() {
			if kept, dropped, self := r.loopGuard(ro.hosts); self {
				// The hosts past the lookup set are at or above this
				// host's preference too (see lookupCount): the loop
				// guard drops them.
				r.traceLoopGuard(ctx, domain, dropped, ro.beyond)
				ro.self, ro.hosts, ro.beyond = true, kept, nil
				if len(kept) == 0 {
					return nil, ro.loopError()
				}
			}
		}
		if ctx.Err() != nil || !ro.lookFurther(ctx) {
			break // a done ctx: the route defers below, no more rounds
		}
	}
	hosts := ro.hosts
	beyond := ro.beyond // past MaxHosts, never looked up
	if cut := r.maxHostsCut(hosts); cut < len(hosts) {
		r.traceMaxHosts(ctx, domain, hosts[cut:])
		hosts = hosts[:cut]
	}
	r.traceMaxHosts(ctx, domain, beyond)
	if err := ctx.Err(); err != nil {
		return nil, ctxError(domain, err)
	}
	n := 0
	for _, h := range hosts {
		n += len(h.v6.addrs) + len(h.v4.addrs)
	}
	buf := make([]netip.Addr, 0, n) // one array for every host's addresses
	for _, h := range hosts {
		if h.err != nil {
			continue
		}
		start := len(buf)
		buf = r.appendHostAddrs(buf, h)
		if h.addrs = buf[start:len(buf):len(buf)]; len(h.addrs) == 0 {
			h.err = r.hostError(domain, h)
		}
	}
	r.traceHosts(ctx, domain, hosts)
	if rt.Implicit && hosts[0].err != nil {
		return nil, r.implicitError(ctx, ro.res, domain, hosts[0])
	}
	r.traceDedupe(ctx, domain, hosts)
	hosts = dedupeAddrs(hosts)
	if err := noAddressError(domain, hosts); err != nil {
		if ro.self {
			ro.noPrimary(err)
		}
		rt.Hosts = publicHosts(hosts)
		return rt, err
	}
	r.traceMaxAddrs(ctx, domain, hosts)
	rt.Hosts = publicHosts(limitAddrs(hosts, r.MaxAddrs))
	return rt, nil
}

func publicHosts(hosts []*mxHost) []Host {
	out := make([]Host, len(hosts))
	for i, h := range hosts {
		out[i] = Host{Name: h.name, Preference: h.pref, Addrs: h.addrs, Authentic: h.authentic()}
		if h.err != nil {
			out[i].Err = h.err // only when set: a nil *Error in an error is not nil
		}
	}
	return out
}
