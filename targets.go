package mxroute

import (
	"context"
	"iter"
	"net/netip"
)

// Targets streams the targets of domain: exactly those Route(ctx, domain)
// would return in Route.Targets, in the same order (for the same Rand
// state), each yielded as soon as it and every target before it are known.
// With all A/AAAA questions asked in parallel after the MX RRset, the first
// target arrives after two round-trips, even when a later host is slow or
// never answers, so an MTA can connect while the rest is still resolving.
//
// Targets yields errors only at the end, at most once, as (Target{}, err)
// with err the *Error Route would return: when no target could be yielded
// (a bounce or a deferral), or when ctx ended before the route was complete
// (then after the targets already yielded; ErrTemporary). The loop guard
// holds back a host until every host at or below its preference has been
// looked up, when LocalAddrs is set, since any of them may turn out to be
// this host and drop it.
//
// Stopping the iteration early (break) cancels the lookups still in flight;
// no goroutine started by Targets outlives the iteration. Each iteration of
// the returned sequence routes afresh.
func (r *Router) Targets(ctx context.Context, domain string) iter.Seq2[Target, error] {
	return func(yield func(Target, error) bool) {
		ro, err := r.begin(ctx, domain)
		if err != nil {
			yield(Target{}, err)
			return
		}
		ro.startLookups(ctx)
		defer ro.stop()
		n, done := ro.stream(ctx, yield)
		switch {
		case done:
		case n == 0:
			// Nothing usable: the verdict is Route's, over the same
			// lookups (all ended by now, or ending with ctx).
			ro.wait()
			if _, err := ro.finish(ctx); err != nil {
				yield(Target{}, err)
			}
		case ctx.Err() != nil:
			yield(Target{}, ctxError(domain, ctx.Err()))
		}
	}
}

// stream yields the usable addresses of the hosts in route order as their
// lookups end, applying the loop guard by address, MaxHosts, the Family,
// de-duplication and MaxAddrs as finish does. It returns the number of
// targets yielded and whether the iteration is over (the consumer stopped,
// or MaxAddrs was reached); otherwise the route ended or was cut short by
// ctx or the loop guard.
func (ro *routing) stream(ctx context.Context, yield func(Target, error) bool) (n int, done bool) {
	r := ro.r
	hosts := ro.hosts
	last := len(hosts)
	if r.MaxHosts > 0 {
		last = min(last, r.MaxHosts)
	}
	guard := len(r.LocalAddrs) > 0
	checked := 0 // hosts[:checked] are known not to be this host
	var seen addrSet
	var buf []netip.Addr
	for _, h := range hosts[:last] {
		if guard {
			// RFC 5321, Section 5.1: a match drops "all records at that
			// preference level and higher-numbered ones", so h is safe
			// only once no host at or below its preference matches.
			for ; checked < len(hosts) && hosts[checked].pref <= h.pref; checked++ {
				hosts[checked].wait()
				if r.isSelf(hosts[checked]) {
					return n, false
				}
			}
		} else {
			h.wait()
		}
		if ctx.Err() != nil {
			return n, false
		}
		if h.err != nil {
			continue
		}
		buf = r.appendHostAddrs(buf[:0], h)
		for _, a := range buf {
			if !seen.add(a) {
				continue
			}
			if !yield(Target{Host: h.name, Preference: h.pref, Addr: a}, nil) {
				return n, true
			}
			if n++; n == r.MaxAddrs {
				return n, true
			}
		}
	}
	return n, false
}
