package mxroute

import "strings"

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

// adReporter is a Resolver that can tell it never reports an authentic
// answer. Router.DANE with one never applies (see daneUnavailable).
type adReporter interface {
	// noAD says why no reply will carry the AD bit; "" when one may.
	noAD() string
}

// neverAD says why res never reports an authentic answer; "" when it may,
// or cannot tell (a ResolverFunc is believed).
func neverAD(res Resolver) string {
	if a, ok := res.(adReporter); ok {
		return a.noAD()
	}
	return ""
}

func (*ZoneResolver) noAD() string { return "a ZoneResolver validates nothing and never sets AD" }

func (SystemResolver) noAD() string { return "a SystemResolver cannot see the AD bit" }

func (c *Cache) noAD() string {
	if why := neverAD(c.next()); why != "" {
		return "a Cache in front of what never reports AD: " + why
	}
	return ""
}

// noAD: without DNSSEC the AD bit is cleared in every reply, and it is
// believed only from a trusted server (believesAD).
func (r *DNSResolver) noAD() string {
	if !r.DNSSEC {
		return "a DNSResolver without DNSSEC clears AD in every reply"
	}
	c := r.config()
	for _, s := range c.addrs {
		if c.believesAD(s) {
			return ""
		}
	}
	return "a DNSResolver believes the AD bit of none of its servers (" + strings.Join(c.servers, ", ") +
		"): only loopback ones, or with TrustAD or resolv.conf's trust-ad"
}
