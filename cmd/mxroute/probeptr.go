package main

import (
	"context"
	"net/netip"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// Reverse DNS of a probed address, forward-confirmed: the PTR names of the
// address (RFC 1035, Section 3.5; RFC 3596, Section 2.5), each asked for the
// address's family, through the run's resolver (--zone, --server or
// resolv.conf's servers, behind the run's Cache). RFC 1912, Section 2.1:
// "Make sure your PTR and A records match"; receivers that check reverse
// DNS take a name only when it resolves back to the address (Postfix's
// reject_unknown_client_hostname).

// maxPTRNames bounds the PTR names of an address that are looked up again.
const maxPTRNames = 8

// ptrFacts is what reverse DNS says of one address.
type ptrFacts struct {
	name      string   // the reverse name asked: 41.2.0.192.in-addr.arpa
	looked    bool     // the PTR lookup answered (found, NXDOMAIN or NODATA)
	err       string   // the PTR lookup failed: whether there is a PTR is not known
	names     []string // the PTR names, lower case, no trailing dot
	confirmed []string // those whose A or AAAA records include the address
}

// lookupPTR asks the PTR records of a, then each name's records of a's
// family. A CNAME in the reverse tree (RFC 2317's classless delegation) is
// followed as the answer gives it.
func (p *probeRun) lookupPTR(ctx context.Context, a netip.Addr) ptrFacts {
	a = a.Unmap()
	name, err := dns.ReverseAddr(a.String())
	f := ptrFacts{name: strings.TrimSuffix(name, ".")}
	if err != nil {
		f.err = err.Error()
		return f
	}
	rrs, found, err := answersAt(ctx, p.resolver, name, dns.TypePTR)
	if err != nil {
		f.err = err.Error()
		return f
	}
	f.looked = true
	if !found {
		return f
	}
	for _, rr := range rrs {
		n := strings.ToLower(strings.TrimSuffix(rr.(*dns.PTR).Ptr, "."))
		if !slices.Contains(f.names, n) && len(f.names) < maxPTRNames {
			f.names = append(f.names, n)
		}
	}
	qtype := dns.TypeA
	if a.Is6() {
		qtype = dns.TypeAAAA
	}
	for _, n := range f.names {
		rrs, _, err := answersAt(ctx, p.resolver, dns.Fqdn(n), qtype)
		if err != nil {
			continue
		}
		for _, rr := range rrs {
			var got netip.Addr
			switch rr := rr.(type) {
			case *dns.A:
				got, _ = netip.AddrFromSlice(rr.A.To4())
			case *dns.AAAA:
				got, _ = netip.AddrFromSlice(rr.AAAA)
			}
			if got == a {
				f.confirmed = append(f.confirmed, n)
				break
			}
		}
	}
	return f
}
