package mxroute

import (
	"context"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const tiesZone = `
$ORIGIN ties.test.
@   3600 IN SOA ns hostmaster 1 3600 600 86400 300
@   IN MX 10 a
@   IN MX 10 b
@   IN MX 10 c
@   IN MX 10 d
@   IN MX 20 e
a   IN A 192.0.2.1
b   IN A 192.0.2.2
c   IN A 192.0.2.3
d   IN A 192.0.2.4
e   IN A 192.0.2.5
    IN AAAA 2001:db8::5
`

func hostNames(rt *Route) []string {
	var out []string
	for _, h := range rt.Hosts {
		out = append(out, h.Name)
	}
	return out
}

// rotating wraps a resolver and rotates every answer section by n, as
// resolvers do between answers.
func rotating(next Resolver, n *atomic.Int32) Resolver {
	return ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		m, err := next.Resolve(ctx, name, qtype)
		if err != nil || len(m.Answer) == 0 {
			return m, err
		}
		k := int(n.Add(1)) % len(m.Answer)
		m.Answer = append(m.Answer[k:], m.Answer[:k]...)
		return m, nil
	})
}

func TestRouteSeededIsReproducible(t *testing.T) {
	z := testZone(t, "ties.test.", tiesZone)
	var rot atomic.Int32
	var first []string
	for i := range 8 {
		r := &Router{Resolver: rotating(z, &rot), Rand: rand.New(rand.NewPCG(7, 7)), Family: IPv4Only}
		rt, err := r.Route(t.Context(), "ties.test")
		require.NoError(t, err)
		if i == 0 {
			first = hostNames(rt)
			continue
		}
		assert.Equal(t, first, hostNames(rt), "the same seed gives the same route whatever the RRset rotation (try %d)", i)
	}
	assert.Equal(t, "e.ties.test", first[4], "the worse preference stays last")
}

func TestRouteTargets(t *testing.T) {
	z := testZone(t, "ties.test.", tiesZone)
	r := &Router{Resolver: z, Rand: rand.New(rand.NewPCG(1, 2)), MaxHosts: 0}
	rt, err := r.Route(t.Context(), "ties.test")
	require.NoError(t, err)
	targets := rt.Targets()
	require.Len(t, targets, 6)
	assert.Equal(t, Target{Host: "e.ties.test", Preference: 20, Addr: mustAddrs("2001:db8::5")[0]}, targets[4])
	assert.Equal(t, Target{Host: "e.ties.test", Preference: 20, Addr: mustAddrs("192.0.2.5")[0]}, targets[5])
	for i, h := range rt.Hosts[:4] {
		assert.Equal(t, h.Name, targets[i].Host, "targets follow the host order")
		assert.NoError(t, h.Err, "a usable host has a nil Err, not a typed nil")
	}
	assert.Nil(t, (*Route)(nil).Targets())
}

// TestRouteConcurrent hammers one Router, seeded Rand included, from many
// goroutines; run with -race.
func TestRouteConcurrent(t *testing.T) {
	z := testZone(t, "ties.test.", tiesZone)
	r := &Router{Resolver: z, Rand: rand.New(rand.NewPCG(3, 4))}
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for range 20 {
				rt, err := r.Route(t.Context(), "ties.test")
				if assert.NoError(t, err) {
					assert.Len(t, rt.Targets(), 6)
				}
			}
		})
	}
	wg.Wait()
}

// TestRouteParallelLookups: the address questions of all hosts are in flight
// at once, so a route costs two round-trips. Every A/AAAA answer waits until
// all ten questions have arrived; asked one after another, they never would.
func TestRouteParallelLookups(t *testing.T) {
	z := testZone(t, "ties.test.", tiesZone)
	const want = 10 // five hosts, A and AAAA
	var arrived atomic.Int32
	all := make(chan struct{})
	res := ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		if qtype == dns.TypeA || qtype == dns.TypeAAAA {
			if arrived.Add(1) == want {
				close(all)
			}
			select {
			case <-all:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return z.Resolve(ctx, name, qtype)
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	rt, err := (&Router{Resolver: res}).Route(ctx, "ties.test")
	require.NoError(t, err, "the lookups were not all in flight together")
	assert.Len(t, rt.Hosts, 5)
	assert.Equal(t, int32(want), arrived.Load())
}

func TestRouteQuestionsAsked(t *testing.T) {
	z := testZone(t, "ties.test.", tiesZone)
	tests := []struct {
		name   string
		router Router
		domain string
		want   int
		reason string
	}{
		{"all hosts, both families", Router{}, "ties.test", 1 + 5*2, "one MX question, then A and AAAA per host"},
		{"IPv4 only", Router{Family: IPv4Only}, "ties.test", 1 + 5, "no AAAA questions"},
		{"MaxHosts bounds DNS work", Router{MaxHosts: 2, Family: IPv4Only}, "ties.test", 1 + 2, "hosts past the limit are not looked up"},
		{"MaxHosts counts usable hosts", Router{MaxHosts: 1, Family: IPv6Only}, "ties.test", 1 + 5,
			"a to d have no AAAA: they take no place, and the lookups go on, a round at a time, until e"},
		{"loop guard by name prunes before lookups", Router{LocalNames: []string{"e.ties.test"}, Family: IPv4Only}, "ties.test", 1 + 4, "this host and worse are never looked up"},
		{"IPv6-only sender with IPv4 LocalAddrs", Router{Family: IPv6Only, LocalAddrs: mustAddrs("192.0.2.200")}, "ties.test", 1 + 5*2,
			"the A records are needed to recognise this host"},
		{"MaxHosts with LocalAddrs", Router{MaxHosts: 1, Family: IPv4Only, LocalAddrs: mustAddrs("192.0.2.200")}, "ties.test", 1 + 4,
			"the hosts tied with the last one kept may be this host; the worse one cannot matter"},
		{"address literal", Router{}, "[192.0.2.1]", 0, "RFC 5321, Section 4.1.3: no DNS"},
		{"bad domain", Router{}, "bad..test", 0, "rejected before any query"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &countingResolver{next: z}
			tt.router.Resolver = c
			_, _ = tt.router.Route(t.Context(), tt.domain)
			assert.Len(t, c.questions(), tt.want, "%s: %v", tt.reason, c.questions())
		})
	}
}

func TestRouteCancelled(t *testing.T) {
	verifyNoLeaks(t)
	z := testZone(t, "ties.test.", tiesZone)
	for _, stage := range []uint16{dns.TypeMX, dns.TypeA} {
		t.Run(dns.TypeToString[stage], func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			res := ResolverFunc(func(c context.Context, name string, qtype uint16) (*dns.Msg, error) {
				if qtype == stage {
					cancel()
					return nil, c.Err()
				}
				return z.Resolve(c, name, qtype)
			})
			rt, err := (&Router{Resolver: res, Family: IPv4Only}).Route(ctx, "ties.test")
			assert.Nil(t, rt)
			require.ErrorIs(t, err, ErrTemporary, "a cancelled route is deferred, never bounced")
			assert.ErrorIs(t, err, context.Canceled, "the cause is visible to errors.Is")
			assert.True(t, IsTemporary(err))
		})
	}
}

func TestRouteErrorMessages(t *testing.T) {
	z := testZone(t, "m.test.", `
$ORIGIN m.test.
@ 3600 IN SOA ns hostmaster 1 3600 600 86400 300
null IN MX 0 .
`)
	r := &Router{Resolver: z}
	tests := []struct {
		domain, want string
	}{
		{"Null.M.Test", `mxroute: "Null.M.Test": domain accepts no mail (null MX) (5.1.10)`},
		{"gone.m.test", `mxroute: "gone.m.test": no such domain: NXDOMAIN for gone.m.test (5.1.2)`},
		{"a b", `mxroute: "a b": malformed domain: character not allowed in a domain: ' ' (5.1.3)`},
		{"other.test", `mxroute: "other.test": temporary DNS failure: MX lookup for other.test: REFUSED (4.4.3)`},
	}
	for _, tt := range tests {
		_, err := r.Route(t.Context(), tt.domain)
		require.Error(t, err)
		assert.Equal(t, tt.want, err.Error(), "the message quotes the input as given")
	}
}

func TestRouteNoAddressComesWithHosts(t *testing.T) {
	z := testZone(t, "n.test.", `
$ORIGIN n.test.
@ 3600 IN SOA ns hostmaster 1 3600 600 86400 300
@ IN MX 10 gone
@ IN MX 20 192.0.2.1.
`)
	rt, err := (&Router{Resolver: z}).Route(t.Context(), "n.test")
	require.ErrorIs(t, err, ErrNoAddress)
	require.NotNil(t, rt, "the diagnostic route comes with ErrNoAddress")
	require.Len(t, rt.Hosts, 2)
	for _, h := range rt.Hosts {
		var e *Error
		require.ErrorAs(t, h.Err, &e)
		assert.Equal(t, "5.4.4", e.Status)
		assert.Equal(t, h.Name, e.Host)
	}
	assert.Contains(t, err.Error(), "2 mail host(s), none usable")
	assert.Empty(t, rt.Targets())
}

func TestRouteDefaultResolver(t *testing.T) {
	r := &Router{}
	assert.Same(t, defaultResolver, r.resolver(), "nil Resolver: the package's DNSResolver")
	z := testZone(t, "ties.test.", tiesZone)
	r.Resolver = z
	assert.Same(t, Resolver(z), r.resolver())
}

func BenchmarkRouteZone(b *testing.B) {
	z := testZone(b, "ties.test.", tiesZone)
	r := &Router{Resolver: z, Rand: rand.New(rand.NewPCG(1, 1))}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Route(ctx, "ties.test"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRouteLoopback routes a domain with two dual-stack hosts through
// a DNSResolver against a miekg/dns server on loopback, without added
// latency: the cost of the wire path (five queries, two round-trips).
func BenchmarkRouteLoopback(b *testing.B) {
	z := testZone(b, "bench.test.", benchZone(2))
	addr := serveDNS(b, func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		m, err := z.Resolve(context.Background(), q.Name, q.Qtype)
		if err != nil {
			return
		}
		m.Id = req.Id
		_ = w.WriteMsg(m)
	})
	r := &Router{Resolver: &DNSResolver{Servers: []string{addr}, Timeout: time.Second, Attempts: 2}, Rand: rand.New(rand.NewPCG(1, 1))}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Route(ctx, "bench.test"); err != nil {
			b.Fatal(err)
		}
	}
}
