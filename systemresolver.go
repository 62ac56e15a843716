package mxroute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/miekg/dns"
)

// SystemResolver adapts Go's net.Resolver, for programs that must use the
// system's resolution (cgo and nsswitch, a custom Dial) rather than talk to
// DNS servers themselves. It answers MX, A, AAAA, CNAME and TXT questions
// with replies synthesized from the standard library's results, and it is
// as safe for concurrent use as its net.Resolver.
//
// What the standard library hides, and what SystemResolver does about it:
//
//   - It cannot tell NXDOMAIN from NODATA: both are a *net.DNSError with
//     IsNotFound. SystemResolver answers NODATA (NOERROR, no records). A
//     domain that does not exist then routes as one without MX, A or AAAA
//     records: ErrNoMailHost instead of ErrNoSuchDomain, a permanent 5.1.2
//     bounce either way. A temporary failure is never turned into a bounce.
//   - It follows CNAMEs itself and does not expose the chain, so records are
//     owned by the name asked and a Route's Canonical equals its Domain.
//   - LookupMX drops MX records whose target is not a valid domain name and
//     reports an error beside the rest; SystemResolver uses the rest. Its
//     sorting and shuffling do not matter: the Router sorts and shuffles.
//   - SERVFAIL, timeouts and other temporary failures come back as the
//     standard library's error, which the Router treats as temporary.
//   - LookupTXT joins the strings of each record: a TXT record comes back
//     as one string, cut into strings of at most 255 bytes and escaped as
//     miekg/dns holds them (presentation form: \", \\, \DDD), which is
//     all the joined record an MTA-STS or TLSRPT reader needs.
//   - Records carry TTL 0: the standard library does not report TTLs.
//   - It cannot report DNSSEC status: replies never carry the AD bit, and
//     a route through it is never Authentic.
type SystemResolver struct {
	Resolver *net.Resolver // nil: net.DefaultResolver
}

func (s SystemResolver) resolver() *net.Resolver {
	if s.Resolver != nil {
		return s.Resolver
	}
	return net.DefaultResolver
}

// Resolve asks the standard library and synthesizes a reply.
func (s SystemResolver) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	name = dns.Fqdn(name)
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response, m.RecursionAvailable = true, true
	hdr := dns.RR_Header{Name: name, Rrtype: qtype, Class: dns.ClassINET}
	var err error
	switch qtype {
	case dns.TypeMX:
		var mxs []*net.MX
		mxs, err = s.resolver().LookupMX(ctx, name)
		if err != nil && len(mxs) > 0 && !isTransient(ctx, err) {
			err = nil // some records were invalid; the valid ones stand
		}
		for _, mx := range mxs {
			m.Answer = append(m.Answer, &dns.MX{Hdr: hdr, Preference: mx.Pref, Mx: dns.Fqdn(mx.Host)})
		}
	case dns.TypeA, dns.TypeAAAA:
		network := "ip6"
		if qtype == dns.TypeA {
			network = "ip4"
		}
		var addrs []netip.Addr
		addrs, err = s.resolver().LookupNetIP(ctx, network, name)
		for _, a := range addrs {
			if qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{Hdr: hdr, A: a.Unmap().AsSlice()})
			} else {
				m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr, AAAA: a.AsSlice()})
			}
		}
	case dns.TypeCNAME:
		var cname string
		cname, err = s.resolver().LookupCNAME(ctx, name)
		if err == nil && !strings.EqualFold(dns.Fqdn(cname), name) {
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: hdr, Target: dns.Fqdn(cname)})
		}
	case dns.TypeTXT:
		// Without TXT, Router.MTASTS through a SystemResolver never found
		// a policy, and said nothing.
		var txts []string
		txts, err = s.resolver().LookupTXT(ctx, name)
		for _, t := range txts {
			m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr, Txt: txtPresentation(t)})
		}
	default:
		return nil, fmt.Errorf("mxroute: SystemResolver cannot ask for %s records", typeName(qtype))
	}
	if err == nil {
		return m, nil
	}
	var dnsErr *net.DNSError
	switch {
	case isTransient(ctx, err):
		return nil, err
	case errors.As(err, &dnsErr) && dnsErr.IsNotFound:
		m.Answer = nil // NXDOMAIN or NODATA: see the type's doc
		return m, nil
	case errors.As(err, &dnsErr):
		// Any other failure of DNS itself (Go reports SERVFAIL as a
		// temporary "server misbehaving", handled above): a SERVFAIL.
		m.Answer = nil
		m.Rcode = dns.RcodeServerFailure
		return m, nil
	}
	return nil, err
}

// isTransient reports whether err means no answer arrived: a timeout, a
// temporary failure, or a done context.
func isTransient(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var dnsErr *net.DNSError
	return errors.As(err, &dnsErr) && (dnsErr.IsTimeout || dnsErr.IsTemporary)
}

// txtPresentation turns a TXT record's bytes, as LookupTXT gives them, into
// the character-strings of a dns.TXT as miekg/dns would have unpacked them:
// at most 255 bytes each (RFC 1035, Section 3.3.14), in presentation form
// (a quote or backslash escaped, a byte outside printable ASCII as \DDD).
// The Router's TXT question undoes it (txtBytes).
func txtPresentation(raw string) []string {
	var out []string
	for {
		n := min(len(raw), 255)
		var b strings.Builder
		for i := range n {
			switch c := raw[i]; {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < ' ' || c > '~':
				fmt.Fprintf(&b, "\\%03d", c)
			default:
				b.WriteByte(c)
			}
		}
		out = append(out, b.String())
		raw = raw[n:]
		if raw == "" {
			return out
		}
	}
}
