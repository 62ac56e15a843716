package mxroute

// One DNS question: asked through a Resolver (lookup), its response checked
// against the question (sameQuestion, truncation, rcode, referrals and lame
// replies), its records filtered (owner, type, class, the RRset caps) and the
// result classified: found, NODATA, NXDOMAIN, or a temporary failure.

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/miekg/dns"
)

// answerKind classifies a DNS answer the way RFC 5321, Section 5.1 needs it.
type answerKind int

const (
	found    answerKind = iota // records of the asked type exist
	noData                     // the name exists, without records of that type (NODATA)
	noDomain                   // the name does not exist (NXDOMAIN)
)

// answer is one question's classified result, after CNAMEs.
type answer struct {
	kind  answerKind
	asked string   // the name asked for (lower-case FQDN)
	name  string   // lower-case FQDN the records belong to: the end of the CNAME chain
	chain []string // CNAME targets followed, in order (FQDNs); empty without CNAMEs
	rrs   []dns.RR // records of the asked type owned by name, in response order, at most the limit
	// authentic: every response on the way (one per question asked for
	// the chain) had the AD bit set. The Resolver vouches for the bit:
	// DNSResolver clears it unless it trusts the server.
	authentic bool
}

// Defaults of the RRset caps (Router.MaxMX, Router.MaxAddrsPerHost). A
// hundred MX records is far beyond any real domain (large providers publish
// a handful) and beyond what a sender tries; 64 addresses per host likewise.
// The caps bound what a hostile server can make the router allocate and
// look up, whatever the size of its response.
const (
	defaultMaxMX           = 100
	defaultMaxAddrsPerHost = 64
)

// maxRRs is the cap on the records of type qtype used from one response.
func (r *Router) maxRRs(qtype uint16) int {
	if qtype == dns.TypeMX {
		if r.MaxMX > 0 {
			return r.MaxMX
		}
		return defaultMaxMX
	}
	return r.maxAddrsPerHost()
}

func (r *Router) maxAddrsPerHost() int {
	if r.MaxAddrsPerHost > 0 {
		return r.MaxAddrsPerHost
	}
	return defaultMaxAddrsPerHost
}

// lookupError says why a question got no usable answer. It never leaves the
// package: the router turns it into an *Error for the domain or the host.
type lookupError struct {
	cname   bool   // a CNAME loop, an over-long chain or a bad target (ErrCNAME), not a failed query
	badName bool   // a CNAME target that is no host name (with cname)
	detail  string // e.g. "MX lookup for example.com: SERVFAIL"
	cause   error  // the Resolver's error, if any
}

func (e *lookupError) Error() string { return e.detail }

// lookupFailed is the lookupError of a question of type qtype about qname
// (an FQDN) that got no usable answer; what says why.
func lookupFailed(qtype uint16, qname, what string, cause error) *lookupError {
	return &lookupError{detail: typeName(qtype) + " lookup for " + bare(qname) + ": " + what, cause: cause}
}

// minTTL is the smallest TTL of rrs (0 for none), each TTL as senders
// read it (see ttlOf).
func minTTL(rrs []dns.RR) uint32 {
	var ttl uint32
	for i, rr := range rrs {
		if t := ttlOf(rr); i == 0 || t < ttl {
			ttl = t
		}
	}
	return ttl
}

// bare is an FQDN without its trailing dot: how error details and trace
// messages name a domain, as Route.Domain and Host.Name do.
func bare(fqdn string) string { return strings.TrimSuffix(fqdn, ".") }

// An inPlaceResolver is a Resolver that can hand out the messages it holds
// without copying them: the Cache. The Router never modifies a message (the
// Resolver contract), so it reads such a Resolver through these two views,
// and a warm route copies no message and starts no goroutine.
//
// It is unexported on purpose: its contract (shared messages nobody may
// modify, a view that never blocks nor asks, errNotCached) is a promise
// between the Router and this package's Cache, and no other cache exists to
// shape it; exported later, it breaks no one, while an exported one could
// never change. Any other Resolver still works everywhere, through Resolve.
// A type that embeds *Cache gets the views with it and keeps the fast path.
type inPlaceResolver interface {
	Resolver
	// sharedView answers as Resolve does, asking on a miss, but returns
	// the held message itself, which must not be modified.
	sharedView() Resolver
	// cachedView answers only from what is held, at once, on the caller's
	// goroutine and without copying; anything else fails with errNotCached.
	cachedView() Resolver
}

// errNotCached is the error of an inPlaceResolver's cachedView for a
// question whose answer it does not hold.
var errNotCached = errors.New("mxroute: not cached")

// shared returns res, or for an inPlaceResolver its sharedView: how the
// Router asks every question.
func shared(res Resolver) Resolver {
	if c, ok := res.(inPlaceResolver); ok {
		return c.sharedView()
	}
	return res
}

// ask is lookup, answered from the Cache in place when it can be.
// Records past the Router's cap for qtype are ignored (see maxRRs).
func (r *Router) ask(ctx context.Context, res Resolver, name string, qtype uint16) (answer, *lookupError) {
	limit := r.maxRRs(qtype)
	if ans, lerr, ok := fromCache(ctx, res, name, qtype, limit); ok {
		return ans, lerr
	}
	return lookup(ctx, res, name, qtype, limit)
}

// fromCache is lookup when res is an inPlaceResolver (a Cache) holding every
// response the question needs (CNAMEs included), read in place; ok is false
// otherwise.
func fromCache(ctx context.Context, res Resolver, name string, qtype uint16, limit int) (_ answer, _ *lookupError, ok bool) {
	c, ok := res.(inPlaceResolver)
	if !ok {
		return answer{}, nil, false
	}
	ans, lerr := lookup(ctx, c.cachedView(), name, qtype, limit)
	if lerr != nil && lerr.cause == errNotCached {
		return answer{}, nil, false
	}
	return ans, lerr, true
}

// lookup asks res for name's records of type qtype and follows CNAMEs
// (see followCNAMEs), asking again when a chain ends at a name the response
// says nothing about. NOERROR and NXDOMAIN are answers; every other rcode,
// a Resolver error and a done ctx are temporary failures. At most limit
// records are kept.
//
// Nothing in a response is believed that the question did not ask for:
// a response to another question (or a truncated one) is a temporary
// failure, and of the rest only records of type qtype or CNAME, class IN,
// owned by the name asked or a name on its CNAME chain, in the answer
// section, are used. Unrelated answer records, the authority section (but
// for telling a referral) and the additional section are ignored: they are
// where a cache-poisoning attempt plants its records.
func lookup(ctx context.Context, res Resolver, name string, qtype uint16, limit int) (answer, *lookupError) {
	a := answer{asked: name, name: name}
	qname := name
	authentic := true
	res = shared(res)
	for {
		if err := ctx.Err(); err != nil {
			return a, lookupFailed(qtype, qname, err.Error(), err)
		}
		msg, err := res.Resolve(ctx, qname, qtype)
		switch {
		case err != nil:
			return a, lookupFailed(qtype, qname, err.Error(), err)
		case msg == nil:
			return a, lookupFailed(qtype, qname, "no response", nil)
		case !sameQuestion(msg, dns.Question{Name: qname, Qtype: qtype, Qclass: dns.ClassINET}):
			// RFC 5452, Section 3: a resolver accepts a reply only when
			// its question section equals that of the question waiting
			// for it. Whatever Resolver produced it, a reply to another
			// question says nothing of this one.
			return a, lookupFailed(qtype, qname, "the response answers another question", nil)
		case msg.Truncated:
			// RFC 2181, Section 9: "When a DNS client receives a reply
			// with TC set, it should ignore that response, and query
			// again, using a mechanism, such as a TCP connection, that
			// will permit larger replies." A partial MX set could skip
			// the best host; the Resolver should have asked over TCP.
			return a, lookupFailed(qtype, qname, "truncated response", nil)
		case msg.Rcode != dns.RcodeSuccess && msg.Rcode != dns.RcodeNameError:
			// RFC 5321, Section 5.1: "If a temporary error is returned, the
			// message MUST be queued and retried later." SERVFAIL, REFUSED
			// and the rest say nothing about the name, so they never bounce.
			return a, lookupFailed(qtype, qname, rcodeName(msg.Rcode), nil)
		case isReferral(msg):
			// A server that is neither authoritative nor recursive for
			// the name hands out a referral: it says nothing of the
			// name's data, so it must not read as NODATA (which would
			// make an implicit MX, then a bounce).
			return a, lookupFailed(qtype, qname, "referral from a server that does not recurse", nil)
		case isLame(msg):
			// The same without NS records: Go's resolver calls it a lame
			// referral (golang/go#15434) and libresolv skips the server.
			// A real NODATA carries the SOA (RFC 2308, Section 2.2) or
			// comes from a server that is authoritative or recursive.
			return a, lookupFailed(qtype, qname, "lame reply (NOERROR, no answer, no SOA, neither AA nor RA)", nil)
		}
		authentic = authentic && msg.AuthenticatedData
		advanced, lerr := followCNAMEs(&a, msg, qtype, limit)
		if lerr != nil {
			return a, lerr
		}
		switch {
		case len(a.rrs) > 0:
			a.kind, a.authentic = found, authentic
			return a, nil
		case msg.Rcode == dns.RcodeNameError:
			// RFC 6604, Section 3: with a CNAME chain the rcode is about
			// the last name of the chain.
			a.kind, a.authentic = noDomain, authentic
			return a, nil
		case !advanced:
			a.kind, a.authentic = noData, authentic
			return a, nil
		}
		// The chain ends at a name this response has nothing for (an
		// authoritative server stops at the edge of its zones): ask again.
		qname = a.name
	}
}

// sameQuestion reports whether m's question section is exactly q (the name
// compared case-insensitively, RFC 4343).
func sameQuestion(m *dns.Msg, q dns.Question) bool {
	if len(m.Question) != 1 {
		return false
	}
	a := m.Question[0]
	return a.Qtype == q.Qtype && a.Qclass == q.Qclass && strings.EqualFold(a.Name, q.Name)
}

// isReferral reports whether msg is a referral (RFC 1034, Section 4.3.1,
// step 3b): NOERROR, no answer, not authoritative, NS records and no SOA in
// the authority section. A NODATA answer carries the SOA instead (RFC 2308,
// Section 2.2).
func isReferral(msg *dns.Msg) bool {
	if msg.Rcode != dns.RcodeSuccess || len(msg.Answer) > 0 || msg.Authoritative {
		return false
	}
	ns := false
	for _, rr := range msg.Ns {
		switch rr.Header().Rrtype {
		case dns.TypeSOA:
			return false
		case dns.TypeNS:
			ns = true
		}
	}
	return ns
}

// isLame reports whether msg is a lame reply: NOERROR with an empty answer
// section, neither AA nor RA, and no SOA in the authority section. It
// carries no information about the name (a server that is not
// authoritative for it and does not recurse), and must not be read as
// NODATA, which would make an implicit MX and then a bounce.
func isLame(msg *dns.Msg) bool {
	if msg.Rcode != dns.RcodeSuccess || len(msg.Answer) > 0 || msg.Authoritative || msg.RecursionAvailable {
		return false
	}
	return !slices.ContainsFunc(msg.Ns, func(rr dns.RR) bool { return rr != nil && rr.Header().Rrtype == dns.TypeSOA })
}

// records returns the first limit records of type qtype and class IN in rrs
// whose owner is name (compared case-insensitively, RFC 4343), in their
// order; for MX, the limit most preferred (see mostPreferred). It makes one
// allocation, for at most 2*limit records, whatever len(rrs).
func records(rrs []dns.RR, name string, qtype uint16, limit int) []dns.RR {
	match := func(rr dns.RR) bool {
		if rr == nil {
			return false
		}
		h := rr.Header()
		return h.Rrtype == qtype && h.Class == dns.ClassINET && strings.EqualFold(h.Name, name)
	}
	n := 0
	for _, rr := range rrs {
		if match(rr) {
			n++
		}
	}
	if n == 0 {
		return nil
	}
	if qtype != dns.TypeMX {
		n = min(n, limit) // addresses: the resolver's first ones are the ones to try
	}
	out := make([]dns.RR, 0, min(n, 2*limit))
	for _, rr := range rrs {
		if !match(rr) {
			continue
		}
		if len(out) == cap(out) {
			if len(out) < 2*limit {
				break // every record wanted is in
			}
			out = mostPreferred(out, limit)
		}
		out = append(out, rr)
	}
	if len(out) > limit {
		out = mostPreferred(out, limit)
	}
	return out
}

// mostPreferred keeps the limit MX records of lowest preference, in
// preference order (response order among equals), in place.
//
// A sender that caps the MX RRset must cut its least preferred end: RFC
// 5321, Section 5.1 has the list tried "in order (lowest preference value
// tried first)", so the hosts past a cap are the last ones a sender would
// reach, whatever order the response listed them in.
func mostPreferred(mxs []dns.RR, limit int) []dns.RR {
	slices.SortStableFunc(mxs, func(a, b dns.RR) int {
		return cmp.Compare(mxPreference(a), mxPreference(b))
	})
	clear(mxs[limit:])
	return mxs[:limit]
}

func mxPreference(rr dns.RR) uint16 {
	if mx, ok := rr.(*dns.MX); ok {
		return mx.Preference
	}
	return 0xffff
}

func typeName(qtype uint16) string {
	if s, ok := dns.TypeToString[qtype]; ok {
		return s
	}
	return fmt.Sprintf("TYPE%d", qtype)
}

func rcodeName(rcode int) string {
	if s, ok := dns.RcodeToString[rcode]; ok {
		return s
	}
	return fmt.Sprintf("RCODE%d", rcode)
}
