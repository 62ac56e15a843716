package mxroute_test

import (
	"context"
	"errors"
	"hash/fnv"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/internal/rfcvectors"
)

// collect runs Targets to the end.
func collect(r *mxroute.Router, ctx context.Context, domain string) ([]mxroute.Target, []error) {
	var ts []mxroute.Target
	var errs []error
	for t, err := range r.Targets(ctx, domain) {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ts = append(ts, t)
	}
	return ts, errs
}

// jittery delays every answer by a few hundred microseconds, different per
// question, so that lookups end out of route order.
func jittery(next mxroute.Resolver) mxroute.Resolver {
	return mxroute.ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		h := fnv.New32a()
		h.Write([]byte(name))
		d := time.Duration(h.Sum32()%7+uint32(qtype)%3) * 100 * time.Microsecond
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return next.Resolve(ctx, name, qtype)
	})
}

// recorder is a Router.Trace that records each event as "step host:
// message", but for StepDone, which only Route reports.
type recorder struct {
	mu     sync.Mutex
	events []string
}

func (rec *recorder) trace(_ context.Context, e mxroute.Event) {
	if e.Step == mxroute.StepDone {
		return
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.events = append(rec.events, e.Step.String()+" "+e.Host+": "+e.Message)
}

func (rec *recorder) got() []string {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.events)
}

// TestTargetsSameAsRoute: for every RFC vector and many seeds, Targets
// yields exactly Route's targets in Route's order, or Route's error, once,
// and reports to Router.Trace every decision Route reports, in the same
// order. The lookups run synchronously (ZoneResolver), out of order
// (jittery), and from a warm Cache, so every path of the walk is taken.
func TestTargetsSameAsRoute(t *testing.T) {
	z, err := rfcvectors.NewZoneResolver()
	require.NoError(t, err)
	resolvers := []struct {
		name  string
		wrap  func(mxroute.Resolver) mxroute.Resolver
		seeds uint64
	}{
		{"zone", func(r mxroute.Resolver) mxroute.Resolver { return r }, 40},
		{"out of order", jittery, 4},
		{"cache", func(r mxroute.Resolver) mxroute.Resolver { return &mxroute.Cache{Resolver: r} }, 40},
	}
	for _, res := range resolvers {
		t.Run(res.name, func(t *testing.T) {
			t.Parallel()
			for _, v := range rfcvectors.All {
				resolver := res.wrap(v.WithFaults(z))
				for seed := range res.seeds {
					a, b := v.Router(resolver), v.Router(resolver)
					a.Rand, b.Rand = rand.New(rand.NewPCG(seed, 7)), rand.New(rand.NewPCG(seed, 7))
					var ra, rb recorder
					a.Trace, b.Trace = ra.trace, rb.trace
					rt, rerr := a.Route(t.Context(), v.Domain)
					got, errs := collect(b, t.Context(), v.Domain)
					require.Equal(t, ra.got(), rb.got(), "%s seed %d: the decisions Route reports, in its order", v.Name, seed)
					if rerr != nil {
						require.Len(t, errs, 1, "%s: Route's error, once", v.Name)
						assert.Equal(t, rerr.Error(), errs[0].Error(), "%s: the same error", v.Name)
						var want, gotE *mxroute.Error
						require.ErrorAs(t, rerr, &want)
						require.ErrorAs(t, errs[0], &gotE)
						assert.Equal(t, want.Status, gotE.Status, v.Name)
						assert.Equal(t, want.Temporary, gotE.Temporary, v.Name)
						assert.Empty(t, got, "%s: no targets with an error", v.Name)
						continue
					}
					assert.Empty(t, errs, v.Name)
					assert.Equal(t, rt.Targets(), got, "%s seed %d: Route's order", v.Name, seed)
				}
			}
		})
	}
}

const streamZone = `
$ORIGIN s.test.
@    3600 IN SOA ns hostmaster 1 3600 600 86400 300
@    IN MX 10 a
@    IN MX 20 b
@    IN MX 30 slow
a    IN A    192.0.2.1
     IN AAAA 2001:db8::1
b    IN A    192.0.2.2
slow IN A    192.0.2.3
`

func streamResolver(t *testing.T) *mxroute.ZoneResolver {
	z, err := mxroute.NewZoneResolver(strings.NewReader(streamZone), "s.test.")
	require.NoError(t, err)
	return z
}

// lookupGoroutines returns the stacks of all goroutines if any runs the
// Router's lookups or the Cache's queries, after waiting briefly for
// exiting ones to go; else "".
func lookupGoroutines() string {
	var stacks string
	for range 100 {
		buf := make([]byte, 1<<20)
		stacks = string(buf[:runtime.Stack(buf, true)])
		if !strings.Contains(stacks, "mxroute.(*routing).startLookups") && !strings.Contains(stacks, "mxroute.(*Cache).fly") {
			return ""
		}
		time.Sleep(10 * time.Millisecond)
	}
	return stacks
}

// TestTargetsFirstBeforeSlowHost: the first targets come while a later
// host's lookup hangs, and breaking out cancels it: the hanging lookup has
// seen its context end by the time the loop is left, and no goroutine of
// the route is left.
func TestTargetsFirstBeforeSlowHost(t *testing.T) {
	z := streamResolver(t)
	var cancelled atomic.Bool
	started := make(chan struct{}, 2)
	res := mxroute.ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		if name == "slow.s.test." {
			started <- struct{}{}
			<-ctx.Done() // never answers on its own
			cancelled.Store(true)
			return nil, ctx.Err()
		}
		return z.Resolve(ctx, name, qtype)
	})
	r := &mxroute.Router{Resolver: res, Family: mxroute.IPv4Only}
	var got []string
	for tg, err := range r.Targets(t.Context(), "s.test") {
		require.NoError(t, err)
		got = append(got, tg.Host+" "+tg.Addr.String())
		if tg.Host == "b.s.test" {
			<-started // the slow lookup is in flight: leaving must cancel it
			break
		}
	}
	assert.Equal(t, []string{"a.s.test 192.0.2.1", "b.s.test 192.0.2.2"}, got,
		"hosts before the hanging one stream in order")
	assert.True(t, cancelled.Load(), "leaving the loop cancels and waits for the outstanding lookup")
	assert.Empty(t, lookupGoroutines(), "no lookup goroutine outlives the iteration")
}

// TestTargetsThroughCacheStops: through a Cache too, breaking out of the
// loop cancels the query the Cache was running for the slow host (no other
// caller waits for it), and neither the Router's nor the Cache's goroutines
// are left.
func TestTargetsThroughCacheStops(t *testing.T) {
	z := streamResolver(t)
	var cancelled atomic.Bool
	started := make(chan struct{}, 1)
	c := &mxroute.Cache{Resolver: mxroute.ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		if name == "slow.s.test." {
			started <- struct{}{}
			<-ctx.Done()
			cancelled.Store(true)
			return nil, ctx.Err()
		}
		return z.Resolve(ctx, name, qtype)
	})}
	r := &mxroute.Router{Resolver: c, Family: mxroute.IPv4Only}
	for round := range 2 { // cold, then warm except for "slow"
		n := 0
		for _, err := range r.Targets(t.Context(), "s.test") {
			require.NoError(t, err)
			if n++; n == 2 {
				<-started // the slow query is in flight in the Cache
				break
			}
		}
		assert.Equal(t, 2, n, "round %d", round)
		assert.True(t, cancelled.Load(), "the abandoned query was cancelled, and had ended when the loop was left")
		assert.Empty(t, lookupGoroutines())
		cancelled.Store(false)
	}
}

// TestTargetsContextEnds: a route cut short by its context ends with
// Route's temporary error after the targets already known.
func TestTargetsContextEnds(t *testing.T) {
	z := streamResolver(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	res := mxroute.ResolverFunc(func(c context.Context, name string, qtype uint16) (*dns.Msg, error) {
		if name == "slow.s.test." {
			<-c.Done()
			return nil, c.Err()
		}
		return z.Resolve(c, name, qtype)
	})
	var got []mxroute.Target
	var errs []error
	for tg, err := range (&mxroute.Router{Resolver: res}).Targets(ctx, "s.test") {
		if err != nil {
			errs = append(errs, err)
			continue
		}
		got = append(got, tg)
		if tg.Host == "b.s.test" {
			cancel() // the consumer gives up waiting for "slow"
		}
	}
	assert.Len(t, got, 3)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], mxroute.ErrTemporary, "the route is incomplete: defer what was not tried")
	assert.ErrorIs(t, errs[0], context.Canceled)
	assert.Empty(t, lookupGoroutines())
}

// TestTargetsLoopGuardWaits: with LocalAddrs, a host is held back until
// every host at its preference is known not to be this host. Here "slow"
// is this host at the same preference as the others, and answers last:
// nothing may be yielded but ErrLoop.
func TestTargetsLoopGuardWaits(t *testing.T) {
	z, err := mxroute.NewZoneResolver(strings.NewReader(`
$ORIGIN l.test.
@    3600 IN SOA ns hostmaster 1 3600 600 86400 300
@    IN MX 10 a
@    IN MX 10 b
@    IN MX 10 slow
a    IN A 192.0.2.1
b    IN A 192.0.2.2
slow IN A 192.0.2.3
`), "l.test.")
	require.NoError(t, err)
	res := mxroute.ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		if name == "slow.l.test." {
			time.Sleep(20 * time.Millisecond) // correctness does not depend on it; it makes a wrong early yield likely
		}
		return z.Resolve(ctx, name, qtype)
	})
	for seed := range uint64(5) {
		r := &mxroute.Router{Resolver: res, Family: mxroute.IPv4Only, Rand: rand.New(rand.NewPCG(seed, 1)),
			LocalAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.3")}}
		got, errs := collect(r, t.Context(), "l.test")
		assert.Empty(t, got, "every host at this host's preference is dropped")
		require.Len(t, errs, 1)
		assert.ErrorIs(t, errs[0], mxroute.ErrLoop)
	}
}

// TestTargetsMaxLookups: no more questions in flight than MaxLookups, and
// every one asked.
func TestTargetsMaxLookups(t *testing.T) {
	z := streamResolver(t)
	var mu sync.Mutex
	inFlight, peak, asked := 0, 0, 0
	res := mxroute.ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		if qtype != dns.TypeMX {
			mu.Lock()
			inFlight++
			asked++
			peak = max(peak, inFlight)
			mu.Unlock()
			time.Sleep(time.Millisecond)
			defer func() { mu.Lock(); inFlight--; mu.Unlock() }()
		}
		return z.Resolve(ctx, name, qtype)
	})
	rt, err := (&mxroute.Router{Resolver: res, MaxLookups: 2}).Route(t.Context(), "s.test")
	require.NoError(t, err)
	assert.Len(t, rt.Hosts, 3)
	assert.LessOrEqual(t, peak, 2, "MaxLookups bounds the questions in flight")
	assert.Equal(t, 6, asked, "A and AAAA of three hosts")
}

// TestTargetsEmptyDomain: a malformed domain yields its error once, with
// no DNS question.
func TestTargetsBadDomain(t *testing.T) {
	res := mxroute.ResolverFunc(func(context.Context, string, uint16) (*dns.Msg, error) {
		t.Error("no question for a malformed domain")
		return nil, errors.New("no")
	})
	got, errs := collect(&mxroute.Router{Resolver: res}, t.Context(), "bad..test")
	assert.Empty(t, got)
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], mxroute.ErrBadDomain)
}

// FuzzTargets feeds an arbitrary DNS message as the answer to every
// question and checks that Targets and Route agree whatever the wire says:
// the same targets in the same order for the same seed, or the same error
// once, and the same decisions reported in the same order; with the loop
// guard by address, MaxHosts and MaxAddrs in play.
func FuzzTargets(f *testing.F) {
	seed := func(rrs ...string) []byte {
		m := new(dns.Msg)
		m.SetQuestion("d.test.", dns.TypeMX)
		m.Response = true
		for _, s := range rrs {
			rr, err := dns.NewRR(s)
			if err != nil {
				panic(err)
			}
			m.Answer = append(m.Answer, rr)
		}
		b, err := m.Pack()
		if err != nil {
			panic(err)
		}
		return b
	}
	f.Add(seed("d.test. 60 IN MX 10 a.d.test.", "d.test. 60 IN MX 10 d.test.", "a.d.test. 60 IN A 192.0.2.1", "d.test. 60 IN A 192.0.2.2"), uint8(0), uint64(1))
	f.Add(seed("d.test. 60 IN MX 10 d.test.", "d.test. 60 IN MX 20 a.d.test.", "d.test. 60 IN AAAA 2001:db8::1", "a.d.test. 60 IN A 192.0.2.9"), uint8(0x12), uint64(2))
	f.Add(seed("d.test. 60 IN MX 0 ."), uint8(0), uint64(3))
	f.Add(seed("d.test. 60 IN A 192.0.2.9"), uint8(0x21), uint64(4))
	f.Fuzz(func(t *testing.T, wire []byte, limits uint8, seed uint64) {
		msg := new(dns.Msg)
		if msg.Unpack(wire) != nil {
			return
		}
		res := mxroute.ResolverFunc(func(context.Context, string, uint16) (*dns.Msg, error) { return msg.Copy(), nil })
		router := func(rec *recorder) *mxroute.Router {
			return &mxroute.Router{Resolver: res, Rand: rand.New(rand.NewPCG(seed, 0)),
				LocalAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.9")},
				MaxHosts:   int(limits & 0xf), MaxAddrs: int(limits >> 4), Trace: rec.trace}
		}
		var ra, rb recorder
		rt, rerr := router(&ra).Route(t.Context(), "d.test")
		got, errs := collect(router(&rb), t.Context(), "d.test")
		if !slices.Equal(ra.got(), rb.got()) {
			t.Fatalf("Route reported\n%s\nTargets reported\n%s", strings.Join(ra.got(), "\n"), strings.Join(rb.got(), "\n"))
		}
		if rerr != nil {
			if len(errs) != 1 || errs[0].Error() != rerr.Error() || len(got) > 0 {
				t.Fatalf("Route: %v; Targets: %v then %v", rerr, got, errs)
			}
			return
		}
		if len(errs) > 0 {
			t.Fatalf("Route succeeded, Targets failed: %v", errs)
		}
		if want := rt.Targets(); !slices.Equal(want, got) {
			t.Fatalf("Route: %v\nTargets: %v", want, got)
		}
	})
}

// TestTargetsCompleteThenContextEnds: once the last target has been
// yielded and every host after it is known to be unusable, the route is
// complete: a context that ends then (the consumer cancels after its
// delivery) is no error (issue 9, item 8). A context that ends while a
// later host's lookup is still open stays an error.
func TestTargetsCompleteThenContextEnds(t *testing.T) {
	z, err := mxroute.NewZoneResolver(strings.NewReader(`
$ORIGIN c.test.
@     3600 IN SOA ns hostmaster 1 3600 600 86400 300
last  IN MX 10 a
      IN MX 20 b
tail  IN MX 10 a
      IN MX 20 192.0.2.9.
      IN MX 30 <bad>.c.test.
open  IN MX 10 a
      IN MX 20 slow
a     IN A 192.0.2.1
b     IN A 192.0.2.2
slow  IN A 192.0.2.3
`), "c.test.")
	require.NoError(t, err)
	res := mxroute.ResolverFunc(func(c context.Context, name string, qtype uint16) (*dns.Msg, error) {
		if name == "slow.c.test." {
			<-c.Done()
			return nil, c.Err()
		}
		return z.Resolve(c, name, qtype)
	})
	tests := []struct {
		domain   string
		cancelAt string // cancel when this address is yielded
		want     int
		wantErr  bool
		reason   string
	}{
		{"last.c.test", "192.0.2.2", 2, false, "cancelled in the yield of the last target: complete"},
		{"tail.c.test", "192.0.2.1", 1, false, "the hosts after the last target are unusable without a lookup: complete"},
		{"open.c.test", "192.0.2.1", 1, true, "a later host's lookup is cut by ctx: incomplete, defer"},
	}
	for _, tt := range tests {
		t.Run(tt.domain, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			var got []mxroute.Target
			var errs []error
			for tg, err := range (&mxroute.Router{Resolver: res, Family: mxroute.IPv4Only}).Targets(ctx, tt.domain) {
				if err != nil {
					errs = append(errs, err)
					continue
				}
				got = append(got, tg)
				if tg.Addr.String() == tt.cancelAt {
					cancel()
				}
			}
			assert.Len(t, got, tt.want, tt.reason)
			if tt.wantErr {
				require.Len(t, errs, 1, tt.reason)
				assert.ErrorIs(t, errs[0], context.Canceled)
			} else {
				assert.Empty(t, errs, tt.reason)
			}
			assert.Empty(t, lookupGoroutines())
		})
	}
}

// TestTargetsLoopGuardAlias: Targets applies the loop guard through a
// CNAME too, holding back hosts until the alias is known (issue 9, item 3).
func TestTargetsLoopGuardAlias(t *testing.T) {
	z, err := rfcvectors.NewZoneResolver()
	require.NoError(t, err)
	r := &mxroute.Router{Resolver: z, LocalNames: []string{"relay.mxalias.t"}}
	got, errs := collect(r, t.Context(), "mxalias.t")
	require.Empty(t, errs)
	require.Len(t, got, 1)
	assert.Equal(t, "mx1.basic.t", got[0].Host, "backup.mxalias.t is this host: it and mx2.noaddr.t go")
	_, errs = collect(r, t.Context(), "aliasfirst.t")
	require.Len(t, errs, 1)
	assert.ErrorIs(t, errs[0], mxroute.ErrLoop)
}

// TestDialReportsRouteDecisions: the Dialer walks Router.Targets, so its
// trace has every decision Route reports, in Route's order, beside its own
// attempts: a Dialer user with SlogTrace learns why a host was skipped.
func TestDialReportsRouteDecisions(t *testing.T) {
	z, err := mxroute.NewZoneResolver(strings.NewReader(`
$ORIGIN dial.test.
@     3600 IN SOA ns hostmaster 1 3600 600 86400 300
@     IN MX 10 local
      IN MX 20 gone
      IN MX 30 mx
      IN MX 40 192.0.2.9.
local IN A 127.0.0.1
mx    IN A 192.0.2.1
`), "dial.test.")
	require.NoError(t, err)
	var routed, dialled recorder
	_, err = (&mxroute.Router{Resolver: z, Trace: routed.trace}).Route(t.Context(), "dial.test")
	require.NoError(t, err)
	d := &mxroute.Dialer{Router: &mxroute.Router{Resolver: z, Trace: dialled.trace},
		DialContext: func(context.Context, string, string) (net.Conn, error) { return nil, errors.New("no route to host") }}
	_, err = d.Dial(t.Context(), "dial.test")
	require.ErrorIs(t, err, mxroute.ErrNoConnection)
	var decisions, attempts []string
	for _, e := range dialled.got() {
		if strings.HasPrefix(e, "connect") || strings.HasPrefix(e, "no-connection") {
			attempts = append(attempts, e)
		} else {
			decisions = append(decisions, e)
		}
	}
	assert.Equal(t, routed.got(), decisions, "the route's decisions, as Route reports them")
	assert.Contains(t, decisions, "unusable local.dial.test: local.dial.test (10) unusable: no usable address: 127.0.0.1 is in 127.0.0.0/8 (loopback, RFC 1122, Section 3.2.1.3): this host (permanent 5.4.4)",
		"why the first host was skipped")
	assert.Len(t, attempts, 3, "one attempt, failed, then no connection")
}
