package mxroute

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const traceZone = `
$TTL 3600
$ORIGIN tr.test.
@       3600 IN SOA ns hostmaster 1 3600 600 86400 300
@       IN NS ns
ns      IN A 192.0.2.53
plain   300 IN MX 10 mx1
        300 IN MX 10 mx2
        300 IN MX 20 mx3
mx1     IN A 192.0.2.1
        IN AAAA 2001:db8::1
mx2     IN A 192.0.2.2
mx3     IN A 192.0.2.3
alias   IN CNAME plain
viaalias IN MX 10 malias
malias  IN CNAME mx1
iptarget IN MX 10 192.0.2.9.
        IN MX 20 mx3
dup     IN MX 20 mx1
        IN MX 10 mx1
nullmx  IN MX 0 .
mixed   IN MX 0 .
        IN MX 10 mx3
implicit IN A 192.0.2.7
shared  IN MX 10 mx1
        IN MX 20 same
same    IN A 192.0.2.1
noaddr  IN MX 10 gone
cutoff  IN MX 10 mx3
        IN MX 20 gone
`

// traceEvents routes domain and returns its events as "step host: message".
func traceEvents(t *testing.T, r *Router, domain string) []string {
	t.Helper()
	var mu sync.Mutex
	var got []string
	r.Trace = func(_ context.Context, e Event) {
		mu.Lock()
		defer mu.Unlock()
		require.NotEmpty(t, e.Message, "every event says something")
		require.Equal(t, domain, e.Domain)
		got = append(got, e.Step.String()+" "+e.Message)
	}
	_, _ = r.Route(t.Context(), domain)
	return got
}

func TestTraceEvents(t *testing.T) {
	z := testZone(t, "tr.test.", traceZone)
	tests := []struct {
		name   string
		domain string
		router Router
		want   []string
		reason string
	}{
		{"tie shuffled", "plain.tr.test", Router{}, []string{
			"mx MX RRset of plain.tr.test has 3 record(s), TTL 300",
			"shuffle mx1.tr.test and mx2.tr.test share preference 10: shuffled into mx2.tr.test, mx1.tr.test",
			"addrs mx2.tr.test (10) has 1 IPv4 address, TTL 3600",
			"addrs mx1.tr.test (10) has 1 IPv6 address and 1 IPv4 address, TTL 3600",
			"addrs mx3.tr.test (20) has 1 IPv4 address, TTL 3600",
			"done routed: 3 host(s), 4 address(es) to try",
		}, "RFC 5321 §5.1: equal preferences are randomized and the trace says so"},
		{"domain CNAME", "alias.tr.test", Router{MaxHosts: 2}, []string{
			"cname CNAME alias.tr.test → plain.tr.test (canonicalization)",
			"mx MX RRset of plain.tr.test has 3 record(s), TTL 300",
			"shuffle mx1.tr.test and mx2.tr.test share preference 10: shuffled into mx2.tr.test, mx1.tr.test",
			"addrs mx2.tr.test (10) has 1 IPv4 address, TTL 3600",
			"addrs mx1.tr.test (10) has 1 IPv6 address and 1 IPv4 address, TTL 3600",
			"max-hosts dropped mx3.tr.test (20): beyond MaxHosts 2",
			"done routed: 2 host(s), 3 address(es) to try",
		}, "the domain's CNAME is canonicalized; MaxHosts drops what follows the second usable host, once it is known usable"},
		{"MX target CNAME", "viaalias.tr.test", Router{Family: IPv4Only}, []string{
			"mx MX RRset of viaalias.tr.test has 1 record(s), TTL 3600",
			"cname CNAME malias.tr.test → mx1.tr.test (followed, though an MX target must not be an alias)",
			"addrs malias.tr.test (10) has 1 IPv4 address, TTL 3600",
			"done routed: 1 host(s), 1 address(es) to try",
		}, "RFC 2181 §10.3: the alias is followed and reported"},
		{"IP target", "iptarget.tr.test", Router{}, []string{
			"mx MX RRset of iptarget.tr.test has 2 record(s), TTL 3600",
			"ip-target 192.0.2.9 is an IP address, not a host name: unusable",
			"addrs mx3.tr.test (20) has 1 IPv4 address, TTL 3600",
			"done routed: 2 host(s), 1 address(es) to try",
		}, "RFC 5321 §5.1: the MX data is a domain name"},
		{"duplicate", "dup.tr.test", Router{Family: IPv6Only}, []string{
			"mx MX RRset of dup.tr.test has 2 record(s), TTL 3600",
			"duplicate mx1.tr.test is listed 2 times (preferences 20, 10): kept once, at 10",
			"addrs mx1.tr.test (10) has 1 IPv6 address, TTL 3600",
			"done routed: 1 host(s), 1 address(es) to try",
		}, "a host listed twice is kept at its best preference"},
		{"null MX", "nullmx.tr.test", Router{}, []string{
			"mx MX RRset of nullmx.tr.test has 1 record(s), TTL 3600",
			`null-mx null MX (preference 0, target "."): the domain accepts no mail, bounce 5.1.10`,
			`done bounce: mxroute: "nullmx.tr.test": domain accepts no mail (null MX) (5.1.10)`,
		}, "RFC 7505 §3"},
		{"mixed null MX", "mixed.tr.test", Router{}, []string{
			"mx MX RRset of mixed.tr.test has 2 record(s), TTL 3600",
			"null-mx-ignored null MX mixed with 1 other MX record(s): ignored",
			"addrs mx3.tr.test (10) has 1 IPv4 address, TTL 3600",
			"done routed: 1 host(s), 1 address(es) to try",
		}, "RFC 7505 §3: a null MX must not be mixed; deployed MTAs ignore it"},
		{"implicit", "implicit.tr.test", Router{}, []string{
			"implicit-mx no MX records: implicit MX, implicit.tr.test itself at preference 0",
			"addrs implicit.tr.test (0) has 1 IPv4 address, TTL 3600",
			"done routed: 1 host(s), 1 address(es) to try",
		}, "RFC 5321 §5.1 implicit MX"},
		{"address literal", "[IPv6:2001:db8::7]", Router{}, []string{
			"addrs [IPv6:2001:db8::7] is an address literal: that address, no DNS",
			"done routed: 1 host(s), 1 address(es) to try",
		}, "RFC 5321 §4.1.3: no DNS, no TTL"},
		{"NXDOMAIN", "nowhere.tr.test", Router{}, []string{
			"no-domain nowhere.tr.test does not exist (NXDOMAIN): bounce",
			`done bounce: mxroute: "nowhere.tr.test": no such domain: NXDOMAIN for nowhere.tr.test (5.1.2)`,
		}, "RFC 5321 §5.1: NXDOMAIN is an error"},
		{"dedupe", "shared.tr.test", Router{Family: IPv4Only}, []string{
			"mx MX RRset of shared.tr.test has 2 record(s), TTL 3600",
			"addrs mx1.tr.test (10) has 1 IPv4 address, TTL 3600",
			"addrs same.tr.test (20) has 1 IPv4 address, TTL 3600",
			"dedupe same.tr.test (20): 192.0.2.1 already listed under mx1.tr.test: not repeated; the host has nothing new and is dropped",
			"done routed: 1 host(s), 1 address(es) to try",
		}, "an address is tried once"},
		{"unusable", "noaddr.tr.test", Router{}, []string{
			"mx MX RRset of noaddr.tr.test has 1 record(s), TTL 3600",
			"unusable gone.tr.test (10) unusable: host does not exist (NXDOMAIN) (permanent 5.4.4)",
			`done bounce: mxroute: "noaddr.tr.test": no usable address: 1 mail host(s), none usable; gone.tr.test: host does not exist (NXDOMAIN) (5.4.4)`,
		}, "RFC 5321 §5.1: an MX host must have an address"},
		{"loop guard", "plain.tr.test", Router{LocalNames: []string{"mx3.tr.test"}, Family: IPv4Only, MaxAddrs: 1}, []string{
			"mx MX RRset of plain.tr.test has 3 record(s), TTL 300",
			"shuffle mx1.tr.test and mx2.tr.test share preference 10: shuffled into mx2.tr.test, mx1.tr.test",
			"self this host is mx3.tr.test (20): every MX from preference 20 on goes",
			"loop-guard dropped mx3.tr.test (20): it is this host (loop guard)",
			"addrs mx2.tr.test (10) has 1 IPv4 address, TTL 3600",
			"max-addrs-dropped dropped mx1.tr.test (10): beyond MaxAddrs 1",
			"done routed: 1 host(s), 1 address(es) to try",
		}, "loop guard then MaxAddrs, in the order applied; a host past the limit is not examined"},
		{"loop guard drops higher", "plain.tr.test", Router{LocalAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.2")}, Family: IPv4Only}, []string{
			"mx MX RRset of plain.tr.test has 3 record(s), TTL 300",
			"shuffle mx1.tr.test and mx2.tr.test share preference 10: shuffled into mx2.tr.test, mx1.tr.test",
			"self this host is mx2.tr.test (10): every MX from preference 10 on goes",
			"loop-guard dropped mx2.tr.test (10): it is this host (loop guard)",
			"loop-guard dropped mx1.tr.test (10): at or above this host's own preference 10 (loop guard)",
			"loop-guard dropped mx3.tr.test (20): at or above this host's own preference 10 (loop guard)",
			`done bounce: mxroute: "plain.tr.test": mail for domain loops back to this host: this host is a mail exchanger for plain.tr.test and none is more preferred (5.4.6)`,
		}, "RFC 5321 §5.1: every MX at or above this host's preference goes"},
		{"loop guard past MaxHosts", "plain.tr.test", Router{LocalAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.2")}, Family: IPv4Only, MaxHosts: 1}, []string{
			"mx MX RRset of plain.tr.test has 3 record(s), TTL 300",
			"shuffle mx1.tr.test and mx2.tr.test share preference 10: shuffled into mx2.tr.test, mx1.tr.test",
			"self this host is mx2.tr.test (10): every MX from preference 10 on goes",
			"loop-guard dropped mx2.tr.test (10): it is this host (loop guard)",
			"loop-guard dropped mx1.tr.test (10): at or above this host's own preference 10 (loop guard)",
			"loop-guard dropped mx3.tr.test (20): at or above this host's own preference 10 (loop guard)",
			`done bounce: mxroute: "plain.tr.test": mail for domain loops back to this host: this host is a mail exchanger for plain.tr.test and none is more preferred (5.4.6)`,
		}, "mx3 is never looked up (MaxHosts 1 keeps the tie at 10), yet the loop guard, not MaxHosts, is why it goes"},
		{"MaxHosts with LocalAddrs elsewhere", "plain.tr.test", Router{LocalAddrs: []netip.Addr{netip.MustParseAddr("192.0.2.99")}, Family: IPv4Only, MaxHosts: 1}, []string{
			"mx MX RRset of plain.tr.test has 3 record(s), TTL 300",
			"shuffle mx1.tr.test and mx2.tr.test share preference 10: shuffled into mx2.tr.test, mx1.tr.test",
			"addrs mx2.tr.test (10) has 1 IPv4 address, TTL 3600",
			"max-hosts dropped mx1.tr.test (10): beyond MaxHosts 1",
			"max-hosts dropped mx3.tr.test (20): beyond MaxHosts 1",
			"done routed: 1 host(s), 1 address(es) to try",
		}, "the tie is looked up for the loop guard and cut after it; the host past it was never looked up"},
		{"MaxAddrs drops an unusable host past the cut", "cutoff.tr.test", Router{Family: IPv4Only, MaxAddrs: 1}, []string{
			"mx MX RRset of cutoff.tr.test has 2 record(s), TTL 3600",
			"addrs mx3.tr.test (10) has 1 IPv4 address, TTL 3600",
			"max-addrs-dropped dropped gone.tr.test (20): beyond MaxAddrs 1",
			"done routed: 1 host(s), 1 address(es) to try",
		}, "the Route leaves out every host after the cut, unusable ones too, and the trace says so"},
		{"family filter", "mixed.tr.test", Router{Family: IPv6Only, LocalAddrs: []netip.Addr{netip.MustParseAddr("198.51.100.1")}}, []string{
			"mx MX RRset of mixed.tr.test has 2 record(s), TTL 3600",
			"null-mx-ignored null MX mixed with 1 other MX record(s): ignored",
			"addrs mx3.tr.test (10) has 1 IPv4 address, TTL 3600",
			"family mx3.tr.test: 1 IPv4 address not used (family IPv6Only)",
			"unusable mx3.tr.test (10) unusable: only IPv4 addresses, and the family policy is IPv6Only (permanent 5.4.4)",
			`done bounce: mxroute: "mixed.tr.test": no usable address: 1 mail host(s), none usable; mx3.tr.test: only IPv4 addresses, and the family policy is IPv6Only (5.4.4)`,
		}, "A records asked for the loop guard are not used under IPv6Only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.router
			r.Resolver = z
			r.Rand = rand.New(rand.NewPCG(1, 1))
			assert.Equal(t, tt.want, traceEvents(t, &r, tt.domain), tt.reason)
		})
	}
}

// The trace agrees with the Route: every host it reports usable is in the
// Route, and the final event counts the Route's targets.
func TestTraceAgreesWithRoute(t *testing.T) {
	z := testZone(t, "tr.test.", traceZone)
	for _, domain := range []string{"plain.tr.test", "dup.tr.test", "shared.tr.test", "iptarget.tr.test", "[192.0.2.1]"} {
		var done Event
		var unusable []string
		r := &Router{Resolver: z, Trace: func(_ context.Context, e Event) {
			switch e.Step {
			case StepDone:
				done = e
			case StepUnusable, StepIPTarget:
				unusable = append(unusable, e.Host)
			}
		}}
		rt, err := r.Route(t.Context(), domain)
		require.NoError(t, err, domain)
		assert.Equal(t, len(rt.Targets()), done.Count, domain)
		var wantUnusable []string
		for _, h := range rt.Hosts {
			if h.Err != nil {
				wantUnusable = append(wantUnusable, h.Name)
			}
		}
		assert.Equal(t, wantUnusable, unusable, domain)
	}
}

// Trace is called from every goroutine that routes with the Router.
func TestTraceConcurrent(t *testing.T) {
	z := testZone(t, "tr.test.", traceZone)
	var mu sync.Mutex
	n := 0
	r := &Router{Resolver: z, Trace: func(context.Context, Event) { mu.Lock(); n++; mu.Unlock() }}
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { _, _ = r.Route(t.Context(), "plain.tr.test") })
	}
	wg.Wait()
	assert.Equal(t, 8*6, n, "six events per route, none lost")
}

// TestTraceAuthentic: StepMX, StepImplicitMX and StepAddrs carry the
// DNSSEC status Route.Authentic and Host.Authentic report, step by step.
func TestTraceAuthentic(t *testing.T) {
	all := []string{"signed.sec.test.MX", "mx.signed.sec.test.A", "mx.signed.sec.test.AAAA",
		"implicit.sec.test.MX", "implicit.sec.test.A", "implicit.sec.test.AAAA"}
	tests := []struct {
		name      string
		domain    string
		authentic []string // "name.TYPE" whose replies carry AD
		wantMX    bool     // Authentic of StepMX or StepImplicitMX
		wantAddrs bool     // Authentic of StepAddrs
		reason    string
	}{
		{"all signed", "signed.sec.test", all, true, true, "every reply had AD"},
		{"nothing signed", "signed.sec.test", nil, false, false, "no reply had AD"},
		{"MX only", "signed.sec.test", all[:1], true, false, "the host's lookups had no AD"},
		{"addresses only", "signed.sec.test", all[1:3], false, true, "the MX reply had no AD"},
		{"one family unsigned", "signed.sec.test", all[:2], true, false, "the AAAA reply had no AD: the host is not authentic"},
		{"implicit MX signed", "implicit.sec.test", all, true, true, "the NODATA for MX and the addresses had AD"},
		{"implicit MX unsigned NODATA", "implicit.sec.test", all[4:], false, true, "the NODATA had no AD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var mu sync.Mutex
			var events []Event
			r := &Router{Resolver: adZone(t, tt.authentic...), Trace: func(_ context.Context, e Event) {
				mu.Lock()
				events = append(events, e)
				mu.Unlock()
			}}
			rt, err := r.Route(t.Context(), tt.domain)
			require.NoError(t, err)
			var sawMX, sawAddrs bool
			for _, e := range events {
				switch e.Step {
				case StepMX, StepImplicitMX:
					sawMX = true
					assert.Equal(t, tt.wantMX, e.Authentic, "%s: %s", e.Step, tt.reason)
					assert.Equal(t, rt.Authentic, e.Authentic, "%s agrees with Route.Authentic", e.Step)
				case StepAddrs:
					sawAddrs = true
					assert.Equal(t, tt.wantAddrs, e.Authentic, "addrs: %s", tt.reason)
					assert.Equal(t, rt.Hosts[0].Authentic, e.Authentic, "addrs agrees with Host.Authentic")
				default:
					assert.False(t, e.Authentic, "%s never claims Authentic", e.Step)
				}
			}
			assert.True(t, sawMX && sawAddrs, "both steps reported")
		})
	}
}

func TestStepString(t *testing.T) {
	assert.Equal(t, "loop-guard", StepLoopGuard.String())
	assert.Equal(t, "done", StepDone.String())
	assert.Equal(t, "Step(0)", Step(0).String(), "the zero Step is not a step")
	assert.Equal(t, "Step(99)", Step(99).String())
}

func TestSlogTrace(t *testing.T) {
	var b strings.Builder
	h := slog.NewTextHandler(&b, &slog.HandlerOptions{Level: slog.LevelDebug,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}})
	trace := SlogTrace(slog.New(h), slog.LevelDebug)
	trace(t.Context(), Event{Step: StepUnusable, Domain: "d.test", Host: "mx.d.test", Preference: 10,
		Rule: "RFC 5321, Section 5.1", Message: "unusable", Count: 2, TTL: 60, Target: "x",
		Addrs: []netip.Addr{netip.MustParseAddr("192.0.2.1")}, Err: errors.New("boom")})
	assert.Equal(t, `level=DEBUG msg=unusable step=unusable domain=d.test host=mx.d.test preference=10 rule="RFC 5321, Section 5.1" target=x ttl=60 count=2 addrs=192.0.2.1 err=boom`+"\n", b.String())

	b.Reset()
	trace(t.Context(), Event{Step: StepMX, Domain: "d.test", Rule: "RFC 5321, Section 5.1", Message: "mx", Count: 1, TTL: 60, Authentic: true})
	assert.Equal(t, `level=DEBUG msg=mx step=mx domain=d.test rule="RFC 5321, Section 5.1" ttl=60 count=1 authentic=true`+"\n", b.String(),
		"authentic is logged only when true")

	b.Reset()
	SlogTrace(slog.New(h), slog.LevelDebug-4)(t.Context(), Event{Step: StepMX, Message: "hidden"})
	assert.Empty(t, b.String(), "a level the handler does not enable logs nothing")
}

// Events are built only when Trace is set: a Router without Trace makes
// fewer allocations than one with a Trace that does nothing. (That a nil
// Trace adds none at all is measured by BenchmarkRouteTrace/nil against the
// same benchmark before the hook: 103 allocs/op both.)
func TestTraceBuildsEventsOnlyWhenSet(t *testing.T) {
	z := testZone(t, "tr.test.", traceZone)
	ctx := t.Context()
	plain := &Router{Resolver: z, Rand: rand.New(rand.NewPCG(1, 1))}
	traced := &Router{Resolver: z, Rand: rand.New(rand.NewPCG(1, 1)), Trace: func(context.Context, Event) {}}
	route := func(r *Router) func() {
		return func() {
			if _, err := r.Route(ctx, "plain.tr.test"); err != nil {
				panic(err)
			}
		}
	}
	nilAllocs := testing.AllocsPerRun(50, route(plain))
	tracedAllocs := testing.AllocsPerRun(50, route(traced))
	assert.Less(t, nilAllocs, tracedAllocs, "tracing builds messages only when Trace is set")
}

func BenchmarkRouteTrace(b *testing.B) {
	z := testZone(b, "tr.test.", traceZone)
	for _, bc := range []struct {
		name  string
		trace func(context.Context, Event)
	}{{"nil", nil}, {"noop", func(context.Context, Event) {}}} {
		b.Run(bc.name, func(b *testing.B) {
			r := &Router{Resolver: z, Rand: rand.New(rand.NewPCG(1, 1)), Trace: bc.trace}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := r.Route(b.Context(), "plain.tr.test"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// FuzzTrace routes arbitrary zones with arbitrary limits: the trace always
// ends with one StepDone that matches what Route returned, every event is a
// known step with a message, hosts reported unusable are the Route's
// unusable hosts, and hosts reported dropped are not in the Route.
func FuzzTrace(f *testing.F) {
	f.Add(traceZone, "plain.tr.test", uint8(0), uint8(0), uint8(0), "")
	f.Add(traceZone, "shared.tr.test", uint8(1), uint8(1), uint8(1), "mx1.tr.test")
	f.Add(traceZone, "iptarget.tr.test", uint8(4), uint8(0), uint8(2), "mx3.tr.test")
	f.Add(traceZone, "alias.tr.test", uint8(3), uint8(2), uint8(0), "mx2.tr.test")
	f.Add("$ORIGIN tr.test.\n@ 60 IN SOA ns h 1 2 3 4 5\nx IN MX 10 a\nx IN MX 10 b\na IN A 192.0.2.1\nb IN A 192.0.2.1\n", "x.tr.test", uint8(0), uint8(0), uint8(1), "")
	f.Fuzz(func(t *testing.T, zone, domain string, family, maxHosts, maxAddrs uint8, local string) {
		z, err := NewZoneResolver(strings.NewReader(zone), "tr.test.")
		if err != nil {
			return
		}
		var events []Event
		r := &Router{Resolver: z, Family: Family(family % 5), MaxHosts: int(maxHosts % 4), MaxAddrs: int(maxAddrs % 4),
			Rand: rand.New(rand.NewPCG(1, 1)), Trace: func(_ context.Context, e Event) { events = append(events, e) }}
		if local != "" {
			r.LocalNames = []string{local}
		}
		rt, err := r.Route(context.Background(), domain)
		if len(events) == 0 {
			t.Fatal("no events: StepDone is always reported")
		}
		done := events[len(events)-1]
		if done.Step != StepDone || done.Err != err || done.Count != len(rt.Targets()) {
			t.Fatalf("last event %+v does not match Route's (%d targets, %v)", done, len(rt.Targets()), err)
		}
		inRoute := map[string]bool{}
		unusable := map[string]bool{}
		cut := map[string]bool{} // dropped whole by MaxAddrs: after the cut, unusable ones too
		for _, e := range events {
			if e.Step == StepMaxAddrsDropped {
				cut[e.Host] = true
			}
		}
		if rt != nil {
			for _, h := range rt.Hosts {
				inRoute[h.Name] = true
				if h.Err != nil {
					unusable[h.Name] = true
				}
			}
		}
		for i, e := range events {
			if e.Message == "" || strings.HasPrefix(e.Step.String(), "Step(") {
				t.Fatalf("event %d: %+v", i, e)
			}
			if e.Step == StepDone && i != len(events)-1 {
				t.Fatalf("StepDone at %d of %d", i, len(events))
			}
			switch {
			case rt == nil:
			case e.Step == StepUnusable && !unusable[e.Host] && !cut[e.Host]:
				t.Fatalf("%s reported unusable, neither so in the Route %+v nor reported dropped by MaxAddrs", e.Host, rt.Hosts)
			case (e.Step == StepLoopGuard || e.Step == StepSelf || e.Step == StepMaxHosts || e.Step == StepMaxAddrsDropped ||
				e.Step == StepDedupe && e.Count == 0) && inRoute[e.Host]:
				t.Fatalf("%s reported dropped (%s), but in the Route %+v", e.Host, e.Step, rt.Hosts)
			}
		}
	})
}
