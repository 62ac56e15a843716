package mxroute

import (
	"context"
	"net/netip"

	"github.com/miekg/dns"
	"golang.org/x/sync/errgroup"
)

// maxParallelLookups bounds the A/AAAA questions in flight for one route.
// Sixteen covers the AAAA and A of eight mail hosts in one round-trip, more
// than almost any domain publishes, without letting a 100-record RRset fire
// 200 questions at once.
const maxParallelLookups = 16

// addrResult is one A or AAAA lookup of a mail host.
type addrResult struct {
	looked bool
	ans    answer
	err    *lookupError
	addrs  []netip.Addr // in the resolver's order
}

// resolveHosts asks for the addresses of every host not yet looked up, all
// at once: A and AAAA of every host in parallel, so a route costs one
// round-trip for the MX RRset and one for the addresses, not 1+2N.
//
// A mail host may be a CNAME: RFC 5321, Section 5.1 puts that "outside the
// scope of this Standard" and RFC 2181, Section 10.3 forbids it, but deployed
// MTAs follow it and so does this; the Host keeps the published name.
func (r *Router) resolveHosts(ctx context.Context, res Resolver, hosts []*mxHost) {
	v6, v4 := r.queryFamilies()
	var g errgroup.Group
	g.SetLimit(maxParallelLookups)
	ask := func(h *mxHost, ar *addrResult, qtype uint16) {
		ar.looked = true
		g.Go(func() error {
			ar.ans, ar.err = lookup(ctx, res, h.name+".", qtype, r.maxRRs(qtype))
			ar.addrs = addrsOf(ar.ans.rrs)
			return nil // a failed host is recorded, not fatal: others may do
		})
	}
	for _, h := range hosts {
		if h.err != nil {
			continue
		}
		if v6 && !h.v6.looked {
			ask(h, &h.v6, dns.TypeAAAA)
		}
		if v4 && !h.v4.looked {
			ask(h, &h.v4, dns.TypeA)
		}
	}
	_ = g.Wait()
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

// addrsOf returns the addresses of A and AAAA records, in order.
func addrsOf(rrs []dns.RR) []netip.Addr {
	if len(rrs) == 0 {
		return nil
	}
	out := make([]netip.Addr, 0, len(rrs))
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
			out = append(out, a)
		}
	}
	return out
}

// hostError says why a looked-up host has no usable address: a temporary
// failure of either lookup wins (the host may work later, so the mail must
// wait for it), then a CNAME fault, then the permanent "no address".
func hostError(domain string, h *mxHost, f Family) *Error {
	var temp, cname *lookupError
	nx, looked := 0, 0
	for _, ar := range []*addrResult{&h.v6, &h.v4} {
		if !ar.looked {
			continue
		}
		looked++
		switch {
		case ar.err == nil:
			if ar.ans.kind == noDomain {
				nx++
			}
		case ar.err.cname:
			cname = ar.err
		default:
			temp = ar.err
		}
	}
	switch {
	case temp != nil:
		return newTemporary(domain, h.name, temp.detail, temp.cause)
	case cname != nil:
		return &Error{Domain: domain, Host: h.name, Status: statusTempDNS, Temporary: true,
			Err: ErrCNAME, Detail: cname.detail}
	}
	detail := "no A or AAAA records"
	switch {
	case looked > 0 && nx == looked:
		detail = "host does not exist (NXDOMAIN)"
	case f == IPv4Only && len(h.v6.addrs) > 0:
		detail = "only IPv6 addresses, and the family policy is IPv4Only"
	case f == IPv6Only && len(h.v4.addrs) > 0:
		detail = "only IPv4 addresses, and the family policy is IPv6Only"
	case f == IPv4Only:
		detail = "no A records"
	case f == IPv6Only:
		detail = "no AAAA records"
	}
	return &Error{Domain: domain, Host: h.name, Status: statusUnroutable, Err: ErrNoAddress, Detail: detail}
}
