package mxroute

import (
	"context"
	"strings"
	"testing"

	"github.com/miekg/dns"
)

// FuzzZoneResolver loads arbitrary master files and asks arbitrary names:
// no panic, and every answer is a well-formed authoritative reply with one
// of the rcodes an authoritative server gives.
func FuzzZoneResolver(f *testing.F) {
	f.Add("$ORIGIN z.\n@ 60 IN SOA ns h 1 2 3 4 5\n@ IN MX 10 mx\nmx IN A 192.0.2.1\n", "z.")
	f.Add("*.w.z. 60 IN MX 10 h.z.\nh.z. 60 IN A 192.0.2.1\n", "a.w.z.")
	f.Add("a.z. 60 IN CNAME b.z.\nb.z. 60 IN CNAME a.z.\n", "a.z.")
	f.Add("sub.z. 60 IN NS ns.other.\n", "x.sub.z.")
	f.Add("a.b.c.z. 60 IN TXT x\n", "b.c.z.")
	f.Fuzz(func(t *testing.T, zone, name string) {
		z, err := NewZoneResolver(strings.NewReader(zone), "z.")
		if err != nil {
			return
		}
		if _, ok := dns.IsDomainName(name); !ok {
			return
		}
		for _, qtype := range []uint16{dns.TypeMX, dns.TypeA, dns.TypeCNAME} {
			m, err := z.Resolve(context.Background(), name, qtype)
			if err != nil {
				t.Fatalf("Resolve(%q): %v", name, err)
			}
			switch m.Rcode {
			case dns.RcodeSuccess, dns.RcodeNameError, dns.RcodeRefused:
			default:
				t.Fatalf("Resolve(%q): rcode %d", name, m.Rcode)
			}
			if !m.Response || !m.Authoritative || len(m.Question) != 1 {
				t.Fatalf("Resolve(%q): malformed reply %v", name, m)
			}
			if len(m.Answer) > maxZoneCNAMEs+1+len(strings.Split(zone, "\n")) {
				t.Fatalf("Resolve(%q): %d answers", name, len(m.Answer))
			}
		}
	})
}
