package mxroute

// The address lookups: the A and AAAA questions of every mail host, asked
// in parallel (a bounded pool per round), or taken from the MX response's
// additional section (Router.UseAdditional).

import (
	"context"
	"net/netip"
	"sync/atomic"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"
)

// defaultMaxLookups is the default of Router.MaxLookups: the AAAA and A of
// 32 mail hosts in one round of questions. The DNSResolver's MaxInFlight
// bounds the exchanges of all routes together, so one route may ask this
// many at once without a process of many routes flooding its server.
const defaultMaxLookups = 64

func (r *Router) maxLookups() int {
	if r.MaxLookups > 0 {
		return r.MaxLookups
	}
	if r.DANE {
		return defaultMaxLookups * 3 / 2 // the same 32 hosts, each with its TLSA question
	}
	return defaultMaxLookups
}

// addrResult is one A or AAAA lookup of a mail host.
type addrResult struct {
	looked bool
	// cut: the lookup failed after ctx had ended, so its failure says
	// nothing of the host (Targets must not take the route as complete).
	cut    bool
	ans    answer
	err    *lookupError
	addrs  []netip.Addr  // in the resolver's order
	inline [2]netip.Addr // backs addrs when they fit
}

// hostQuestion is one question about a mail host (A, AAAA or, with DANE,
// TLSA) to run on a goroutine.
type hostQuestion struct {
	h     *mxHost
	ar    *addrResult
	qtype uint16
}

// lookups are the address questions of one round of a route (see
// routing.lookFurther) that could not be answered at once, run by a bounded pool
// of goroutines in route order.
type lookups struct {
	g       errgroup.Group
	pending []hostQuestion
	next    atomic.Int32 // index of the next pending question to run
	cancel  context.CancelFunc
}

// startLookups asks for the addresses of hosts, all at once: A and AAAA of
// every host in parallel, so a route costs one round-trip for the MX RRset
// and one for the addresses, not 1+2N. Questions a Cache can answer are
// answered here, on the caller's goroutine; only the others start
// goroutines, at most Router.MaxLookups per round, which take the questions
// in route order, so the first host's answers come first. A host's ready
// channel (when it has questions in flight) is closed when its last one is
// answered.
//
// A mail host may be a CNAME: RFC 5321, Section 5.1 puts that "outside the
// scope of this Standard" and RFC 2181, Section 10.3 forbids it, but deployed
// MTAs follow it and so does this; the Host keeps the published name.
func (ro *routing) startLookups(ctx context.Context, hosts []*mxHost) {
	r := ro.r
	v6, v4 := r.queryFamilies()
	first, second := dns.TypeAAAA, dns.TypeA // the preferred family first
	if r.Family == PreferIPv4 {
		first, second = second, first
	}
	var pending []hostQuestion
	for _, h := range hosts {
		if h.err != nil {
			continue
		}
		for _, qtype := range [2]uint16{first, second} {
			ar, want := &h.v6, v6
			if qtype == dns.TypeA {
				ar, want = &h.v4, v4
			}
			if !want || ar.looked {
				continue
			}
			ar.looked = true
			if ans, lerr, ok := fromCache(ctx, ro.res, h.fqdn, qtype, r.maxRRs(qtype)); ok {
				ar.answered(ctx, ans, lerr)
				continue
			}
			pending = append(pending, hostQuestion{h: h, ar: ar, qtype: qtype})
		}
		if q, ok := ro.askTLSA(ctx, h); ok { // DANE: in the same round
			pending = append(pending, q)
		}
	}
	if len(pending) == 0 {
		return // all answered from the Cache: nothing allocated
	}
	l := &ro.first // the first round lives in the routing: no allocation
	if l.pending != nil {
		l = &lookups{}
		ro.more = append(ro.more, l)
	}
	l.pending = pending
	for _, q := range l.pending {
		if atomic.AddInt32(&q.h.left, 1) == 1 {
			q.h.ready = make(chan struct{})
		}
	}
	lctx, cancel := context.WithCancel(ctx)
	l.cancel = cancel
	for range min(r.maxLookups(), len(l.pending)) {
		l.g.Go(func() error {
			for {
				i := int(l.next.Add(1)) - 1
				if i >= len(l.pending) {
					return nil
				}
				q := l.pending[i]
				ans, lerr := lookup(lctx, ro.res, q.name(), q.qtype, r.maxRRs(q.qtype))
				q.ar.answered(lctx, ans, lerr)
				if atomic.AddInt32(&q.h.left, -1) == 0 {
					ro.settleDANE(lctx, q.h)
					close(q.h.ready)
				}
				// A failed host is recorded, not fatal: others may do.
			}
		})
	}
}

// rounds calls f with every round of lookups started.
func (ro *routing) rounds(f func(*lookups)) {
	if ro.first.pending != nil {
		f(&ro.first)
	}
	for _, l := range ro.more {
		f(l)
	}
}

// wait waits for every lookup of every round to end.
func (ro *routing) wait() {
	ro.rounds(func(l *lookups) {
		_ = l.g.Wait()
		l.cancel()
	})
}

// stop cancels the lookups still running and waits for them to end.
func (ro *routing) stop() {
	ro.rounds(func(l *lookups) { l.cancel() })
	ro.rounds(func(l *lookups) { _ = l.g.Wait() })
}

// wait waits until h's lookups have ended.
func (h *mxHost) wait() {
	if h.ready != nil {
		<-h.ready
	}
}

// cut reports whether a lookup of h failed because ctx ended (see
// addrResult.cut): what it says of h is not known.
func (h *mxHost) cut() bool {
	return h.v6.cut || h.v4.cut || (h.tls != nil && (h.tls.tlsa.cut || h.tls.expanded.cut))
}

// lastResponse is a Resolver that remembers the last response of next.
type lastResponse struct {
	next Resolver
	msg  *dns.Msg
}

func (l *lastResponse) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	m, err := l.next.Resolve(ctx, name, qtype)
	l.msg = m
	return m, err
}

// useAdditional takes the addresses of hosts from the additional section of
// the response that carried the MX RRset (see Router.UseAdditional): only
// A and AAAA records owned by a host at or below zone, the canonical domain
// (FQDN). A family present there counts as looked up; one absent is asked.
func useAdditional(hosts []*mxHost, msg *dns.Msg, zone string, limit int) {
	if msg == nil || len(msg.Extra) == 0 {
		return
	}
	for _, h := range hosts {
		if h.err != nil || !dns.IsSubDomain(zone, h.fqdn) {
			continue
		}
		for _, p := range [2]struct {
			ar    *addrResult
			qtype uint16
		}{{&h.v6, dns.TypeAAAA}, {&h.v4, dns.TypeA}} {
			if rrs := records(msg.Extra, h.fqdn, p.qtype, limit); len(rrs) > 0 {
				p.ar.looked = true
				p.ar.set(answer{kind: found, asked: h.fqdn, name: h.fqdn, rrs: rrs}, nil)
			}
		}
	}
}

// queryFamilies says which address records to ask for: those the Family
// uses, and those of LocalAddrs, without which the loop guard could not
// recognise this host by an address of the other family.
func (r *Router) queryFamilies() (v6, v4 bool) {
	v6, v4 = r.Family.wants()
	for _, a := range r.LocalAddrs {
		if a.Unmap().Is4() {
			v4 = true
		} else {
			v6 = true
		}
	}
	return v6, v4
}

// addrsOf appends the addresses of A and AAAA records to dst, in order.
func addrsOf(dst []netip.Addr, rrs []dns.RR) []netip.Addr {
	for _, rr := range rrs {
		var a netip.Addr
		var ok bool
		switch rr := rr.(type) {
		case *dns.A:
			a, ok = netip.AddrFromSlice(rr.A.To4())
		case *dns.AAAA:
			a, ok = netip.AddrFromSlice(rr.AAAA.To16())
		}
		if ok {
			dst = append(dst, a)
		}
	}
	return dst
}

// answered records the result of a lookup asked under ctx (see set), and
// whether its failure came after ctx had ended (cut).
func (ar *addrResult) answered(ctx context.Context, ans answer, err *lookupError) {
	ar.set(ans, err)
	ar.cut = err != nil && ctx.Err() != nil
}

// set records the result of a lookup. Up to two addresses are kept in the
// result itself, which covers most hosts without an allocation.
func (ar *addrResult) set(ans answer, err *lookupError) {
	ar.ans, ar.err, ar.addrs = ans, err, addrsOf(ar.inline[:0:len(ar.inline)], ans.rrs)
	if len(ar.addrs) == 0 {
		ar.addrs = nil
	}
}
