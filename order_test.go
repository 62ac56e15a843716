package mxroute

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/miekg/dns"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

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
	sortHosts(context.Background(), tracer{}, hs, rand.New(rand.NewPCG(1, 1)))
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
		sortHosts(context.Background(), tracer{}, hs, rand.New(rand.NewPCG(42, 7)))
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
		sortHosts(context.Background(), tracer{}, hs, rand.New(rand.NewPCG(seed, seed)))
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
		sortHosts(context.Background(), tracer{}, hs, nil)
		seen[names(hs)[0]] = true
	}
	assert.Len(t, seen, 2, "a nil Rand still randomizes")
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
		hosts, err := mxHosts(context.Background(), tracer{}, "example", rrs)
		if err != nil {
			b.Fatal(err)
		}
		sortHosts(context.Background(), tracer{}, hosts, rng)
	}
}

// TestShuffleLockFollowsRand: copies of a Router share its Rand, so its lock
// must be the Rand's, not the Router value's: copies routing at once are no
// data race (run with -race), and one seeded Router still gives one order.
func TestShuffleLockFollowsRand(t *testing.T) {
	z := testZone(t, "ties.test.", tiesZone)
	base := Router{Resolver: z, Rand: rand.New(rand.NewPCG(1, 2))}
	var wg sync.WaitGroup
	for i := range 4 {
		r := base // a copy, sharing base.Rand
		r.MaxHosts = i
		wg.Go(func() {
			for range 50 {
				_, err := r.Route(t.Context(), "ties.test")
				assert.NoError(t, err)
			}
		})
	}
	wg.Wait()
	assert.Same(t, randLock(base.Rand), randLock(base.Rand))
}

func BenchmarkSortHosts20(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 1))
	base := make([]*mxHost, 20)
	for i := range base {
		base[i] = &mxHost{name: fmt.Sprintf("mx%02d.example", i), pref: uint16(i % 4 * 10)}
	}
	hs := slices.Clone(base)
	b.ReportAllocs()
	for b.Loop() {
		copy(hs, base)
		sortHosts(context.Background(), tracer{}, hs, rng)
	}
}
