package mxroute

import (
	"context"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestResolverFunc(t *testing.T) {
	var gotName string
	var gotType uint16
	f := ResolverFunc(func(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
		gotName, gotType = name, qtype
		return reply(name, qtype, dns.RcodeSuccess, name+" 60 IN A 192.0.2.1"), nil
	})
	var res Resolver = f
	m, err := res.Resolve(t.Context(), "h.test.", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, "h.test.", gotName)
	assert.Equal(t, dns.TypeA, gotType)
	assert.Len(t, m.Answer, 1)
}

// FuzzRouteResponse feeds arbitrary DNS messages to the router as the
// answers to its questions and checks what must hold whatever the wire
// says: no panic; a failure is an *Error with a status; a route lists hosts
// in ascending preference, never an address twice, and no address for a
// host that carries an error.
func FuzzRouteResponse(f *testing.F) {
	seed := func(rrs ...string) []byte {
		b, err := reply("d.test.", dns.TypeMX, 0, rrs...).Pack()
		if err != nil {
			panic(err)
		}
		return b
	}
	f.Add(seed("d.test. 60 IN MX 10 mx.d.test.", "mx.d.test. 60 IN A 192.0.2.1"))
	f.Add(seed("d.test. 60 IN MX 0 ."))
	f.Add(seed("d.test. 60 IN CNAME e.test.", "e.test. 60 IN MX 5 d.test.", "d.test. 60 IN AAAA 2001:db8::1"))
	f.Add(seed("d.test. 60 IN CNAME d.test."))
	f.Add(seed("d.test. 60 IN MX 10 192.0.2.1.", "d.test. 60 IN MX 10 a.test.", "a.test. 60 IN A 192.0.2.1"))
	f.Add([]byte{})
	ad := reply("d.test.", dns.TypeMX, 0, "d.test. 60 IN MX 10 mx.d.test.", "mx.d.test. 60 IN A 192.0.2.1", "mx.d.test. 60 IN AAAA 2001:db8::1")
	ad.AuthenticatedData = true
	if b, err := ad.Pack(); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, wire []byte) {
		msg := new(dns.Msg)
		if msg.Unpack(wire) != nil {
			return
		}
		// Every question gets the same message, its question set to the
		// one asked (a reply to another question is rejected before its
		// records are read): records for other names and types must be
		// ignored, the rest used.
		res := ResolverFunc(func(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
			m := msg.Copy()
			m.Question = []dns.Question{{Name: name, Qtype: qtype, Qclass: dns.ClassINET}}
			return m, nil
		})
		for _, local := range [][]string{nil, {"mx.d.test"}} {
			rt, err := (&Router{Resolver: res, LocalNames: local}).Route(t.Context(), "d.test")
			if err != nil {
				e, ok := err.(*Error)
				if !ok || e.Status == "" || e.Err == nil {
					t.Fatalf("error %v is not a complete *Error", err)
				}
				if rt == nil {
					continue
				}
			}
			if len(rt.Hosts) > defaultMaxMX {
				t.Fatalf("%d hosts: the MX cap did not hold", len(rt.Hosts))
			}
			if rt.Authentic && !msg.AuthenticatedData {
				t.Fatalf("Authentic without the AD bit")
			}
			seen := map[string]bool{}
			for i, h := range rt.Hosts {
				if len(h.Addrs) > defaultMaxAddrsPerHost {
					t.Fatalf("host %s has %d addresses: the cap did not hold", h.Name, len(h.Addrs))
				}
				if h.Authentic && !msg.AuthenticatedData {
					t.Fatalf("host %s Authentic without the AD bit", h.Name)
				}
				if i > 0 && !rt.Implicit && h.Preference < rt.Hosts[i-1].Preference {
					t.Fatalf("hosts out of order: %+v", rt.Hosts)
				}
				if h.Err != nil && len(h.Addrs) > 0 {
					t.Fatalf("host %s has an error and addresses", h.Name)
				}
				for _, a := range h.Addrs {
					if seen[a.Unmap().String()] {
						t.Fatalf("address %s listed twice", a)
					}
					seen[a.Unmap().String()] = true
				}
				if local != nil && h.Name == "mx.d.test" {
					t.Fatalf("the loop guard kept this host: %+v", rt.Hosts)
				}
			}
		}
	})
}
