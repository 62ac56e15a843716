package mxroute

// CNAME following: the chain of a name, as RFC 5321, Section 5.1 and
// RFC 1034, Section 3.6.2 ask it to be followed, with its limits.

import (
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
		if !isHostName(bare(target)) {
			return advanced, &lookupError{cname: true, badName: true,
				detail: "CNAME target " + strconv.Quote(bare(target)) + " of " + bare(a.name) + " is not a host name (RFC 1123, Section 2.1)"}
		}
		if target == a.asked || slices.Contains(a.chain, target) {
			return advanced, &lookupError{cname: true, detail: "CNAME loop at " + bare(a.name) + " -> " + bare(target)}
		}
		if len(a.chain) >= maxCNAMEs {
			return advanced, &lookupError{cname: true, detail: "CNAME chain longer than 10 links at " + bare(a.name)}
		}
		a.chain = append(a.chain, target)
		a.name = target
		advanced = true
	}
}
