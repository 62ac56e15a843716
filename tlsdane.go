package mxroute

import (
	"context"
	"fmt"
	"strings"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute/dane"
)

// The rules the DANE decisions cite.
const (
	ruleDANE        = "RFC 7672, Section 2.2"
	ruleDANEMX      = "RFC 7672, Section 2.2.1"
	ruleDANECNAME   = "RFC 7672, Section 2.2.2"
	ruleDANEFailure = "RFC 7672, Section 2.1.1"
	ruleDANENoAD    = "RFC 7672, Section 2.2; RFC 4035, Section 4.9.3"
)

// hostTLS is the TLS side of one mail host: its TLSA lookups and the policy
// decided from them and from the domain's MTA-STS policy. A host has one only
// when the Router has MTASTS or DANE.
type hostTLS struct {
	// tlsa: TLSA at _25._tcp.<name as published>, asked with the
	// addresses, in the same round (looked: asked).
	tlsa addrResult
	// expanded: TLSA at _25._tcp.<CNAME-expanded name>, asked once the
	// address lookups have shown a secure CNAME chain (RFC 7672, Section
	// 2.2.2); the one question a route with DANE may add, only for such
	// hosts.
	expanded addrResult

	daneDone bool         // the DANE decision is made: dane, daneErr, daneWhy
	dane     *dane.Policy // a secure TLSA RRset: the host requires DANE
	daneErr  *Error       // the TLSA lookup failed where the zone is signed: the host is unusable
	daneWhy  string       // the decision, for the trace
	daneRule string
	daneBase string // the TLSA base domain used, for the trace

	settled bool       // the policy is decided: policy, or the host's err
	policy  *TLSPolicy // published as Host.TLS
	stsWhy  string     // the MTA-STS decision for this host, for the trace ("" when none applies)
}

// tlsOf returns h's hostTLS, making it.
func tlsOf(h *mxHost) *hostTLS {
	if h.tls == nil {
		h.tls = &hostTLS{}
	}
	return h.tls
}

// daneUnavailable reports, before a route's first question, that
// Router.DANE can never apply through ro.res: DANE needs the MX RRset and
// the TLSA records authenticated (RFC 7672, Section 2.2), which a stub
// learns only from the AD bit of a trusted validating resolver (RFC 4035,
// Section 4.9.3), and this Resolver never reports it. The event stands for
// the route's StepTLSA event of an unauthenticated MX RRset.
func (ro *routing) daneUnavailable(ctx context.Context) {
	tr := ro.trace()
	if !ro.r.DANE || !tr.on() {
		return
	}
	if why := neverAD(ro.res); why != "" {
		ro.daneTraced = true
		tr.emit(ctx, Event{Step: StepDANEUnavailable, Rule: ruleDANENoAD,
			Message: "Router.DANE is on, but " + why + ": DANE can never apply, no TLSA question is asked"})
	}
}

// tlsaName is the TLSA owner name for an SMTP server on port 25 at host
// (an FQDN): RFC 7672, Section 2.2.3 and RFC 6698, Section 3.
func tlsaName(fqdn string) string { return "_25._tcp." + fqdn }

// askTLSA returns h's TLSA question to add to the round, or answers it from the Cache,
// when the Router has DANE and the MX RRset (or the implicit MX's NODATA) is
// authentic: RFC 7672, Section 2.2.1, "DANE applies only when the MX RRset
// is secure"; an insecure MX RRset can point anywhere, its hosts' TLSA
// records prove nothing. It goes out in the same round as h's addresses,
// so DANE costs no round-trip; whether h's addresses are secure, which DANE
// needs too, is known only when both have come back (see settleDANE).
func (ro *routing) askTLSA(ctx context.Context, h *mxHost) (hostQuestion, bool) {
	r := ro.r
	if !r.DANE || !ro.rt.Authentic || h.fqdn == "" || h.err != nil {
		return hostQuestion{}, false
	}
	t := tlsOf(h)
	if t.tlsa.looked {
		return hostQuestion{}, false
	}
	t.tlsa.looked = true
	name := tlsaName(h.fqdn)
	if ans, lerr, ok := fromCache(ctx, ro.res, name, dns.TypeTLSA, r.maxRRs(dns.TypeTLSA)); ok {
		t.tlsa.answered(ctx, ans, lerr)
		return hostQuestion{}, false
	}
	return hostQuestion{h: h, ar: &t.tlsa, qtype: dns.TypeTLSA}, true
}

// name is the name q asks about: the host's, or for TLSA its TLSA owner
// name (see askTLSA).
func (q hostQuestion) name() string {
	if q.qtype == dns.TypeTLSA {
		return tlsaName(q.h.fqdn)
	}
	return q.h.fqdn
}

// secureAddrs reports whether h's address records are secure: at least one
// address lookup answered, and every one that answered came with AD. A
// lookup that failed (SERVFAIL, timeout) does not make the others insecure:
// the host is still used by the family that answered, and an attacker who
// makes one family fail must not turn DANE off for the other.
func secureAddrs(h *mxHost) bool {
	n := 0
	for _, ar := range [2]*addrResult{&h.v6, &h.v4} {
		if !ar.looked || ar.err != nil || ar.ans.asked == "" {
			continue
		}
		if !ar.ans.authentic {
			return false
		}
		n++
	}
	return n > 0
}

// settleDANE makes h's DANE decision once its address and TLSA lookups have
// ended: on the pool goroutine that ended the last of them, or on the
// routing's own for a host the Cache answered. It may ask one more
// question, the TLSA RRset at the CNAME-expanded name.
func (ro *routing) settleDANE(ctx context.Context, h *mxHost) {
	t := h.tls
	if t == nil || !t.tlsa.looked || t.daneDone {
		return
	}
	t.daneDone = true
	if len(h.v6.addrs) == 0 && len(h.v4.addrs) == 0 {
		return // no address: unusable whatever its TLSA records say
	}
	if !secureAddrs(h) {
		// RFC 7672, Section 2.2.1: the host's address records must be
		// secure too, or an attacker who forges them could point the
		// name at a server of his, with his own TLSA... or none.
		t.daneWhy, t.daneRule = "address records not authenticated: DANE does not apply", ruleDANEMX
		return
	}
	if exp := h.canonical(); exp != h.name {
		// RFC 7672, Section 2.2.2: when the CNAME expansion of the
		// host is secure (it is: the address answers were authentic,
		// CNAMEs included), the TLSA records of the expanded name are
		// looked up first, those of the original name only when the
		// expanded name has none.
		t.expanded.looked = true
		ans, lerr := ro.r.ask(ctx, ro.res, tlsaName(exp+"."), dns.TypeTLSA)
		t.expanded.answered(ctx, ans, lerr)
		if !ro.decideTLSA(h, exp, &t.expanded, false) {
			return
		}
	}
	ro.decideTLSA(h, h.name, &t.tlsa, true)
}

// decideTLSA reads one TLSA answer for h at base. It returns true when it
// is an authenticated denial and last is false (the caller tries the next
// name); otherwise it records the decision.
func (ro *routing) decideTLSA(h *mxHost, base string, ar *addrResult, last bool) (denied bool) {
	t := h.tls
	t.daneBase = base
	name := "_25._tcp." + base
	switch {
	case ar.err != nil:
		// RFC 7672, Section 2.1.1: a lookup that fails (SERVFAIL, a
		// bogus answer, no answer) where the host's zone is signed says
		// nothing of whether the host has TLSA records: it may be an
		// attacker hiding them. "The client MUST treat the server as
		// unusable" for now: temporary, and RFC 8460's dnssec-invalid.
		t.daneErr = tlsaError(ro.domain, h.name, dane.DNSSECInvalid, "TLSA lookup for "+name+" failed where the zone is signed: "+ar.err.detail, ar.err.cause)
		t.daneWhy, t.daneRule = "TLSA lookup failed: host unusable ("+ar.err.detail+")", ruleDANEFailure
	case !ar.ans.authentic:
		// An answer the validating resolver calls insecure (no AD, yet
		// no SERVFAIL: an insecure delegation below the host's signed
		// zone) is no TLSA RRset to trust. RFC 7672, Section 2.2: for
		// an "insecure" TLSA RRset DANE does not apply, and the client
		// uses pre-DANE opportunistic TLS, as Postfix does; a bogus
		// answer is a failed lookup (above), never this.
		if !last {
			return true
		}
		t.daneWhy, t.daneRule = "TLSA answer at "+name+" insecure (not authenticated): DANE does not apply", ruleDANE
	case ar.ans.kind != found || len(ar.ans.rrs) == 0:
		if !last {
			return true
		}
		// RFC 7672, Section 2.2: an authenticated denial of existence
		// means no DANE for this host; opportunistic TLS.
		t.daneWhy, t.daneRule = "no TLSA records at "+name+" (authenticated denial): DANE does not apply", ruleDANE
	default:
		p := dane.NewPolicy(h.name, base, ar.ans.rrs)
		p.Names = ro.nextHopNames()
		t.dane = p
		switch p.Mode() {
		case dane.ModeDANE:
			t.daneWhy = fmt.Sprintf("%d TLSA record(s) at %s: DANE required (authenticated TLS)", len(p.Records), name)
		default:
			// RFC 7672, Section 2.2: a secure RRset whose records are all
			// unusable still means TLS, without authentication.
			t.daneWhy = fmt.Sprintf("%d TLSA record(s) at %s, none usable (%s): encrypted TLS required, not authenticated",
				len(p.Records), name, strings.Join(p.Unusable(), "; "))
		}
		t.daneRule = ruleDANE
	}
	return false
}

// nextHopNames are the reference identifiers a DANE-TA(2) certificate may
// carry besides the TLSA base domain and the MX host: the next-hop domain,
// as given and after CNAMEs, when the MX RRset (or the implicit MX's NODATA)
// is secure (RFC 7672, Section 3.2.2; Postfix checks "nexthop, hostname",
// mox's GatherTLSANames likewise). An insecure MX RRset gives none: nothing
// then ties the host to the domain.
func (ro *routing) nextHopNames() []string {
	if !ro.rt.Authentic {
		return nil
	}
	if ro.rt.Canonical == ro.rt.Domain {
		return []string{ro.rt.Domain}
	}
	return []string{ro.rt.Domain, ro.rt.Canonical}
}

// daneEvent is the StepTLSA event of h's DANE decision.
func (t *hostTLS) daneEvent(h *mxHost) Event {
	e := Event{Step: StepTLSA, Host: h.name, Preference: h.pref, Rule: t.daneRule, Target: t.daneBase,
		Message: h.name + ": " + t.daneWhy, Authentic: t.dane != nil}
	if t.dane != nil {
		e.Count = len(t.dane.Records)
	}
	if t.daneErr != nil {
		e.Err = t.daneErr
	}
	return e
}
