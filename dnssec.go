package mxroute

// DNSSEC status. The library validates nothing itself: RFC 4035, Section
// 4.9.3 lets a stub rely on the validation of "a trusted security-aware
// recursive name server via a secure channel", reported in the AD bit, and
// that is what DNSResolver does (DNSSEC and TrustAD; loopback servers are
// trusted). The
// router only reads AuthenticatedData in the responses a Resolver returns and
// reports it per step: Route.Authentic for the MX RRset (or the NODATA of an
// implicit MX), Host.Authentic for each host's addresses. DANE (RFC 7672)
// and MTA-STS users decide with them.

// authentic reports whether every address lookup of h was answered and
// authenticated. A host with an error, or with no lookup at all (an address
// literal), is not.
func (h *mxHost) authentic() bool {
	if h.err != nil {
		return false
	}
	n := 0
	for _, ar := range []*addrResult{&h.v6, &h.v4} {
		if !ar.looked || (ar.err == nil && ar.ans.asked == "") {
			continue // not asked, or set without DNS (an address literal)
		}
		if ar.err != nil || !ar.ans.authentic {
			return false
		}
		n++
	}
	return n > 0
}
