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
// (then after the targets already yielded; ErrTemporary). Once every host
// has been seen to its end (the last target yielded, the hosts after it
// known unusable), the route is complete: ctx ending afterwards is no error.
// The loop guard holds back a host until every host at or below its
// preference has been looked up, when LocalAddrs or LocalNames is set,
// since any of them may turn out to be this host (by address, or by a
// CNAME to one of LocalNames) and drop it.
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
		ro.startLookups(ctx, ro.hosts)
		defer ro.stopMTASTS()
		defer ro.stop()
		n, end := ro.stream(ctx, yield)
		switch {
		case end == streamStopped:
		case n == 0:
			// Nothing usable: the verdict is Route's, over the same
			// lookups (all ended by now, or ending with ctx).
			if _, err := ro.finish(ctx); err != nil {
				yield(Target{}, err)
			}
		case end == streamCut:
			yield(Target{}, ctxError(domain, ctx.Err()))
		}
	}
}

// How a stream ended.
type streamEnd int

const (
	streamComplete streamEnd = iota // every host seen to its end: the route is complete
	streamStopped                   // the consumer stopped, or MaxAddrs was reached
	streamCut                       // ctx ended before the route was complete
)

// stream yields the usable addresses of the hosts in route order as their
// lookups end, applying the loop guard by address and CNAME, MaxHosts
// (looking further down the list as finish does), the Family,
// special-purpose addresses, de-duplication and MaxAddrs as finish does.
// It returns the number of targets yielded and how it ended.
func (ro *routing) stream(ctx context.Context, yield func(Target, error) bool) (n int, _ streamEnd) {
	r := ro.r
	guard := r.guardsAfterLookup()
	checked := 0 // ro.hosts[:checked] are known not to be this host
	usable := 0
	var seen addrSet
	var buf []netip.Addr
	for i := 0; ; i++ {
		if i == len(ro.hosts) && !ro.lookFurther(ctx) {
			return n, streamComplete
		}
		h := ro.hosts[i]
		if guard {
			// RFC 5321, Section 5.1: a match drops "all records at that
			// preference level and higher-numbered ones", so h is safe
			// only once no host at or below its preference matches.
			for ; checked < len(ro.hosts) && ro.hosts[checked].pref <= h.pref; checked++ {
				c := ro.hosts[checked]
				c.wait()
				if c.cut() {
					return n, streamCut
				}
				if r.isSelf(c) {
					return n, streamComplete
				}
			}
		} else if h.wait(); h.cut() {
			return n, streamCut
		}
		if ro.settle(ctx, h) { // its TLS policy, which may make it unusable
			return n, streamCut
		}
		if !r.hasTarget(h) {
			continue
		}
		buf = r.appendHostAddrs(buf[:0], h)
		for _, a := range buf {
			if !seen.add(a) {
				continue
			}
			if ctx.Err() != nil {
				return n, streamCut
			}
			if !yield(Target{Host: h.name, Preference: h.pref, Addr: a, TLS: h.tlsPolicy(), Authentic: ro.rt.Authentic}, nil) {
				return n, streamStopped
			}
			if n++; n == r.MaxAddrs {
				return n, streamStopped
			}
		}
		if usable++; usable == r.MaxHosts {
			return n, streamComplete
		}
	}
}
