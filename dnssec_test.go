package mxroute

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
)

// TestDNSResolverDNSSECBits: with DNSSEC the question carries DO (RFC 3225)
// and AD (RFC 6840, Section 5.7); without, neither.
func TestDNSResolverDNSSECBits(t *testing.T) {
	for _, dnssec := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[dnssec], func(t *testing.T) {
			t.Parallel()
			var do, ad atomic.Bool
			addr := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
				if opt := req.IsEdns0(); opt != nil {
					do.Store(opt.Do())
				}
				ad.Store(req.AuthenticatedData)
				writeReply(w, req, dns.RcodeSuccess)
			})
			_, err := (&DNSResolver{Servers: []string{addr}, Timeout: time.Second, Attempts: 1, DNSSEC: dnssec}).Resolve(t.Context(), "a.test.", dns.TypeMX)
			require.NoError(t, err)
			assert.Equal(t, dnssec, do.Load(), "DO bit")
			assert.Equal(t, dnssec, ad.Load(), "AD bit")
		})
	}
}

// TestDNSResolverAD: the AD bit of a reply is passed on only with DNSSEC and
// from a trusted server.
func TestDNSResolverAD(t *testing.T) {
	addr := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable, m.AuthenticatedData = true, true // a validating resolver, or a liar
		_ = w.WriteMsg(m)
	})
	for _, tt := range []struct {
		dnssec, want bool
		reason       string
	}{
		{false, false, "without DNSSEC the bit was not asked for and is never passed on"},
		{true, true, "a loopback server is trusted"},
	} {
		m, err := (&DNSResolver{Servers: []string{addr}, Timeout: time.Second, Attempts: 1, DNSSEC: tt.dnssec}).Resolve(t.Context(), "a.test.", dns.TypeA)
		require.NoError(t, err)
		assert.Equal(t, tt.want, m.AuthenticatedData, tt.reason)
	}
}

// TestBelievesAD: whose AD bit is believed. Only loopback servers can run in
// tests, so the decision for the others is tested here.
func TestBelievesAD(t *testing.T) {
	tests := []struct {
		server  string
		trustAD bool
		want    bool
		reason  string
	}{
		{"127.0.0.1:53", false, true, "loopback: this host"},
		{"127.0.0.53:53", false, true, "all of 127.0.0.0/8 (systemd-resolved)"},
		{"[::1]:53", false, true, "IPv6 loopback"},
		{"[::ffff:127.0.0.1]:53", false, true, "IPv4-mapped loopback"},
		{"192.0.2.53:53", false, false, "RFC 4035, Section 4.9.3: a server across the network is not trusted by default"},
		{"[2001:db8::53]:53", false, false, "nor over IPv6"},
		{"localhost:53", false, false, "a name is not an address: it could resolve anywhere"},
		{"192.0.2.53:53", true, true, "TrustAD (or resolv.conf's trust-ad) trusts every server"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, dnsConfig{trustAD: tt.trustAD}.believesAD(parseServer(tt.server)), "%s: %s", tt.server, tt.reason)
	}
}

// adZone answers from a zone and sets AD on the replies for the names in
// authentic, as a validating resolver does for signed names.
func adZone(t *testing.T, authentic ...string) Resolver {
	z := testZone(t, "sec.test.", `$ORIGIN sec.test.
@ 60 IN SOA ns h 1 2 3 4 5
signed      IN MX 10 mx.signed
mx.signed   IN A  192.0.2.1
            IN AAAA 2001:db8::1
half        IN MX 10 mx.half
mx.half     IN A  192.0.2.2
implicit    IN A  192.0.2.3
alias       IN CNAME signed
`)
	return ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		m, err := z.Resolve(ctx, name, qtype)
		if err == nil {
			m.AuthenticatedData = false
			for _, a := range authentic {
				if strings.EqualFold(a, name+dns.TypeToString[qtype]) {
					m.AuthenticatedData = true
				}
			}
		}
		return m, err
	})
}

// TestRouteAuthentic: Route.Authentic says whether the MX RRset (or the
// NODATA of an implicit MX) was authenticated, Host.Authentic whether every
// address lookup of the host was.
func TestRouteAuthentic(t *testing.T) {
	all := []string{"signed.sec.test.MX", "mx.signed.sec.test.A", "mx.signed.sec.test.AAAA", "implicit.sec.test.MX",
		"implicit.sec.test.A", "implicit.sec.test.AAAA", "half.sec.test.MX", "mx.half.sec.test.A"}
	tests := []struct {
		name      string
		domain    string
		authentic []string // "name.TYPE" whose replies carry AD
		family    Family
		wantRoute bool
		wantHost  bool
		reason    string
	}{
		{"all signed", "signed.sec.test", all, AnyFamily, true, true, "every reply had AD"},
		{"nothing signed", "signed.sec.test", nil, AnyFamily, false, false, "no reply had AD"},
		{"MX signed, addresses not", "signed.sec.test", []string{"signed.sec.test.MX"}, AnyFamily, true, false, "the host's lookups were not authenticated"},
		{"one family unsigned", "signed.sec.test", []string{"signed.sec.test.MX", "mx.signed.sec.test.A"}, AnyFamily, true, false,
			"every address lookup counts, the NODATA or AAAA too"},
		{"only the family asked", "signed.sec.test", []string{"signed.sec.test.MX", "mx.signed.sec.test.A"}, IPv4Only, true, true,
			"IPv4Only asks for A only, and that was authenticated"},
		{"addresses signed, MX not", "signed.sec.test", all[1:], AnyFamily, false, true, "the steps are reported apart"},
		{"implicit MX", "implicit.sec.test", all, AnyFamily, true, true, "the authenticated NODATA for MX makes the implicit MX authentic"},
		{"CNAME in one reply, signed", "alias.sec.test", append([]string{"alias.sec.test.MX"}, all...), AnyFamily, true, true,
			"ZoneResolver follows the chain in one reply, and that reply carried AD"},
		{"CNAME in one reply, unsigned", "alias.sec.test", all, AnyFamily, false, true, "the reply with the chain had no AD"},
		{"AAAA NODATA unsigned", "half.sec.test", []string{"half.sec.test.MX", "mx.half.sec.test.A"}, AnyFamily, true, false,
			"an unauthenticated NODATA could hide an address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt, err := (&Router{Resolver: adZone(t, tt.authentic...), Family: tt.family}).Route(t.Context(), tt.domain)
			require.NoError(t, err)
			assert.Equal(t, tt.wantRoute, rt.Authentic, "Route.Authentic: %s", tt.reason)
			require.Len(t, rt.Hosts, 1)
			assert.Equal(t, tt.wantHost, rt.Hosts[0].Authentic, "Host.Authentic: %s", tt.reason)
		})
	}
}

// TestRouteAuthenticChain: a chain that takes two questions is authentic
// only when both replies were.
func TestRouteAuthenticChain(t *testing.T) {
	for _, tt := range []struct {
		adFirst, adSecond, want bool
	}{{true, true, true}, {true, false, false}, {false, true, false}} {
		res := ResolverFunc(func(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
			var m *dns.Msg
			switch {
			case name == "alias.test." && qtype == dns.TypeMX:
				m = reply(name, qtype, 0, "alias.test. 60 IN CNAME real.test.")
				m.AuthenticatedData = tt.adFirst
			case name == "real.test." && qtype == dns.TypeMX:
				m = reply(name, qtype, 0, "real.test. 60 IN MX 10 mx.real.test.")
				m.AuthenticatedData = tt.adSecond
			case qtype == dns.TypeA:
				m = reply(name, qtype, 0, name+" 60 IN A 192.0.2.9")
				m.AuthenticatedData = true
			default:
				m = reply(name, qtype, 0)
				m.AuthenticatedData = true
			}
			return m, nil
		})
		rt, err := (&Router{Resolver: res}).Route(t.Context(), "alias.test")
		require.NoError(t, err)
		assert.Equal(t, "real.test", rt.Canonical)
		assert.Equal(t, tt.want, rt.Authentic, "AD on the first reply %v, on the second %v", tt.adFirst, tt.adSecond)
	}
}

// TestAuthenticNotClaimed: resolvers that cannot know never claim it.
func TestAuthenticNotClaimed(t *testing.T) {
	z := testZone(t, "ties.test.", tiesZone)
	rt, err := (&Router{Resolver: z}).Route(t.Context(), "ties.test")
	require.NoError(t, err)
	assert.False(t, rt.Authentic, "ZoneResolver answers are not authenticated")
	for _, h := range rt.Hosts {
		assert.False(t, h.Authentic)
	}
	rt, err = (&Router{}).Route(t.Context(), "[192.0.2.1]")
	require.NoError(t, err)
	assert.False(t, rt.Authentic, "an address literal is not from DNS")
	assert.False(t, rt.Hosts[0].Authentic)
}

// TestDNSResolverRotate: with Rotate each question starts at the next
// server; without, always at the first.
func TestDNSResolverRotate(t *testing.T) {
	for _, rotate := range []bool{false, true} {
		t.Run(map[bool]string{false: "off", true: "on"}[rotate], func(t *testing.T) {
			t.Parallel()
			var hits [3]atomic.Int32
			var servers []string
			for i := range hits {
				servers = append(servers, serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
					hits[i].Add(1)
					writeReply(w, req, dns.RcodeSuccess)
				}))
			}
			r := &DNSResolver{Servers: servers, Timeout: time.Second, Attempts: 1, Rotate: rotate}
			for range 6 {
				_, err := r.Resolve(t.Context(), "a.test.", dns.TypeA)
				require.NoError(t, err)
			}
			want := [3]int32{6, 0, 0}
			if rotate {
				want = [3]int32{2, 2, 2}
			}
			assert.Equal(t, want, [3]int32{hits[0].Load(), hits[1].Load(), hits[2].Load()})
		})
	}
}

// TestRouteHammered: one Router, one DNSResolver (DNSSEC, rotation over two
// servers, one of them poisoning) and a seeded Rand, from many goroutines at
// once; run under -race. Every route is the honest one and authentic.
func TestRouteHammered(t *testing.T) {
	signed := victimZone()
	signed.AD = true
	honest := dnstest.Serve(t, &dnstest.Hostile{Attack: dnstest.Honest, Backend: signed})
	poisoner := dnstest.Serve(t, &dnstest.Hostile{Attack: dnstest.Poison, Backend: signed, Plant: poison, PlantOn: dns.TypeMX})
	r := &Router{
		Resolver: &DNSResolver{Servers: []string{honest, poisoner}, Timeout: 2 * time.Second, Attempts: 2, Rotate: true, DNSSEC: true},
		Rand:     rand.New(rand.NewPCG(5, 6)),
	}
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			for range 10 {
				rt, err := r.Route(t.Context(), "victim.test")
				if !assert.NoError(t, err) {
					return
				}
				assert.True(t, rt.Authentic)
				assert.Equal(t, []string{"2001:db8::25", "192.0.2.25"}, targetAddrs(rt))
			}
		})
	}
	wg.Wait()
}

// A DANE client routes through a validating resolver (here a ResolverFunc
// plays one: it answers from a zone and sets AD) and checks Authentic before
// it looks up TLSA records. With a real resolver, use
// &DNSResolver{DNSSEC: true} and a resolver on loopback (or TrustAD).
func ExampleRoute_authentic() {
	z, _ := NewZoneResolver(strings.NewReader(`
example.org.      60 IN MX   10 mx.example.org.
mx.example.org.   60 IN A    192.0.2.25
`), "example.org.")
	validating := ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		m, err := z.Resolve(ctx, name, qtype)
		if err == nil {
			m.AuthenticatedData = true // what a validating resolver says of a signed zone
		}
		return m, err
	})
	rt, err := (&Router{Resolver: validating}).Route(context.Background(), "example.org")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("MX RRset authentic:", rt.Authentic)
	for _, h := range rt.Hosts {
		fmt.Println(h.Name, "addresses authentic:", h.Authentic)
	}
	// Output:
	// MX RRset authentic: true
	// mx.example.org addresses authentic: true
}
