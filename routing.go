package mxroute

import (
	"context"
	"net/netip"
	"slices"
)

// One route being computed: its mail hosts (mxHost, the type every stage
// works on), the stages Route and Targets share, in the order they run, and
// MaxHosts. Router.Route (mxroute.go) and Router.Targets (targets.go) drive them.

// mxHost is one mail host on its way to becoming a Host.
type mxHost struct {
	name   string       // lower case, no trailing dot
	fqdn   string       // name with the trailing dot, as asked
	pref   uint16       //
	err    *Error       // unusable before any lookup (an IP address as MX target)
	v6, v4 addrResult   // the AAAA and A lookups
	addrs  []netip.Addr // final, ordered and de-duplicated

	left  int32         // lookups in flight, changed atomically
	ready chan struct{} // closed when left drops to 0; nil when nothing was in flight

	tls *hostTLS // TLSA lookups and TLS policy (Router.MTASTS, Router.DANE), or nil
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
	tls   *routeTLS  // MTA-STS (Router.MTASTS), or nil

	daneTraced bool // the route's one DANE event of an unauthenticated MX RRset (see settle) is out
}

// trace returns the route's tracer: each stage reports its decisions
// through it as it makes them.
func (ro *routing) trace() tracer { return tracer{fn: ro.r.Trace, domain: ro.domain} }

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
	} else {
		ro.startMTASTS(ctx, dest.name) // in parallel with the MX question
		if err := ro.mx(ctx, dest.name); err != nil {
			ro.stopMTASTS()
			return nil, err
		}
	}
	hosts, dropped, self := r.loopGuard(ro.hosts)
	r.traceLoopGuard(ctx, domain, dropped, nil)
	if ro.self = self; self && len(hosts) == 0 {
		ro.stopMTASTS()
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
		n = tieEnd(hosts, n-1)
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

// hasTarget reports whether h, looked up, has an address the Router may
// use: in a family it uses, and no special-purpose address. Such a host
// takes a place under MaxHosts; one without takes none.
func (r *Router) hasTarget(h *mxHost) bool {
	if h.err != nil {
		return false
	}
	for _, addrs := range r.usedAddrs(h) {
		if slices.ContainsFunc(addrs, func(a netip.Addr) bool { return r.special(a) == nil }) {
			return true
		}
	}
	return false
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
		ro.settleAll(ctx) // TLS policies: before lookFurther counts usable hosts
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

// publicHosts turns the route's mail hosts into the Hosts of its Route.
func publicHosts(hosts []*mxHost) []Host {
	out := make([]Host, len(hosts))
	for i, h := range hosts {
		out[i] = Host{Name: h.name, Preference: h.pref, Addrs: h.addrs, Authentic: h.authentic(),
			Canonical: h.canonical(), TLS: h.tlsPolicy()}
		if h.err != nil {
			out[i].Err = h.err // only when set: a nil *Error in an error is not nil
		}
	}
	return out
}
