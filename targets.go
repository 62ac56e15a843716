package mxroute

import (
	"context"
	"iter"
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
// Router.Trace sees the decisions Route reports, in the same order, each as
// it is made (a host's before its targets are yielded), up to where the
// iteration ends; StepDone is Route's alone.
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
		n, cut := 0, false
		end, lerr := ro.walk(ctx, nil, func(h *mxHost) bool {
			for _, a := range h.addrs {
				if ctx.Err() != nil {
					cut = true
					return false
				}
				if !yield(Target{Host: h.name, Preference: h.pref, Addr: a, TLS: h.tlsPolicy(), Authentic: ro.rt.Authentic}, nil) {
					return false
				}
				n++
			}
			return true
		})
		switch {
		case lerr != nil:
			yield(Target{}, lerr) // the loop guard left no host
		case end == walkCut || cut:
			yield(Target{}, ctxError(domain, ctx.Err()))
		case end == walkStopped:
		case n == 0:
			// Nothing usable: Route's verdict, over the same hosts.
			if err := ro.noTarget(ctx); err != nil {
				yield(Target{}, err)
			}
		}
	}
}
