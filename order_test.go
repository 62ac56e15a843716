package mxroute

import (
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"testing"

	"github.com/miekg/dns"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mustAddrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func TestOrderAddrs(t *testing.T) {
	v6 := mustAddrs("2001:db8::2", "2001:db8::1")
	v4 := mustAddrs("192.0.2.3", "192.0.2.1", "192.0.2.2")
	tests := []struct {
		family Family
		want   []netip.Addr
		reason string
	}{
		{AnyFamily, mustAddrs("2001:db8::2", "2001:db8::1", "192.0.2.3", "192.0.2.1", "192.0.2.2"), "RFC 6724: IPv6 first, each family in resolver order"},
		{IPv4Only, v4, "only A records, in resolver order"},
		{IPv6Only, v6, "only AAAA records, in resolver order"},
		{PreferIPv4, mustAddrs("192.0.2.3", "192.0.2.1", "192.0.2.2", "2001:db8::2", "2001:db8::1"), "IPv4 first"},
		{Interleave, mustAddrs("2001:db8::2", "192.0.2.3", "2001:db8::1", "192.0.2.1", "192.0.2.2"), "RFC 8305, Section 4: alternate, IPv6 first"},
	}
	for _, tt := range tests {
		t.Run(tt.family.String(), func(t *testing.T) {
			assert.Equal(t, tt.want, orderAddrs(nil, v6, v4, tt.family), tt.reason)
		})
	}
	assert.Equal(t, mustAddrs("192.0.2.3", "192.0.2.1", "192.0.2.2"), orderAddrs(nil, nil, v4, Interleave), "one family only")
	assert.Empty(t, orderAddrs(nil, v6, nil, IPv4Only), "the family policy leaves nothing")
	assert.Equal(t, "Family(9)", Family(9).String())
}

func hostsNamed(prefs map[string]uint16) []*mxHost {
	var hs []*mxHost
	for n, p := range prefs {
		hs = append(hs, &mxHost{name: n, pref: p})
	}
	return hs
}

func names(hs []*mxHost) []string {
	var out []string
	for _, h := range hs {
		out = append(out, h.name)
	}
	return out
}

func TestSortHostsByPreference(t *testing.T) {
	hs := hostsNamed(map[string]uint16{"c": 30, "a": 10, "b": 20, "z": 0, "m": 65535})
	sortHosts(hs, rand.New(rand.NewPCG(1, 1)))
	assert.Equal(t, []string{"z", "a", "b", "c", "m"}, names(hs), "RFC 5321, Section 5.1: ascending preference")
}

// TestSortHostsSeeded: a seeded Rand gives one order whatever order the
// resolver rotated the RRset into.
func TestSortHostsSeeded(t *testing.T) {
	base := []string{"a", "b", "c", "d", "e"}
	var want []string
	for rot := range base {
		rotated := append(slices.Clone(base[rot:]), base[:rot]...)
		hs := make([]*mxHost, len(rotated))
		for i, n := range rotated {
			hs[i] = &mxHost{name: n, pref: 10}
		}
		sortHosts(hs, rand.New(rand.NewPCG(42, 7)))
		if want == nil {
			want = names(hs)
			continue
		}
		assert.Equal(t, want, names(hs), "rotation %d", rot)
	}
}

// TestSortHostsShuffles: RFC 5321, Section 5.1: equal preferences MUST be
// randomized. Over 3000 deterministic seeds each of three tied hosts comes
// first about a third of the time; an unshuffled or biased sort fails.
func TestSortHostsShuffles(t *testing.T) {
	first := map[string]int{}
	orders := map[string]bool{}
	for seed := range uint64(3000) {
		hs := hostsNamed(map[string]uint16{"best": 5, "x": 10, "y": 10, "z": 10, "worst": 20})
		sortHosts(hs, rand.New(rand.NewPCG(seed, seed)))
		n := names(hs)
		require.Equal(t, "best", n[0], "ties never jump ahead of a better preference")
		require.Equal(t, "worst", n[4], "ties never fall behind a worse preference")
		first[n[1]]++
		orders[n[1]+n[2]+n[3]] = true
	}
	for _, h := range []string{"x", "y", "z"} {
		assert.InDelta(t, 1000, first[h], 150, "host %s first %d times of 3000", h, first[h])
	}
	assert.Len(t, orders, 6, "every permutation of three appears")
}

func TestSortHostsNilRand(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		hs := hostsNamed(map[string]uint16{"x": 10, "y": 10})
		sortHosts(hs, nil)
		seen[names(hs)[0]] = true
	}
	assert.Len(t, seen, 2, "a nil Rand still randomizes")
}

func TestDedupeAddrs(t *testing.T) {
	bad := &Error{Err: ErrNoAddress}
	hs := []*mxHost{
		{name: "a", addrs: mustAddrs("192.0.2.1", "192.0.2.1", "2001:db8::1")},
		{name: "broken", err: bad},
		{name: "b", addrs: mustAddrs("::ffff:192.0.2.1", "2001:db8::1")},
		{name: "c", addrs: mustAddrs("192.0.2.1", "192.0.2.9")},
	}
	got := dedupeAddrs(hs)
	assert.Equal(t, []string{"a", "broken", "c"}, names(got), "b has nothing new and goes; an erring host stays")
	assert.Equal(t, mustAddrs("192.0.2.1", "2001:db8::1"), got[0].addrs, "a duplicate within a host goes too")
	assert.Equal(t, mustAddrs("192.0.2.9"), got[2].addrs)
}

func TestLimitAddrs(t *testing.T) {
	mk := func() []*mxHost {
		return []*mxHost{
			{name: "a", addrs: mustAddrs("192.0.2.1", "192.0.2.2")},
			{name: "err", err: &Error{}},
			{name: "b", addrs: mustAddrs("192.0.2.3", "192.0.2.4")},
			{name: "c", addrs: mustAddrs("192.0.2.5")},
		}
	}
	tests := []struct {
		max       int
		wantHosts []string
		wantLast  int
		reason    string
	}{
		{0, []string{"a", "err", "b", "c"}, 1, "0 is no limit"},
		{1, []string{"a"}, 1, "cut inside the first host"},
		{2, []string{"a"}, 2, "the limit reached at the end of a host drops the rest"},
		{3, []string{"a", "err", "b"}, 1, "an erring host before the cut stays"},
		{5, []string{"a", "err", "b", "c"}, 1, "exactly all"},
		{9, []string{"a", "err", "b", "c"}, 1, "more than all"},
	}
	for _, tt := range tests {
		got := limitAddrs(mk(), tt.max)
		assert.Equal(t, tt.wantHosts, names(got), "max %d: %s", tt.max, tt.reason)
		assert.Len(t, got[len(got)-1].addrs, tt.wantLast, "max %d", tt.max)
	}
}

// BenchmarkOrderMX20 turns a 20-record MX RRset into sorted, shuffled mail
// hosts: what a route does with its MX answer.
func BenchmarkOrderMX20(b *testing.B) {
	rrs := make([]dns.RR, 20)
	for i := range rrs {
		rrs[i] = &dns.MX{Hdr: dns.RR_Header{Name: "example.", Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 300},
			Preference: uint16(i % 4 * 10), Mx: fmt.Sprintf("mx%02d.example.", i)}
	}
	rng := rand.New(rand.NewPCG(1, 1))
	b.ReportAllocs()
	for b.Loop() {
		hosts, err := mxHosts("example", rrs)
		if err != nil {
			b.Fatal(err)
		}
		sortHosts(hosts, rng)
	}
}
