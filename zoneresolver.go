package mxroute

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/miekg/dns"
)

// ZoneResolver answers from RFC 1035 master files, offline, the way an
// authoritative server for those zones would: records in the order of the
// file, NXDOMAIN for names that do not exist and NODATA (with the SOA) for
// names that exist without the type asked, CNAME chains followed within the
// zones it holds, wildcards (RFC 4592), and REFUSED for names outside its
// zones or under a delegation whose child zone it does not hold (a root zone
// "." holds every name, so it answers NXDOMAIN, not REFUSED). It is for
// tests, offline tools and fixed routing tables. It is safe for concurrent
// use, Add included. Its replies never carry the AD bit, even for a signed
// zone: nothing is validated, so a route through it is never Authentic.
type ZoneResolver struct {
	mu    sync.RWMutex
	zones map[string]*zone // by apex: lower-case FQDN
}

// zone is one loaded master file.
type zone struct {
	apex  string
	soa   dns.RR                         // nil when the file has none
	names map[string]map[uint16][]dns.RR // owner → type → records, file order
}

// maxZoneCNAMEs bounds the CNAME chains ZoneResolver follows into one answer.
const maxZoneCNAMEs = 16

// NewZoneResolver reads one master file; origin is its zone's origin, with or
// without the trailing dot, used for relative names and as the apex when the
// file has no SOA record.
func NewZoneResolver(r io.Reader, origin string) (*ZoneResolver, error) {
	z := &ZoneResolver{zones: map[string]*zone{}}
	if err := z.Add(r, origin); err != nil {
		return nil, err
	}
	return z, nil
}

// Add loads one more master file, another zone. A zone with the same apex as
// one already loaded is an error. $INCLUDE is not allowed.
func (z *ZoneResolver) Add(r io.Reader, origin string) error {
	origin = strings.ToLower(dns.Fqdn(origin))
	if _, ok := dns.IsDomainName(origin); !ok {
		return fmt.Errorf("mxroute: zone %q: not a domain name", origin)
	}
	zn := &zone{apex: origin, names: map[string]map[uint16][]dns.RR{}}
	zp := dns.NewZoneParser(r, origin, "")
	zp.SetIncludeAllowed(false)
	var rrs []dns.RR
	for rr, ok := zp.Next(); ok; rr, ok = zp.Next() {
		rr.Header().Name = strings.ToLower(rr.Header().Name)
		if soa, isSOA := rr.(*dns.SOA); isSOA {
			if zn.soa != nil {
				return fmt.Errorf("mxroute: zone %q: more than one SOA record", origin)
			}
			zn.soa = soa
			zn.apex = soa.Hdr.Name
		}
		rrs = append(rrs, rr)
	}
	if err := zp.Err(); err != nil {
		return fmt.Errorf("mxroute: zone %q: %w", origin, err)
	}
	for _, rr := range rrs {
		name := rr.Header().Name
		if !dns.IsSubDomain(zn.apex, name) {
			return fmt.Errorf("mxroute: zone %q: record %q is outside the zone", zn.apex, name)
		}
		types := zn.names[name]
		if types == nil {
			types = map[uint16][]dns.RR{}
			zn.names[name] = types
		}
		t := rr.Header().Rrtype
		types[t] = append(types[t], rr)
	}
	z.mu.Lock()
	defer z.mu.Unlock()
	if z.zones == nil {
		z.zones = map[string]*zone{}
	}
	if _, dup := z.zones[zn.apex]; dup {
		return fmt.Errorf("mxroute: zone %q is already loaded", zn.apex)
	}
	z.zones[zn.apex] = zn
	return nil
}

// Resolve answers one question from the loaded zones.
func (z *ZoneResolver) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	// AA and RA: Go's resolver takes a NOERROR without answers and with
	// neither flag for a lame referral, and this reply may go on the wire.
	m.Response, m.Authoritative, m.RecursionAvailable = true, true, true

	z.mu.RLock()
	defer z.mu.RUnlock()
	qname := strings.ToLower(dns.Fqdn(name))
	seen := map[string]bool{}
	for i := 0; ; i++ {
		zn := z.zoneFor(qname)
		if zn == nil || zn.delegated(qname) {
			if i == 0 {
				m.Rcode = dns.RcodeRefused
			}
			// A CNAME leading out of our zones: the chain so far, NOERROR;
			// the resolver asks elsewhere for the rest.
			return m, nil
		}
		rrs, exists := zn.lookup(qname)
		switch {
		case rrs[qtype] != nil:
			m.Answer = append(m.Answer, copyOwned(rrs[qtype], qname)...)
			return m, nil
		case rrs[dns.TypeCNAME] != nil && qtype != dns.TypeCNAME:
			cname := copyOwned(rrs[dns.TypeCNAME][:1], qname)
			m.Answer = append(m.Answer, cname...)
			seen[qname] = true
			qname = strings.ToLower(cname[0].(*dns.CNAME).Target)
			if seen[qname] || i >= maxZoneCNAMEs {
				return m, nil // a loop: the caller sees it in the chain
			}
			continue
		case exists:
			m.Ns = zn.soaRR()
			return m, nil
		}
		m.Rcode = dns.RcodeNameError
		m.Ns = zn.soaRR()
		return m, nil
	}
}

// zoneFor returns the loaded zone with the longest apex at or above name,
// the root zone "." included.
func (z *ZoneResolver) zoneFor(name string) *zone {
	for n := name; n != ""; n = parentName(n) {
		if zn, ok := z.zones[n]; ok {
			return zn
		}
	}
	return nil
}

// parentName returns the name one label up: "example." for "mx.example.",
// "." for "example.", and "" for the root, which has no parent.
func parentName(n string) string {
	if n == "." || n == "" {
		return ""
	}
	off, end := dns.NextLabel(n, 0)
	if end || off >= len(n) {
		return "."
	}
	return n[off:]
}

// delegated reports whether name is at or below a zone cut of zn: a name
// strictly below the apex with NS records. (RFC 1034, Section 4.2.1: the
// zone's authority ends there.)
func (zn *zone) delegated(name string) bool {
	for n := name; n != "" && n != zn.apex && dns.IsSubDomain(zn.apex, n); n = parentName(n) {
		if zn.names[n][dns.TypeNS] != nil {
			return true
		}
	}
	return false
}

// lookup returns name's records by type, synthesized from a wildcard when
// the name does not exist (RFC 4592), and whether the name exists (with or
// without records of its own: an empty non-terminal exists).
func (zn *zone) lookup(name string) (map[uint16][]dns.RR, bool) {
	if rrs, ok := zn.names[name]; ok {
		return rrs, true
	}
	if zn.hasBelow(name) {
		return nil, true // an empty non-terminal: NODATA, never a wildcard
	}
	// RFC 4592, Section 3.3.1: the closest encloser is the longest existing
	// ancestor; only "*." + closest encloser may answer for the name.
	for n := name; n != zn.apex && n != ""; {
		n = parentName(n)
		if _, ok := zn.names[n]; ok || zn.hasBelow(n) {
			wild := "*." + n
			if n == "." {
				wild = "*."
			}
			rrs, ok := zn.names[wild]
			return rrs, ok
		}
	}
	return nil, false
}

// hasBelow reports whether some owner name lies strictly below name.
func (zn *zone) hasBelow(name string) bool {
	suffix := "." + name
	if name == "." {
		suffix = "."
	}
	for n := range zn.names {
		if len(n) > len(name) && strings.HasSuffix(n, suffix) {
			return true
		}
	}
	return false
}

func (zn *zone) soaRR() []dns.RR {
	if zn.soa == nil {
		return nil
	}
	return []dns.RR{dns.Copy(zn.soa)}
}

// copyOwned copies records with their owner set to name (the query name, or
// the name a wildcard answers for), so callers never hold the stored ones.
func copyOwned(rrs []dns.RR, name string) []dns.RR {
	out := make([]dns.RR, len(rrs))
	for i, rr := range rrs {
		out[i] = dns.Copy(rr)
		out[i].Header().Name = name
	}
	return out
}
