package mxroute

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
)

// scripted answers every question with the message its function builds and
// counts the questions per "name TYPE".
type scripted struct {
	mu    sync.Mutex
	calls map[string]int
	reply func(name string, qtype uint16) (*dns.Msg, error)
}

func (s *scripted) Resolve(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
	s.mu.Lock()
	if s.calls == nil {
		s.calls = map[string]int{}
	}
	s.calls[name+" "+dns.TypeToString[qtype]]++
	s.mu.Unlock()
	return s.reply(name, qtype)
}

func (s *scripted) count(q string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[q]
}

func withSOA(m *dns.Msg, ttl, minimum uint32) *dns.Msg {
	m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "test.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
		Ns: "ns.test.", Mbox: "h.test.", Minttl: minimum}}
	return m
}

// cacheLimits are the Cache fields a TTL case sets.
type cacheLimits struct{ MaxTTL, FailureTTL time.Duration }

func TestCacheTTLs(t *testing.T) {
	tests := []struct {
		name   string
		cache  cacheLimits
		msg    *dns.Msg
		err    error
		fresh  time.Duration // still cached after this long
		stale  time.Duration // asked again after this long
		reason string
	}{
		{"positive: smallest TTL", cacheLimits{}, reply("a.test.", dns.TypeA, dns.RcodeSuccess, "a.test. 300 IN A 192.0.2.1", "a.test. 60 IN A 192.0.2.2"),
			nil, 59 * time.Second, 60 * time.Second, "an RRset lives as long as its shortest TTL"},
		{"positive: MaxTTL caps", cacheLimits{MaxTTL: 10 * time.Second}, reply("a.test.", dns.TypeA, dns.RcodeSuccess, "a.test. 86400 IN A 192.0.2.1"),
			nil, 9 * time.Second, 10 * time.Second, "MaxTTL bounds a long TTL"},
		{"positive: default cap one hour", cacheLimits{}, reply("a.test.", dns.TypeA, dns.RcodeSuccess, "a.test. 86400 IN A 192.0.2.1"),
			nil, 59 * time.Minute, time.Hour, "0: one hour"},
		{"NXDOMAIN: SOA MINIMUM", cacheLimits{}, withSOA(reply("a.test.", dns.TypeA, dns.RcodeNameError), 3600, 300),
			nil, 299 * time.Second, 300 * time.Second, "RFC 2308, Section 5: the smaller of MINIMUM and the SOA's TTL"},
		{"NODATA: SOA TTL", cacheLimits{}, withSOA(reply("a.test.", dns.TypeA, dns.RcodeSuccess), 120, 3600),
			nil, 119 * time.Second, 120 * time.Second, "RFC 2308, Section 5: the SOA's own TTL when smaller"},
		{"NODATA after CNAME: chain TTL too", cacheLimits{}, withSOA(reply("a.test.", dns.TypeA, dns.RcodeSuccess, "a.test. 30 IN CNAME b.test."), 120, 3600),
			nil, 29 * time.Second, 30 * time.Second, "the CNAME's TTL bounds the negative answer built on it"},
		{"NXDOMAIN without SOA", cacheLimits{}, reply("a.test.", dns.TypeA, dns.RcodeNameError),
			nil, 0, 0, "RFC 2308, Section 5: SHOULD NOT be cached"},
		{"SERVFAIL: two seconds", cacheLimits{}, reply("a.test.", dns.TypeA, dns.RcodeServerFailure),
			nil, 1999 * time.Millisecond, 2 * time.Second, "failures only briefly"},
		{"SERVFAIL: FailureTTL capped", cacheLimits{FailureTTL: time.Hour}, reply("a.test.", dns.TypeA, dns.RcodeServerFailure),
			nil, 4 * time.Second, 5 * time.Second, "never more than a few seconds"},
		{"SERVFAIL: not cached", cacheLimits{FailureTTL: -1}, reply("a.test.", dns.TypeA, dns.RcodeServerFailure),
			nil, 0, 0, "negative FailureTTL"},
		{"error", cacheLimits{}, nil, errors.New("timeout"), time.Second, 2 * time.Second, "a dead server is not asked a thousand times a second"},
		{"truncated", cacheLimits{}, func() *dns.Msg {
			m := reply("a.test.", dns.TypeA, dns.RcodeSuccess, "a.test. 300 IN A 192.0.2.1")
			m.Truncated = true
			return m
		}(), nil, 0, 0, "RFC 2181, Section 9: a partial answer is not cached"},
		{"reply to another question", cacheLimits{}, reply("b.test.", dns.TypeA, dns.RcodeSuccess, "b.test. 86400 IN A 192.0.2.1"),
			nil, 1999 * time.Millisecond, 2 * time.Second, "RFC 5452 §3: useless to every caller, so kept only as briefly as a failure"},
		{"zero TTL", cacheLimits{}, reply("a.test.", dns.TypeA, dns.RcodeSuccess, "a.test. 0 IN A 192.0.2.1"),
			nil, 0, 0, "RFC 1035, Section 3.2.1: zero means do not cache"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) { // time.Sleep moves the bubble's clock
				next := &scripted{reply: func(string, uint16) (*dns.Msg, error) { return tt.msg, tt.err }}
				c := &Cache{Resolver: next, MaxTTL: tt.cache.MaxTTL, FailureTTL: tt.cache.FailureTTL}
				ask := func() {
					m, err := c.Resolve(t.Context(), "a.test.", dns.TypeA)
					if tt.err != nil {
						assert.Equal(t, tt.err, err)
					} else {
						require.NoError(t, err)
						assert.Equal(t, tt.msg.Rcode, m.Rcode)
					}
				}
				ask()
				require.Equal(t, 1, next.count("a.test. A"))
				if tt.stale == 0 {
					ask()
					assert.Equal(t, 2, next.count("a.test. A"), "not cached: %s", tt.reason)
					return
				}
				time.Sleep(tt.fresh)
				ask()
				assert.Equal(t, 1, next.count("a.test. A"), "still cached: %s", tt.reason)
				time.Sleep(tt.stale - tt.fresh)
				ask()
				assert.Equal(t, 2, next.count("a.test. A"), "expired: %s", tt.reason)
			})
		})
	}
}

func TestCacheCopiesAndAges(t *testing.T) { synctest.Test(t, testCacheCopiesAndAges) }

func testCacheCopiesAndAges(t *testing.T) {
	m := reply("a.test.", dns.TypeA, dns.RcodeSuccess, "a.test. 300 IN A 192.0.2.1")
	m.AuthenticatedData = true
	m.SetEdns0(1232, true)
	m.Ns = dnstest.RRs("test. 600 IN NS ns.test.")
	next := &scripted{reply: func(string, uint16) (*dns.Msg, error) { return m.Copy(), nil }}
	c := &Cache{Resolver: next}
	first, err := c.Resolve(t.Context(), "a.test.", dns.TypeA)
	require.NoError(t, err)
	first.Answer[0].Header().Ttl = 1 // a caller scribbling on its copy
	first.Answer = nil

	time.Sleep(100 * time.Second)
	got, err := c.Resolve(t.Context(), "A.Test", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, 1, next.count("a.test. A"), "names compare case-insensitively, trailing dot optional")
	require.Len(t, got.Answer, 1, "a caller's changes do not reach the cache")
	assert.Equal(t, uint32(200), got.Answer[0].Header().Ttl, "RFC 1035: the TTL counts down while cached")
	assert.Equal(t, uint32(200), got.Ns[0].Header().Ttl, "600 aged to 500, but the entry itself lives 200 s more: no TTL outlives it")
	assert.True(t, got.AuthenticatedData, "the AD bit is kept")
	require.NotNil(t, got.IsEdns0())
	assert.True(t, got.IsEdns0().Do(), "the OPT record's flags are not aged like a TTL")
	for _, name := range []string{"a.test.", "A.Test"} {
		_, err := c.cachedView().Resolve(t.Context(), name, dns.TypeA)
		assert.NoError(t, err, "%s: the in-place view keys the question as Resolve does", name)
	}

	_, err = c.Resolve(t.Context(), "a.test.", dns.TypeAAAA)
	require.NoError(t, err)
	assert.Equal(t, 1, next.count("a.test. AAAA"), "the type is part of the key")
}

// TestCacheTTLNeverOutlivesEntry: MaxTTL caps how long an answer is kept,
// and so the TTLs handed out, fresh or aged: a downstream cache keeping the
// answer for its TTL drops it when this one does.
func TestCacheTTLNeverOutlivesEntry(t *testing.T) { synctest.Test(t, testCacheTTLNeverOutlivesEntry) }

func testCacheTTLNeverOutlivesEntry(t *testing.T) {
	m := withSOA(reply("a.test.", dns.TypeA, dns.RcodeSuccess, "a.test. 86400 IN A 192.0.2.1"), 86400, 86400)
	next := &scripted{reply: func(string, uint16) (*dns.Msg, error) { return m.Copy(), nil }}
	c := &Cache{Resolver: next} // MaxTTL 0: one hour
	first, err := c.Resolve(t.Context(), "a.test.", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, uint32(3600), first.Answer[0].Header().Ttl, "the first caller too: the entry lives an hour")
	assert.Equal(t, uint32(3600), first.Ns[0].Header().Ttl, "every section")

	time.Sleep(59 * time.Minute)
	aged, err := c.Resolve(t.Context(), "a.test.", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, 1, next.count("a.test. A"))
	assert.Equal(t, uint32(60), aged.Answer[0].Header().Ttl, "86400 aged 59 min is 82860, but the entry expires in 60 s")

	time.Sleep(59*time.Second + 500*time.Millisecond)
	aged, err = c.Resolve(t.Context(), "a.test.", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, uint32(1), aged.Answer[0].Header().Ttl, "half a second left rounds up, never to 0 while kept")
}

// TestCacheTTLTopBit: RFC 2181, Section 8: a TTL with the most significant
// bit set counts as zero (issue 9, item 9): the answer is not kept, and the
// copy handed out says 0, not 68 years.
func TestCacheTTLTopBit(t *testing.T) {
	tests := []struct {
		name   string
		msg    *dns.Msg
		reason string
	}{
		{"answer", reply("a.test.", dns.TypeA, dns.RcodeSuccess, "a.test. 2147483648 IN A 192.0.2.1"), "2^31 is 0"},
		{"max", reply("a.test.", dns.TypeA, dns.RcodeSuccess, "a.test. 4294967295 IN A 192.0.2.1"), "2^32-1 is 0, not the longest TTL"},
		{"negative SOA", withSOA(reply("a.test.", dns.TypeA, dns.RcodeNameError), 1<<31|300, 300), "an SOA TTL with the top bit: the NXDOMAIN is not kept"},
		{"negative minimum", withSOA(reply("a.test.", dns.TypeA, dns.RcodeSuccess), 300, 1<<31|300), "an SOA MINIMUM with the top bit: the NODATA is not kept"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next := &scripted{reply: func(string, uint16) (*dns.Msg, error) { return tt.msg.Copy(), nil }}
			c := &Cache{Resolver: next}
			for range 2 {
				got, err := c.Resolve(t.Context(), "a.test.", dns.TypeA)
				require.NoError(t, err)
				for i, rr := range append(got.Answer, got.Ns...) {
					if orig := append(tt.msg.Answer, tt.msg.Ns...)[i].Header().Ttl; orig&(1<<31) != 0 {
						assert.Zero(t, rr.Header().Ttl, "%s: handed out as 0", tt.reason)
					} else {
						assert.Equal(t, orig, rr.Header().Ttl)
					}
				}
			}
			assert.Equal(t, 2, next.count("a.test. A"), "%s: not cached", tt.reason)
			assert.Zero(t, c.Len())
		})
	}
}

// TestCacheEntryAgedClockBack: a clock that steps back (now before the time
// an answer was stored) never wraps a TTL to 0 and never keeps an answer
// longer than its TTL (issue 9, item 9). The Cache reads time.Now, whose
// monotonic reading does not step back; the guard holds should a Time
// without one reach it.
func TestCacheEntryAgedClockBack(t *testing.T) {
	stored := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	e := &cacheEntry{msg: new(dns.Msg), stored: stored, expires: stored.Add(300 * time.Second)}
	_, age, life, _ := e.aged(stored.Add(-10 * time.Second))
	assert.Zero(t, age, "age 0, not -10 s (which agedCopy would wrap around)")
	assert.Equal(t, 300*time.Second, life, "never kept longer than the TTL it was given")
	_, age, life, _ = e.aged(stored.Add(299 * time.Second))
	assert.Equal(t, 299*time.Second, age)
	assert.Equal(t, time.Second, life)
}

// TestCacheTraceTTLColdWarm: the TTLs a route's trace reports are the same
// whether the Cache answered from memory or just asked (issue 9, item 9),
// also when a TTL is above MaxTTL, below the chain's CNAME TTL, or has the
// top bit set.
func TestCacheTraceTTLColdWarm(t *testing.T) {
	z := testZone(t, "ttl.test.", `$TTL 3600
@        IN SOA ns hostmaster 1 3600 600 86400 300
@        IN NS  ns
ns       IN A   192.0.2.53
@ 86400  IN MX  10 alias
alias 60 IN CNAME mx
mx 86400 IN A   192.0.2.25
`)
	for _, maxTTL := range []time.Duration{0, time.Minute} {
		c := &Cache{Resolver: z, MaxTTL: maxTTL}
		var runs [2][]string
		for i := range runs {
			r := &Router{Resolver: c, Trace: func(_ context.Context, e Event) {
				if e.Step == StepMX || e.Step == StepAddrs {
					runs[i] = append(runs[i], fmt.Sprintf("%s %s %d", e.Step, e.Host, e.TTL))
				}
			}}
			_, err := r.Route(t.Context(), "ttl.test")
			require.NoError(t, err)
		}
		assert.Equal(t, []string{"mx  86400", "addrs alias.ttl.test 86400"}, runs[0], "cold: the published TTLs (MaxTTL %v)", maxTTL)
		assert.Equal(t, runs[0], runs[1], "warm as cold (MaxTTL %v)", maxTTL)
	}
}

func TestCacheLRU(t *testing.T) {
	next := &scripted{reply: func(name string, qtype uint16) (*dns.Msg, error) {
		return reply(name, qtype, dns.RcodeSuccess, name+" 300 IN A 192.0.2.1"), nil
	}}
	c := &Cache{Resolver: next, MaxEntries: 2}
	ask := func(n string) {
		_, err := c.Resolve(t.Context(), n, dns.TypeA)
		require.NoError(t, err)
	}
	ask("a.test.")
	ask("b.test.")
	ask("a.test.") // a is now the most recent
	ask("c.test.") // evicts b
	assert.Equal(t, 2, c.Len(), "bounded by MaxEntries")
	ask("a.test.")
	ask("c.test.")
	assert.Equal(t, 1, next.count("a.test. A"), "recently used: kept")
	assert.Equal(t, 1, next.count("c.test. A"))
	ask("b.test.")
	assert.Equal(t, 2, next.count("b.test. A"), "least recently used: evicted")
}

// cachedBytes is the memory the Cache counts its answers at (entrySize),
// summed over its shards.
func (c *Cache) cachedBytes() int {
	c.shard(cacheKey{}) // set up
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += sh.bytes
		sh.mu.RUnlock()
	}
	return n
}

// aRRset answers name with n A records.
func aRRset(name string, n int) *dns.Msg {
	m := reply(name, dns.TypeA, dns.RcodeSuccess)
	for i := range n {
		m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 300},
			A: net.IPv4(10, 0, byte(i>>8), byte(i)).To4()})
	}
	return m
}

// TestCacheByteBudget: MaxBytes bounds the answers kept by their size, the
// least recently used going first, and an answer larger than the whole
// budget is answered but not kept.
func TestCacheByteBudget(t *testing.T) {
	next := &scripted{reply: func(name string, _ uint16) (*dns.Msg, error) {
		if name == "huge.test." {
			return aRRset(name, 2000), nil
		}
		return aRRset(name, 10), nil
	}}
	one := entrySize(keyOf("n0.test.", dns.TypeA), aRRset("n0.test.", 10), nil)
	// MaxEntries below 256: one shard, whose share is the whole budget.
	c := &Cache{Resolver: next, MaxEntries: 100, MaxBytes: 10*one + one/2}
	ask := func(n string) *dns.Msg {
		m, err := c.Resolve(t.Context(), n, dns.TypeA)
		require.NoError(t, err)
		return m
	}
	for i := range 10 {
		ask(fmt.Sprintf("n%d.test.", i))
	}
	assert.Equal(t, 10, c.Len(), "ten answers fit")
	assert.Equal(t, 10*one, c.cachedBytes(), "each counted at its size")
	ask("n0.test.") // n0 is now the most recent
	ask("n10.test.")
	assert.Equal(t, 10, c.Len(), "the eleventh pushed one out: MaxBytes binds before MaxEntries")
	assert.LessOrEqual(t, c.cachedBytes(), c.MaxBytes)
	ask("n0.test.")
	assert.Equal(t, 1, next.count("n0.test. A"), "recently used: kept")
	ask("n1.test.")
	assert.Equal(t, 2, next.count("n1.test. A"), "least recently used: evicted")

	held := c.cachedBytes()
	assert.Len(t, ask("huge.test.").Answer, 2000, "an answer larger than the budget is still answered")
	assert.Len(t, ask("huge.test.").Answer, 2000)
	assert.Equal(t, 2, next.count("huge.test. A"), "but not kept")
	assert.Equal(t, held, c.cachedBytes(), "and nothing was evicted for it")
	ask("n0.test.")
	assert.Equal(t, 1, next.count("n0.test. A"))
}

// liveHeap is the heap in use after a full collection.
func liveHeap() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapAlloc)
}

// TestCacheHostileZone: issue 18, part 5. A zone answering with 100 MX
// hosts (of a 2,876-record RRset) whose A RRsets fill 65,535-byte
// messages (4,065 records, about 430 KiB each in memory) made a default
// Cache hold 43 MiB per domain routed, 4 GiB at 10,000 entries. Such a
// domain routed through a Cache of the default budget leaves it within
// MaxBytes, as it counts and as the heap shows. Not parallel: the heap is
// measured.
func TestCacheHostileZone(t *testing.T) {
	addr := dnstest.Serve(t, &dnstest.Hostile{Attack: dnstest.Huge})
	before := liveHeap()
	asked := &countingResolver{next: &DNSResolver{Servers: []string{addr}, Timeout: 10 * time.Second, Attempts: 2}}
	c := &Cache{Resolver: asked}
	r := &Router{Resolver: c}
	_, err := r.Route(t.Context(), "d0.huge.test")
	require.NoError(t, err)
	require.Len(t, asked.questions(), 1+2*defaultMaxMX, "the MX, and the A and AAAA of 100 hosts")
	held, grown := c.cachedBytes(), liveHeap()-before
	t.Logf("%d answers, %.1f MiB counted, heap grown by %.1f MiB", c.Len(), float64(held)/(1<<20), float64(grown)/(1<<20))
	const budget = 8 << 20
	require.Equal(t, budget, c.maxBytes(), "the zero value's budget")
	assert.LessOrEqual(t, held, budget, "within the budget as counted")
	assert.Greater(t, held, budget/2, "the hostile answers were cached: the budget is used")
	// The count is within 10% of the heap for such answers: allow that, and
	// 1 MiB for what the resolver and the test hold besides.
	assert.Less(t, grown, int64(budget*11/10+1<<20), "within the budget on the heap")
	runtime.KeepAlive(c)
}

// BenchmarkCacheHostileZone measures the memory of the run of
// TestCacheHostileZone, with five hostile domains per op through a fresh
// Cache of the default budget: the heap it keeps alive (after a GC), what
// it counts, and the process's peak RSS (VmHWM, reset per op; the
// hostile server runs in the same process, and garbage counts until the
// collector runs). Run with -benchtime 3x; no time is measured that
// matters.
func BenchmarkCacheHostileZone(b *testing.B) {
	addr := dnstest.Serve(b, &dnstest.Hostile{Attack: dnstest.Huge})
	const domains = 5
	var heap, counted, rss float64
	for i := 0; b.Loop(); i++ {
		b.StopTimer()
		before := liveHeap()
		_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) // reset VmHWM
		b.StartTimer()
		c := &Cache{Resolver: &DNSResolver{Servers: []string{addr}, Timeout: 10 * time.Second, Attempts: 2}}
		r := &Router{Resolver: c}
		for d := range domains {
			if _, err := r.Route(b.Context(), fmt.Sprintf("d%d-%d.huge.test", i, d)); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		heap += float64(liveHeap() - before)
		counted += float64(c.cachedBytes())
		rss += float64(vmHWM())
		runtime.KeepAlive(c)
		b.StartTimer()
	}
	n := float64(b.N) * (1 << 20)
	b.ReportMetric(heap/n, "heap-MiB")
	b.ReportMetric(counted/n, "counted-MiB")
	b.ReportMetric(rss/n, "peak-rss-MiB")
}

// vmHWM is the process's peak RSS (Linux), in bytes; 0 if unknown.
func vmHWM() int64 {
	data, _ := os.ReadFile("/proc/self/status")
	for line := range strings.Lines(string(data)) {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// gated is a Resolver whose answers wait for release (or the context).
type gated struct {
	release   chan struct{}
	calls     atomic.Int32
	cancelled atomic.Int32
}

func (g *gated) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	g.calls.Add(1)
	select {
	case <-g.release:
		return reply(name, qtype, dns.RcodeSuccess, name+" 300 IN A 192.0.2.1"), nil
	case <-ctx.Done():
		g.cancelled.Add(1)
		return nil, ctx.Err()
	}
}

// waiters returns the callers waiting for a flight.
func (c *Cache) waiters(name string, qtype uint16) int {
	sh := c.shard(cacheKey{name, qtype})
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if f := sh.flights[cacheKey{name, qtype}]; f != nil {
		return f.waiters
	}
	return 0
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	require.Eventually(t, cond, 5*time.Second, time.Millisecond)
}

func TestCacheCoalesces(t *testing.T) {
	g := &gated{release: make(chan struct{})}
	c := &Cache{Resolver: g}
	const n = 20
	var wg sync.WaitGroup
	msgs := make([]*dns.Msg, n)
	for i := range n {
		wg.Go(func() {
			m, err := c.Resolve(t.Context(), "a.test.", dns.TypeA)
			assert.NoError(t, err)
			msgs[i] = m
		})
	}
	waitFor(t, func() bool { return c.waiters("a.test.", dns.TypeA) == n })
	close(g.release)
	wg.Wait()
	assert.Equal(t, int32(1), g.calls.Load(), "one question for all concurrent callers")
	for _, m := range msgs[1:] {
		assert.NotSame(t, msgs[0], m, "each caller has its own copy")
		assert.Equal(t, msgs[0].Answer[0].String(), m.Answer[0].String())
	}
}

// TestCacheCancel: a caller that gives up does not fail the others; when
// the last one gives up, the query is cancelled and has ended by the time
// Resolve returns, and nothing is cached.
func TestCacheCancel(t *testing.T) {
	g := &gated{release: make(chan struct{})}
	c := &Cache{Resolver: g}
	ctx1, cancel1 := context.WithCancel(t.Context())
	ctx2, cancel2 := context.WithCancel(t.Context())
	errs := make(chan error, 2)
	for _, ctx := range []context.Context{ctx1, ctx2} {
		go func() { _, err := c.Resolve(ctx, "a.test.", dns.TypeA); errs <- err }()
	}
	waitFor(t, func() bool { return c.waiters("a.test.", dns.TypeA) == 2 })
	cancel1()
	assert.ErrorIs(t, <-errs, context.Canceled)
	assert.Equal(t, int32(0), g.cancelled.Load(), "another caller still waits: the query goes on")
	cancel2()
	assert.ErrorIs(t, <-errs, context.Canceled)
	assert.Equal(t, int32(1), g.cancelled.Load(), "the last caller gone: the query was cancelled and has ended")
	assert.Equal(t, 0, c.Len(), "a cancelled query says nothing about the name")

	close(g.release)
	_, err := c.Resolve(t.Context(), "a.test.", dns.TypeA)
	require.NoError(t, err, "a new caller starts afresh")
	assert.Equal(t, int32(2), g.calls.Load())
}

func TestCacheNilResolver(t *testing.T) {
	assert.Same(t, defaultResolver, (&Cache{}).next(), "nil: the package's DNSResolver")
}

// TestCacheRoute: a second route of the same domain through a Cache asks
// nothing, and gives the same route.
func TestCacheRoute(t *testing.T) {
	z := testZone(t, "ties.test.", tiesZone)
	count := &countingResolver{next: z}
	c := &Cache{Resolver: count}
	r := &Router{Resolver: c}
	first, err := r.Route(t.Context(), "ties.test")
	require.NoError(t, err)
	n := len(count.questions())
	assert.Equal(t, 11, n, "MX, then A and AAAA of five hosts")
	for range 3 {
		rt, err := r.Route(t.Context(), "TIES.test.")
		require.NoError(t, err)
		assert.ElementsMatch(t, first.Targets(), rt.Targets())
	}
	assert.Len(t, count.questions(), n, "a warm cache asks nothing")
}

// TestCacheManyDomains routes many distinct domains concurrently through a
// Cache against a loopback server, and checks that every route succeeds and
// that no goroutine is left afterwards. The harness in internal/bench/latency
// does the same with 10,000 domains and reports the peak goroutines.
func TestCacheManyDomains(t *testing.T) {
	addr := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		switch q.Qtype {
		case dns.TypeMX:
			writeReply(w, req, dns.RcodeSuccess, q.Name+" 300 IN MX 10 mx1."+q.Name, q.Name+" 300 IN MX 20 mx2."+q.Name)
		case dns.TypeA:
			writeReply(w, req, dns.RcodeSuccess, q.Name+" 300 IN A 192.0.2.1")
		case dns.TypeAAAA:
			writeReply(w, req, dns.RcodeSuccess, q.Name+" 300 IN AAAA 2001:db8::1")
		}
	})
	before := countLookupGoroutines()
	c := &Cache{Resolver: &DNSResolver{Servers: []string{addr}, Timeout: 2 * time.Second, Attempts: 2}}
	r := &Router{Resolver: c}
	const domains, parallel = 300, 32
	var wg sync.WaitGroup
	var failed atomic.Int32
	sem := make(chan struct{}, parallel)
	for i := range domains {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if _, err := r.Route(t.Context(), fmt.Sprintf("d%d.test", i)); err != nil {
				failed.Add(1)
				t.Log(err)
			}
		})
	}
	wg.Wait()
	assert.Zero(t, failed.Load())
	assert.Equal(t, domains*5, c.Len(), "MX and two hosts' A and AAAA per domain")
	waitFor(t, func() bool { return countLookupGoroutines() <= before })
}

// countLookupGoroutines counts goroutines running the Router's lookups or
// the Cache's queries.
func countLookupGoroutines() int {
	buf := make([]byte, 1<<22)
	n := 0
	for _, g := range strings.Split(string(buf[:runtime.Stack(buf, true)]), "\n\n") {
		if strings.Contains(g, "mxroute.(*routing).startLookups") || strings.Contains(g, "mxroute.(*Cache).fly") {
			n++
		}
	}
	return n
}

// benchZone is a domain with n dual-stack mail hosts, two at each
// preference.
func benchZone(n int) string {
	var b strings.Builder
	b.WriteString("$ORIGIN bench.test.\n@ 3600 IN SOA ns hostmaster 1 3600 600 86400 300\n")
	for i := range n {
		fmt.Fprintf(&b, "@ IN MX %d mx%d\nmx%d IN A 192.0.2.%d\nmx%d IN AAAA 2001:db8::%d\n", 10*(i/2+1), i, i, i+1, i, i+1)
	}
	return b.String()
}

// BenchmarkRouteWarmCache routes a domain whose answers are all cached:
// the cost of the Router itself. Every goroutine of b.RunParallel (one per
// -cpu) routes through the same Router and the same Cache, so -cpu 1,2
// shows whether the Cache scales with cores. Rand is nil (the random order
// of math/rand/v2, which takes no lock): a seeded Rand is serialised.
func BenchmarkRouteWarmCache(b *testing.B) {
	for _, n := range []int{1, 2, 5, 10} {
		b.Run(fmt.Sprintf("dualstack-hosts=%d", n), func(b *testing.B) {
			r := &Router{Resolver: &Cache{Resolver: testZone(b, "bench.test.", benchZone(n))}}
			ctx := context.Background()
			if _, err := r.Route(ctx, "bench.test"); err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := r.Route(ctx, "bench.test"); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkCacheResolveHit is one cached answer handed to a caller outside
// the Router: a copy with aged TTLs.
func BenchmarkCacheResolveHit(b *testing.B) {
	c := &Cache{Resolver: testZone(b, "bench.test.", benchZone(2))}
	ctx := context.Background()
	if _, err := c.Resolve(ctx, "bench.test.", dns.TypeMX); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Resolve(ctx, "bench.test.", dns.TypeMX); err != nil {
			b.Fatal(err)
		}
	}
}

// TestCacheShards: a large Cache is split into shards whose shares add up
// to MaxEntries, and the bound holds overall; a small one is one shard (an
// exact LRU, as TestCacheLRU checks).
func TestCacheShards(t *testing.T) {
	tests := []struct {
		max, bytes, shards int
		reason             string
	}{
		{2, 0, 1, "tiny: one exact LRU"},
		{255, 0, 1, "below two shards of 128"},
		{256, 0, 2, "two shards of 128"},
		{1000, 0, 4, "shards of at least 128"},
		{0, 0, 16, "the default 10,000 and 8 MiB: at most 16 shards"},
		{1 << 20, 0, 16, "never more than 16"},
		{0, 1 << 20, 4, "shards of at least 256 KiB"},
		{0, 100 << 10, 1, "a small byte budget: one shard, so that one large answer still fits"},
		{1000, 1<<20 + 3, 4, "an odd budget: the shares still add up"},
	}
	for _, tt := range tests {
		c := &Cache{MaxEntries: tt.max, MaxBytes: tt.bytes}
		c.shard(cacheKey{})
		assert.Len(t, c.shards, tt.shards, tt.reason)
		sum, bytes := 0, 0
		for i := range c.shards {
			sum += c.shards[i].max
			bytes += c.shards[i].maxBytes
		}
		assert.Equal(t, c.maxEntries(), sum, "the shares add up to MaxEntries: %s", tt.reason)
		assert.Equal(t, c.maxBytes(), bytes, "the shares add up to MaxBytes: %s", tt.reason)
	}

	next := &scripted{reply: func(name string, qtype uint16) (*dns.Msg, error) {
		return reply(name, qtype, dns.RcodeSuccess, name+" 300 IN A 192.0.2.1"), nil
	}}
	c := &Cache{Resolver: next, MaxEntries: 1000}
	for i := range 5000 {
		_, err := c.Resolve(t.Context(), fmt.Sprintf("n%d.test.", i), dns.TypeA)
		require.NoError(t, err)
	}
	assert.Equal(t, 1000, c.Len(), "full, and bounded by MaxEntries overall")
}

// TestCacheShardLRU: within a shard, an entry read while among the most
// recent quarter stays in place (a read lock only); an older one read moves
// to the front and so outlives the ones not read.
func TestCacheShardLRU(t *testing.T) {
	sh := &cacheShard{max: 8, maxBytes: 1 << 20, entries: map[cacheKey]*cacheEntry{}, flights: map[cacheKey]*cacheFlight{}}
	sh.lru.next, sh.lru.prev = &sh.lru, &sh.lru
	now := time.Unix(1e9, 0)
	key := func(i int) cacheKey { return cacheKey{name: fmt.Sprintf("n%d.", i), qtype: dns.TypeA} }
	for i := range 8 {
		sh.put(&cacheEntry{key: key(i), msg: new(dns.Msg), stored: now, expires: now.Add(time.Hour)})
	}
	clock := sh.clock
	require.NotNil(t, sh.lookup(key(7), now))
	assert.Equal(t, clock, sh.clock, "the newest entry is not moved")
	require.NotNil(t, sh.lookup(key(0), now))
	assert.Equal(t, clock+1, sh.clock, "the oldest is moved to the front")
	sh.put(&cacheEntry{key: key(8), msg: new(dns.Msg), stored: now, expires: now.Add(time.Hour)})
	assert.NotNil(t, sh.entries[key(0)], "read: kept")
	assert.Nil(t, sh.entries[key(1)], "the least recently used: evicted")
	assert.Nil(t, sh.lookup(key(3), now.Add(2*time.Hour)), "expired")
	assert.Nil(t, sh.entries[key(3)], "and dropped")
}

// TestCacheConcurrent: many goroutines on a sharded Cache with evictions
// going on; every answer answers its own question, the bound holds, and
// concurrent identical questions are still asked once (the race detector
// watches the rest).
func TestCacheConcurrent(t *testing.T) {
	next := &scripted{reply: func(name string, qtype uint16) (*dns.Msg, error) {
		return reply(name, qtype, dns.RcodeSuccess, name+" 300 IN A 192.0.2.1"), nil
	}}
	c := &Cache{Resolver: next, MaxEntries: 512}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 2000 {
				name := fmt.Sprintf("n%d.test.", (i*7+g)%700)
				m, err := c.Resolve(t.Context(), name, dns.TypeA)
				if !assert.NoError(t, err) || !assert.Len(t, m.Answer, 1) {
					return
				}
				assert.Equal(t, name, m.Answer[0].Header().Name)
				if c.Len() > 512 {
					assert.Fail(t, "over MaxEntries")
					return
				}
			}
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, c.Len(), 512)
}

// resolveCounter embeds a *Cache, as a user's wrapper might, and counts the
// calls to its own Resolve.
type resolveCounter struct {
	*Cache
	calls atomic.Int32
}

func (w *resolveCounter) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	w.calls.Add(1)
	return w.Cache.Resolve(ctx, name, qtype)
}

// TestCacheFastPathInterface: the Router finds a cache's in-place views
// through the inPlaceResolver interface, not the *Cache type. A Resolver that
// embeds a warm *Cache (and so its views) routes without one call to its
// Resolve; one that only forwards Resolve to the same Cache pays a call, and
// a copy, per question.
func TestCacheFastPathInterface(t *testing.T) {
	c := &Cache{Resolver: testZone(t, "ties.test.", tiesZone)}
	want, err := (&Router{Resolver: c}).Route(t.Context(), "ties.test") // warm the Cache
	require.NoError(t, err)

	embedded := &resolveCounter{Cache: c}
	rt, err := (&Router{Resolver: embedded}).Route(t.Context(), "ties.test")
	require.NoError(t, err)
	assert.ElementsMatch(t, want.Targets(), rt.Targets())
	assert.Zero(t, embedded.calls.Load(), "read in place through the views")

	var forwarded atomic.Int32
	plain := ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		forwarded.Add(1)
		return c.Resolve(ctx, name, qtype)
	})
	rt, err = (&Router{Resolver: plain}).Route(t.Context(), "ties.test")
	require.NoError(t, err)
	assert.ElementsMatch(t, want.Targets(), rt.Targets())
	assert.Equal(t, int32(11), forwarded.Load(), "no views: every question through Resolve")
}
