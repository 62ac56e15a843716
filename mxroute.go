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
// DNS is reached only through a [Resolver]: [DNSResolver] talks to DNS
// servers, [ZoneResolver] answers from zone files (tests, offline tools),
// [SystemResolver] adapts Go's net.Resolver, and [ResolverFunc] adapts a
// function.
package mxroute

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// A Router computes delivery routes. Its zero value is ready to use, and a
// Router is safe for concurrent use as long as its fields are not changed.
type Router struct {
	// Resolver asks DNS. nil: a DNSResolver configured from /etc/resolv.conf.
	Resolver Resolver
	// LocalNames are this host's names, for the loop guard. Matched
	// case-insensitively, trailing dot ignored. Empty: none.
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
	// MaxHosts bounds the mail hosts looked up and returned, after the loop
	// guard and in route order. 0: no limit.
	MaxHosts int
	// MaxAddrs bounds the addresses in Route.Targets; hosts after the one
	// where the limit is reached are dropped. 0: no limit. RFC 5321, Section
	// 5.1 asks that at least two be tried.
	MaxAddrs int
	// Family selects the address families and their order within a host.
	// The zero value, AnyFamily, uses both, IPv6 first.
	Family Family
	// Trace, when set, is called with each decision Route makes, in order:
	// the CNAMEs followed, the MX RRset, null MX and IP-address targets,
	// shuffled ties, hosts dropped by the loop guard or the limits, each
	// host's addresses or why it is unusable, and the result (see Step).
	// ctx is the one given to Route, so a value in it can tell one route's
	// events from another's. Trace may be called from several goroutines
	// at once (a Router routing concurrently, or parallel lookups), so it
	// must be safe for concurrent use; it should return quickly, as Route
	// waits for it. nil: no tracing, at no cost (no Event is built).
	// SlogTrace adapts a *slog.Logger.
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
}

// A Host is one mail exchanger of a Route.
type Host struct {
	Name       string       // as published in the MX record, lower case, no trailing dot; the canonical domain for an implicit MX; "[192.0.2.1]" for an address literal
	Preference uint16       // the MX preference; 0 for an implicit MX or an address literal
	Addrs      []netip.Addr // in the order to try; empty when Err is set
	Err        error        // why this host is unusable (a *Error), or nil
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
func (r *Router) Route(ctx context.Context, domain string) (out *Route, outErr error) {
	defer r.traceDone(ctx, domain, &out, &outErr)
	dest, perr := parseDomain(domain)
	if perr != nil {
		return nil, perr
	}
	if dest.literal.IsValid() {
		return r.routeLiteral(ctx, domain, dest.literal)
	}
	res := r.resolver()
	mx, lerr := lookup(ctx, res, dest.name+".", dns.TypeMX)
	if lerr != nil {
		return nil, domainError(domain, lerr)
	}
	r.traceMX(ctx, domain, &mx)
	rt := &Route{Domain: dest.name, Canonical: strings.TrimSuffix(mx.name, ".")}
	var hosts []*mxHost
	switch mx.kind {
	case noDomain:
		// RFC 5321, Section 5.1: "If a non-existent domain error is
		// returned, this situation MUST be reported as an error."
		return nil, &Error{Domain: domain, Status: statusNoDomain, Err: ErrNoSuchDomain,
			Detail: "NXDOMAIN for " + mx.name}
	case noData:
		// RFC 5321, Section 5.1: "If an empty list of MXs is returned, the
		// address is treated as if it was associated with an implicit MX
		// RR, with a preference of 0, pointing to that host."
		rt.Implicit = true
		hosts = []*mxHost{{name: rt.Canonical}}
	default:
		var err *Error
		if hosts, err = mxHosts(domain, mx.rrs); err != nil {
			return nil, err
		}
		sortHosts(hosts, r.Rand)
		r.traceOrder(ctx, domain, hosts)
	}
	return r.finish(ctx, res, domain, rt, hosts)
}

// routeLiteral routes an address literal: one host, that address, no DNS.
// The loop guard and the Family still apply.
func (r *Router) routeLiteral(ctx context.Context, domain string, addr netip.Addr) (*Route, error) {
	name := "[" + addr.String() + "]"
	h := &mxHost{name: name}
	if addr.Is4() {
		h.v4 = addrResult{looked: true, addrs: []netip.Addr{addr}}
		h.v6.looked = true
	} else {
		name = "[IPv6:" + addr.String() + "]"
		h.name = name
		h.v6 = addrResult{looked: true, addrs: []netip.Addr{addr}}
		h.v4.looked = true
	}
	return r.finish(ctx, nil, domain, &Route{Domain: name, Canonical: name}, []*mxHost{h})
}

// finish applies the loop guard and MaxHosts, looks up the hosts' addresses,
// orders and de-duplicates them, and applies MaxAddrs.
func (r *Router) finish(ctx context.Context, res Resolver, domain string, rt *Route, hosts []*mxHost) (*Route, error) {
	hosts, dropped, self := r.loopGuard(hosts)
	r.traceLoopGuard(ctx, domain, dropped)
	if len(r.LocalAddrs) > 0 && len(hosts) > 0 {
		r.resolveHosts(ctx, res, hosts)
		var selfByAddr bool
		hosts, dropped, selfByAddr = r.loopGuard(hosts)
		r.traceLoopGuard(ctx, domain, dropped)
		self = self || selfByAddr
	}
	if self && len(hosts) == 0 {
		return nil, &Error{Domain: domain, Status: statusRoutingLoop, Err: ErrLoop,
			Detail: "this host is a mail exchanger for " + rt.Canonical + " and none is more preferred"}
	}
	if r.MaxHosts > 0 && len(hosts) > r.MaxHosts {
		r.traceMaxHosts(ctx, domain, hosts[r.MaxHosts:])
		hosts = hosts[:r.MaxHosts]
	}
	r.resolveHosts(ctx, res, hosts)
	if err := ctx.Err(); err != nil {
		return nil, newTemporary(domain, "", "address lookups: "+err.Error(), err)
	}
	for _, h := range hosts {
		if h.err != nil {
			continue
		}
		if h.addrs = orderAddrs(h.v6.addrs, h.v4.addrs, r.Family); len(h.addrs) == 0 {
			h.err = hostError(domain, h, r.Family)
		}
	}
	r.traceHosts(ctx, domain, hosts)
	if rt.Implicit && hosts[0].err != nil {
		return nil, r.implicitError(ctx, res, domain, hosts[0])
	}
	r.traceDedupe(ctx, domain, hosts)
	hosts = dedupeAddrs(hosts)
	if err := noAddressError(domain, hosts); err != nil {
		rt.Hosts = publicHosts(hosts)
		return rt, err
	}
	r.traceMaxAddrs(ctx, domain, hosts)
	rt.Hosts = publicHosts(limitAddrs(hosts, r.MaxAddrs))
	return rt, nil
}

// noAddressError returns ErrNoAddress when no host is usable.
//
// RFC 5321, Section 5.1: "If MX records are present, but none of them are
// usable, this situation MUST be reported as an error." It is temporary when
// any host failed temporarily: that host may work on the next try.
func noAddressError(domain string, hosts []*mxHost) *Error {
	var first, temp *Error
	for _, h := range hosts {
		if h.err == nil {
			return nil
		}
		if first == nil {
			first = h.err
		}
		if temp == nil && h.err.Temporary {
			temp = h.err
		}
	}
	e := &Error{Domain: domain, Status: statusUnroutable, Err: ErrNoAddress}
	if temp != nil {
		e.Status, e.Temporary, e.Cause = statusTempDNS, true, temp.Cause
		first = temp
	}
	if first != nil {
		e.Detail = fmt.Sprintf("%d mail host(s), none usable; %s: %s", len(hosts), first.Host, first.Detail)
	}
	return e
}

// domainError turns a failed question about the domain itself into an *Error.
func domainError(domain string, lerr *lookupError) *Error {
	if lerr.cname {
		return &Error{Domain: domain, Status: statusTempDNS, Temporary: true, Err: ErrCNAME, Detail: lerr.detail}
	}
	return newTemporary(domain, "", lerr.detail, lerr.cause)
}

func publicHosts(hosts []*mxHost) []Host {
	out := make([]Host, len(hosts))
	for i, h := range hosts {
		out[i] = Host{Name: h.name, Preference: h.pref, Addrs: h.addrs}
		if h.err != nil {
			out[i].Err = h.err // only when set: a nil *Error in an error is not nil
		}
	}
	return out
}
