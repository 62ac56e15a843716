package mxroute

import (
	"context"
	"errors"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// maxCNAMEs bounds a CNAME chain. RFC 1034, Section 3.6.2 only asks that
// chains be followed; resolvers bound them (BIND at 16 for the chains it
// builds, Go's resolver at 10). A chain of more than a few links is a
// misconfiguration; 10 gives room without letting a loop of fresh names run on.
const maxCNAMEs = 10

// followCNAMEs canonicalizes a.name through the CNAME records in msg.
//
// RFC 5321, Section 5.1: "If a CNAME record is found, the resulting name is
// processed as if it were the initial name."
//
// Only records owned by the name being followed are believed, so unrelated
// records in the answer section cannot steer the chain. It sets a.rrs when
// records of qtype are found at the chain's end and reports whether the chain
// advanced in this message. A loop or a chain longer than maxCNAMEs is an
// error (ErrCNAME, temporary: RFC 1034, Section 3.6.2 calls such chains
// errors of the zone's administrator, which may be mended).
func followCNAMEs(a *answer, msg *dns.Msg, qtype uint16, limit int) (advanced bool, _ *lookupError) {
	for {
		if rrs := records(msg.Answer, a.name, qtype, limit); len(rrs) > 0 {
			a.rrs = rrs
			return advanced, nil
		}
		target := ""
		for _, rr := range records(msg.Answer, a.name, dns.TypeCNAME, 1) {
			if c, ok := rr.(*dns.CNAME); ok {
				target = strings.ToLower(dns.Fqdn(c.Target))
				break
			}
		}
		if target == "" {
			return advanced, nil
		}
		if !isHostName(strings.TrimSuffix(target, ".")) {
			return advanced, &lookupError{cname: true, badName: true,
				detail: "CNAME target " + strconv.Quote(strings.TrimSuffix(target, ".")) + " of " + a.name + " is not a host name (RFC 1123, Section 2.1)"}
		}
		if target == a.asked || slices.Contains(a.chain, target) {
			return advanced, &lookupError{cname: true, detail: "CNAME loop at " + a.name + " -> " + target}
		}
		if len(a.chain) >= maxCNAMEs {
			return advanced, &lookupError{cname: true, detail: "CNAME chain longer than 10 links at " + a.name}
		}
		a.chain = append(a.chain, target)
		a.name = target
		advanced = true
	}
}

// mxHosts turns an MX RRset into mail hosts, one per name at its lowest
// preference, or returns ErrNullMX.
//
// RFC 7505, Section 3: the null MX is "an ordinary MX record with an RDATA
// section consisting of preference number 0 and a zero-length label, written
// in master files as '.'", and "A domain that advertises a null MX MUST NOT
// advertise any other MX RR." A set whose only targets are "." therefore
// means no mail, whatever the preference (RFC 7505 says 0; deployed MTAs
// accept any); a "." mixed with real hosts is a publishing error, and like
// deployed MTAs the router ignores it and uses the real hosts.
func mxHosts(domain string, rrs []dns.RR) ([]*mxHost, *Error) {
	hosts := make([]*mxHost, 0, len(rrs))
	all := make([]mxHost, len(rrs)) // one allocation for every host
	for _, rr := range rrs {
		mx, ok := rr.(*dns.MX)
		if !ok {
			continue
		}
		name := normalizeHost(mx.Mx)
		if name == "" {
			continue // the null MX target "."
		}
		// RFC 5321, Section 5.1 (and RFC 974): a name listed twice counts
		// once, at its best preference.
		if i := slices.IndexFunc(hosts, func(h *mxHost) bool { return h.name == name }); i >= 0 {
			hosts[i].pref = min(hosts[i].pref, mx.Preference)
			continue
		}
		h := &all[len(hosts)]
		h.name, h.fqdn, h.pref = name, fqdnOf(mx.Mx, name), mx.Preference
		switch {
		case isIPName(name):
			// RFC 5321, Section 5.1: "the data field of that response MUST
			// contain a domain name." An address there is a
			// misconfiguration; a sender that connected to it would be
			// trusting a record that no standard gives a meaning.
			h.err = &Error{Domain: domain, Host: name, Status: statusUnroutable, Err: ErrNoAddress,
				Detail: "MX target is an IP address, not a host name (RFC 5321, Section 5.1)"}
		case !isHostName(name):
			h.err = &Error{Domain: domain, Host: name, Status: statusUnroutable, Err: ErrNoAddress,
				Detail: "MX target is not a host name (RFC 1123, Section 2.1; RFC 5321, Section 2.3.5)"}
		}
		hosts = append(hosts, h)
	}
	if len(hosts) == 0 {
		return nil, &Error{Domain: domain, Status: statusNullMX, Err: ErrNullMX}
	}
	return hosts, nil
}

// isIPName reports whether an MX target names an IP address ("192.0.2.1",
// "[192.0.2.1]", "2001:db8::1") rather than a host.
func isIPName(name string) bool {
	s := strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if !strings.Contains(s, ":") && strings.Trim(s, "0123456789.") != "" {
		return false // neither IPv6 nor only digits and dots: a host name, and no parse error to allocate
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// isHostName reports whether name (lower case, no trailing dot, as
// normalizeHost gives it) is a host name a sender may look up and connect
// to. RFC 5321, Section 2.3.5: a domain name used for a host is "a
// sequence of letters, digits, and hyphens drawn from a character set";
// RFC 1123, Section 2.1 gives the syntax, labels of at most 63 octets that
// neither start nor end with a hyphen, and notes that a top-level label is
// never all-numeric (so "1.2.3.4.5" is no host). Go's resolver drops MX
// and CNAME answers that fail a check like this one since CVE-2021-33195.
// Underscores are accepted, as Go, Postfix and mox accept them: they occur
// in deployed host names. An escaped byte ("\060html\062") is not.
func isHostName(name string) bool {
	if name == "" || len(name) > maxDomainLen {
		return false
	}
	last := ""
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > maxLabelLen || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
		last = label
	}
	return strings.Trim(last, "0123456789") != ""
}

// implicitError says why the implicit MX of a domain without MX records is
// unusable. RFC 5321, Section 5.1: "If an empty list of MXs is returned, the
// address is treated as if it was associated with an implicit MX RR, with a
// preference of 0, pointing to that host. If MX records are present, but none
// of them are usable, or the implicit MX is unusable, this situation MUST be
// reported as an error."
//
// A temporary failure of its A or AAAA lookup stays temporary: the domain may
// have addresses that DNS could not give now. When the Family asked for one
// address family only, the other is looked up before the domain is declared
// to have no mail host at all, so that an IPv6Only sender is told "no usable
// address", not "no such mail host", for an IPv4-only domain.
func (r *Router) implicitError(ctx context.Context, res Resolver, domain string, h *mxHost) *Error {
	switch {
	case h.err.Temporary && errors.Is(h.err, ErrCNAME):
		return &Error{Domain: domain, Status: statusTempDNS, Temporary: true, Err: ErrCNAME, Detail: h.err.Detail}
	case h.err.Temporary:
		return newTemporary(domain, "", h.err.Detail, h.err.Cause)
	}
	if _, b := r.firstSpecial(h); b != nil {
		// Addresses, but none a remote mail server can have: not "no
		// mail host", which would claim the domain publishes none.
		return &Error{Domain: domain, Status: statusUnroutable, Err: ErrNoAddress, Detail: h.err.Detail}
	}
	useV6, useV4 := r.Family.wants()
	if useV6 && useV4 {
		return noMailHost(domain, h)
	}
	// The family the policy excludes: asked already when LocalAddrs needed
	// it for the loop guard, else asked now.
	other, qtype := &h.v4, dns.TypeA
	if !useV6 {
		other, qtype = &h.v6, dns.TypeAAAA
	}
	ans, lerr := other.ans, other.err
	if !other.looked {
		ans, lerr = lookup(ctx, res, h.name+".", qtype, r.maxRRs(qtype))
	}
	switch {
	case lerr != nil: // unknown: the domain may have addresses, just none usable here
		return &Error{Domain: domain, Status: statusUnroutable, Err: ErrNoAddress, Detail: h.err.Detail}
	case ans.kind == found:
		return &Error{Domain: domain, Status: statusUnroutable, Err: ErrNoAddress,
			Detail: "the domain has no MX records and only " + typeName(qtype) +
				" records, which the family policy " + r.Family.String() + " excludes"}
	}
	return noMailHost(domain, h)
}

// noMailHost is ErrNoMailHost: no MX records, and no address records either.
func noMailHost(domain string, h *mxHost) *Error {
	return &Error{Domain: domain, Status: statusNoDomain, Err: ErrNoMailHost,
		Detail: "no MX records and no A or AAAA records for " + h.name}
}
