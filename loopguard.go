package mxroute

import (
	"net/netip"
	"slices"
)

// loopGuard drops the mail hosts that would send the mail back to this host.
//
// RFC 5321, Section 5.1: "The relay host MUST then inspect the list for any
// of the names or addresses by which it might be known in mail transactions.
// If a matching record is found, all records at that preference level and
// higher-numbered ones MUST be discarded from consideration. If there are no
// records left at that point, it is an error condition, and the message MUST
// be returned as undeliverable."
//
// (RFC 974 gave the rule first; the vega.ru zone of its era shows why: a
// backup MX that passed mail for vega-gw to a higher-numbered backup would
// have it passed straight back.) A host is this host when its name is one of
// LocalNames (or its CNAME chain leads to one) or one of its addresses is
// in LocalAddrs; chains and addresses are known only for hosts already
// looked up. hosts must be sorted by preference. It
// returns the hosts kept, those dropped, and whether this host was found.
func (r *Router) loopGuard(hosts []*mxHost) (kept, dropped []*mxHost, self bool) {
	if len(r.LocalNames) == 0 && len(r.LocalAddrs) == 0 {
		return hosts, nil, false
	}
	for i, h := range hosts {
		if r.isSelf(h) {
			// Sorted by preference: the first match has the lowest
			// preference, and every host from the first one at that
			// preference on goes.
			cut := i
			for cut > 0 && hosts[cut-1].pref == h.pref {
				cut--
			}
			return hosts[:cut], hosts[cut:], true
		}
	}
	return hosts, nil, false
}

// guardsAfterLookup reports whether the loop guard must look at what the
// address lookups found: this host's addresses, or the CNAMEs a mail host's
// name leads through, which may end at one of this host's names.
func (r *Router) guardsAfterLookup() bool { return len(r.LocalAddrs) > 0 || len(r.LocalNames) > 0 }

// inChain reports whether name (no trailing dot) is on a CNAME chain (FQDNs).
func inChain(name string, chain []string) bool {
	for _, c := range chain {
		if len(c) == len(name)+1 && c[:len(name)] == name {
			return true
		}
	}
	return false
}

// isSelf reports whether h is one of this host's names or addresses. A
// mail host whose CNAME chain leads to one of LocalNames is this host too
// (RFC 5321, Section 5.1: "any of the names or addresses by which it might
// be known"), once its lookups have ended. Names
// compare case-insensitively with any trailing dot ignored; addresses compare
// with IPv4-mapped IPv6 addresses taken as IPv4.
func (r *Router) isSelf(h *mxHost) bool {
	for _, n := range r.LocalNames {
		if n = NormalizeHost(n); n == h.name || inChain(n, h.v6.ans.chain) || inChain(n, h.v4.ans.chain) {
			return true
		}
	}
	for _, a := range slices.Concat(h.v6.addrs, h.v4.addrs) {
		if slices.ContainsFunc(r.LocalAddrs, func(l netip.Addr) bool { return l.Unmap().WithZone("") == a.Unmap().WithZone("") }) {
			return true
		}
	}
	return false
}
