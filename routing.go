package mxroute

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
)

// One route being computed: its mail hosts (mxHost, the type every stage
// works on), the stages Route and Targets share, in the order they run
// (begin, the lookups, then the walk of the hosts), and MaxHosts.
// Router.Route (mxroute.go) and Router.Targets (targets.go) drive them.

// mxHost is one mail host on its way to becoming a Host.
type mxHost struct {
	name   string       // lower case, no trailing dot
	fqdn   string       // name with the trailing dot, as asked
	pref   uint16       //
	err    *Error       // why it is unusable: before any lookup (an MX target that is no host name), by its TLS policy, or once decided
	v6, v4 addrResult   // the AAAA and A lookups
	addrs  []netip.Addr // final, ordered and de-duplicated

	left  int32         // lookups in flight, changed atomically
	ready chan struct{} // closed when left drops to 0; nil when nothing was in flight

	tls *hostTLS // TLSA lookups and TLS policy (Router.MTASTS, Router.DANE), or nil
}

// routing is one route being computed. Its stages, shared by Route and
// Targets: begin (the domain, its MX RRset, sorted hosts, the loop guard by
// name, the hosts to look up), startLookups (their A/AAAA questions, in
// parallel), then walk (each host in route order: the loop guard by address,
// its TLS policy, its addresses and errors, de-duplication and the limits).
// Each stage reports its decisions as it makes them (see trace).
type routing struct {
	r      *Router
	res    Resolver
	domain string    // as given to Route
	rt     *Route    // Hosts not yet set
	hosts  []*mxHost // sorted, after the loop guard by name: the hosts looked up; after the walk, the route's
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
	if err := ro.loopGuard(ctx); err != nil {
		ro.stopMTASTS()
		return nil, err
	}
	n := r.lookupCount(ro.hosts, r.MaxHosts)
	ro.hosts, ro.beyond, ro.round = ro.hosts[:n], ro.hosts[n:], n
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
	if r.guards() && n > 0 {
		n = tieEnd(hosts, n-1)
	}
	return n
}

// lookFurther starts a further round of lookups when MaxHosts is set, the hosts
// looked up so far (all decided) have fewer usable ones than MaxHosts, and
// hosts are left beyond them. It reports whether it started one.
//
// Each further round takes at least twice the hosts of the one before, so a
// list of many unusable hosts (a hostile RRset of MaxMX bad targets, with
// MaxHosts 1) costs a few rounds, not one round-trip per host; the hosts
// looked up past the MaxHosts-th usable one are cut as usual.
func (ro *routing) lookFurther(ctx context.Context, usable int) bool {
	r := ro.r
	if r.MaxHosts <= 0 || len(ro.beyond) == 0 || usable >= r.MaxHosts {
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

// hasTarget reports whether h, looked up, has an address the Router may
// use: in a family it uses, and no special-purpose address. Only such a
// host is made unusable by its TLS policy (see settle): one without has
// its own reason.
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

// walkEnd says how a walk of the hosts ended.
type walkEnd int

const (
	walkComplete walkEnd = iota // every host decided, or dropped by the loop guard or a limit
	walkStopped                 // take asked to stop
	walkCut                     // ctx ended before the route was complete
)

// walk decides the hosts in route order, each as soon as its lookups have
// ended, and hands each host left with addresses to take (nil: to none).
// Route and Targets share it, so that they decide alike and report alike,
// in the same order. For each host: the loop guard by address and CNAME, its
// TLS policy (settle), its addresses and errors (decide), de-duplication
// and MaxAddrs; after it, MaxHosts. It looks further down the list when the
// hosts looked up run out (lookFurther). Hosts' addresses are appended to
// buf. On a complete walk ro.hosts are the route's hosts (Route.Hosts);
// the error is ErrLoop when the loop guard left none.
func (ro *routing) walk(ctx context.Context, buf []netip.Addr, take func(*mxHost) bool) (walkEnd, *Error) {
	r := ro.r
	guard := r.guards()
	var seen addrSet // every address listed so far
	checked := 0     // ro.hosts[:checked] are known not to be this host
	kept := 0        // ro.hosts[:kept] are the route's hosts so far
	usable := 0      // hosts with an address: MaxHosts counts them
	listed := 0      // addresses listed: MaxAddrs counts them
	for i := 0; ; i++ {
		if i == len(ro.hosts) && !ro.lookFurther(ctx, usable) {
			break
		}
		h := ro.hosts[i]
		if guard {
			// RFC 5321, Section 5.1: a match drops "all records at that
			// preference level and higher-numbered ones", so h is safe
			// only once no host at or below its preference matches.
			self, cut := ro.findSelf(&checked, h.pref)
			if cut {
				return walkCut, nil
			}
			if self >= 0 {
				if err := ro.dropSelf(ctx, i, self); err != nil {
					return walkComplete, err
				}
				break
			}
		} else if h.wait(); h.cut() {
			return walkCut, nil
		}
		if ro.settle(ctx, h) { // its TLS policy, which may make it unusable
			return walkCut, nil
		}
		buf = ro.decide(ctx, buf, h)
		if ro.dedupe(ctx, &seen, h, ro.hosts[:kept]) {
			ro.hosts[kept] = h // i >= kept: the walk is past it
			kept++
		}
		full := ro.limit(ctx, h, &listed)
		if take != nil && len(h.addrs) > 0 && !take(h) {
			return walkStopped, nil
		}
		if h.err != nil {
			continue
		}
		if usable++; usable == r.MaxHosts {
			ro.dropRest(ctx, i+1, StepMaxHosts, "MaxHosts", r.MaxHosts)
			break
		}
		if full {
			ro.dropRest(ctx, i+1, StepMaxAddrsDropped, "MaxAddrs", r.MaxAddrs)
			break
		}
	}
	ro.hosts = ro.hosts[:kept]
	return walkComplete, nil
}

// dropRest drops the hosts from ro.hosts[from] on and those beyond the
// lookups, reporting each with step: they come after the host where a limit
// was reached (RFC 5321, Section 5.1: "there MAY also be a configurable
// limit on the number of alternate addresses that can be tried"). MaxHosts
// is reached first when both are.
func (ro *routing) dropRest(ctx context.Context, from int, step Step, limit string, n int) {
	if tr := ro.trace(); tr.on() {
		for _, hosts := range [2][]*mxHost{ro.hosts[from:], ro.beyond} {
			for _, h := range hosts {
				tr.emit(ctx, Event{Step: step, Host: h.name, Preference: h.pref, Rule: ruleRFC5321,
					Message: fmt.Sprintf("dropped %s (%d): beyond %s %d", h.name, h.pref, limit, n)})
			}
		}
	}
	ro.beyond = nil
}

// decide makes a host's own decisions once its lookups have ended and its
// TLS policy is settled: it reports the CNAMEs its lookups followed and the
// addresses they found, orders and filters them (hostAddrs), and when none
// is left says why the host is unusable (hostError), reporting that too. The
// addresses are appended to buf and become h.addrs. A host unusable before
// any lookup (an MX target that is an IP address or no host name) was
// reported with the MX RRset.
func (ro *routing) decide(ctx context.Context, buf []netip.Addr, h *mxHost) []netip.Addr {
	if !h.v6.looked && !h.v4.looked {
		return buf
	}
	r, tr := ro.r, ro.trace()
	if tr.on() {
		chain, from := h.v6.ans.chain, h.v6.ans.asked
		if len(chain) == 0 {
			chain, from = h.v4.ans.chain, h.v4.ans.asked
		}
		tr.cnames(ctx, h.name, h.pref, from, chain)
		if found := slices.Concat(h.v6.addrs, h.v4.addrs); len(found) > 0 {
			rrs := slices.Concat(h.v6.ans.rrs, h.v4.ans.rrs)
			ttl := minTTL(rrs)
			e := Event{Step: StepAddrs, Host: h.name, Preference: h.pref, Addrs: found, TTL: ttl, Count: len(found),
				Authentic: h.authentic(), Rule: ruleRFC5321, Message: fmt.Sprintf("%s (%d) has %s, TTL %d",
					h.name, h.pref, countFamilies(len(h.v6.addrs), len(h.v4.addrs)), ttl)}
			if len(rrs) == 0 { // an address literal: no DNS, no TTL
				e.Rule = ruleLiteral
				e.Message = h.name + " is an address literal: that address, no DNS"
			}
			tr.emit(ctx, e)
		}
	}
	start := len(buf)
	buf = ro.hostAddrs(ctx, buf, h)
	switch {
	case h.err != nil: // its TLS policy made it unusable (see settle)
		buf = buf[:start]
	case len(buf) == start:
		h.err = r.hostError(ro.domain, h)
	default:
		h.addrs = buf[start:len(buf):len(buf)]
		if tr.on() && r.Family == Interleave && len(h.addrs) > 1 {
			tr.emit(ctx, Event{Step: StepFamily, Host: h.name, Preference: h.pref, Count: len(h.addrs), Rule: ruleRFC8305,
				Message: h.name + ": address families interleaved, IPv6 first"})
		}
	}
	if h.err != nil && tr.on() {
		verdict := "permanent"
		if h.err.Temporary {
			verdict = "temporary"
		}
		tr.emit(ctx, Event{Step: StepUnusable, Host: h.name, Preference: h.pref, Err: h.err, Rule: ruleRFC5321,
			Message: fmt.Sprintf("%s (%d) unusable: %s (%s %s)", h.name, h.pref, h.err.Detail, verdict, h.err.Status)})
	}
	return buf
}

// noTarget is the error of a route whose walk is complete, when no host of
// it is usable; nil when one is. When ctx has ended, what the hosts say is
// not known: the route defers.
func (ro *routing) noTarget(ctx context.Context) *Error {
	if err := ctx.Err(); err != nil {
		return ctxError(ro.domain, err)
	}
	if ro.rt.Implicit && len(ro.hosts) == 1 && ro.hosts[0].err != nil {
		return ro.r.implicitError(ctx, ro.res, ro.domain, ro.hosts[0])
	}
	err := noAddressError(ro.domain, ro.hosts)
	if err != nil && ro.self {
		ro.noPrimary(err)
	}
	return err
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
