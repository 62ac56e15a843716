package mxroute

import (
	"context"
	"fmt"
	"net"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// silentAddr is a UDP port that swallows every question.
func silentAddr(t *testing.T) string {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { pc.Close() })
	return pc.LocalAddr().String()
}

func rcodeServer(t *testing.T, rcode int, hits *atomic.Int32) string {
	return serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		if hits != nil {
			hits.Add(1)
		}
		q := req.Question[0]
		if rcode == dns.RcodeSuccess {
			writeReply(w, req, rcode, q.Name+" 60 IN A 192.0.2.1")
			return
		}
		writeReply(w, req, rcode)
	})
}

func TestDNSResolverServers(t *testing.T) {
	ok := rcodeServer(t, dns.RcodeSuccess, nil)
	nx := rcodeServer(t, dns.RcodeNameError, nil)
	servfail := rcodeServer(t, dns.RcodeServerFailure, nil)
	refused := rcodeServer(t, dns.RcodeRefused, nil)
	silent := silentAddr(t)
	wrongQuestion := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Question[0].Name = "evil.test."
		m.Answer = []dns.RR{&dns.A{Hdr: dns.RR_Header{Name: "evil.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60}, A: net.IPv4(192, 0, 2, 66)}}
		_ = w.WriteMsg(m)
	})
	lame := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req) // NOERROR, no answer, no SOA, neither AA nor RA
		m.Authoritative, m.RecursionAvailable = false, false
		_ = w.WriteMsg(m)
	})
	nodataRA := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.RecursionAvailable = true // a recursive resolver's NODATA
		_ = w.WriteMsg(m)
	})
	tests := []struct {
		name      string
		servers   []string
		wantRcode int
		wantErr   bool
		reason    string
	}{
		{"answer", []string{ok}, dns.RcodeSuccess, false, "NOERROR is final"},
		{"NXDOMAIN", []string{nx, ok}, dns.RcodeNameError, false, "NXDOMAIN is an answer: returned, not retried elsewhere"},
		{"SERVFAIL then answer", []string{servfail, ok}, dns.RcodeSuccess, false, "SERVFAIL moves on to the next server"},
		{"REFUSED then answer", []string{refused, ok}, dns.RcodeSuccess, false, "REFUSED moves on too"},
		{"all SERVFAIL", []string{servfail, refused}, dns.RcodeRefused, false, "the last response is returned for the caller to classify"},
		{"lame then answer", []string{lame, ok}, dns.RcodeSuccess, false, "a lame reply moves on, as libresolv and Go's resolver do (golang/go#15434)"},
		{"NODATA with RA is final", []string{nodataRA, ok}, dns.RcodeSuccess, false, "a recursive resolver's NODATA is an answer: not retried"},
		{"silent then answer", []string{silent, ok}, dns.RcodeSuccess, false, "a timeout moves on"},
		{"all silent", []string{silent}, 0, true, "no response at all is an error"},
		{"wrong question then answer", []string{wrongQuestion, ok}, dns.RcodeSuccess, false, "a reply to another question is no reply"},
		{"only wrong question", []string{wrongQuestion}, 0, true, "and never believed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := &DNSResolver{Servers: tt.servers, Timeout: 200 * time.Millisecond, Attempts: 1}
			m, err := r.Resolve(t.Context(), "h.test.", dns.TypeA)
			if tt.wantErr {
				require.Error(t, err, tt.reason)
				assert.Contains(t, err.Error(), "h.test A: ", "the error names the question, without the trailing dot")
				return
			}
			require.NoError(t, err, tt.reason)
			assert.Equal(t, tt.wantRcode, m.Rcode, tt.reason)
			if tt.servers[0] == nodataRA {
				assert.Empty(t, m.Answer, "the NODATA itself")
			} else if m.Rcode == dns.RcodeSuccess {
				require.Len(t, m.Answer, 1)
				assert.Equal(t, "h.test.", m.Answer[0].Header().Name)
			}
		})
	}
}

// TestDNSResolverLameEverywhere: when every server gives a lame reply, the
// last one is returned and the router defers, never turning it into an
// implicit MX and a bounce (issue 9, item 1).
func TestDNSResolverLameEverywhere(t *testing.T) {
	var hits atomic.Int32
	lame := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		hits.Add(1)
		m := new(dns.Msg)
		m.SetReply(req)
		_ = w.WriteMsg(m)
	})
	r := &DNSResolver{Servers: []string{lame, lame}, Timeout: time.Second, Attempts: 2}
	m, err := r.Resolve(t.Context(), "h.test.", dns.TypeMX)
	require.NoError(t, err)
	assert.True(t, isLame(m))
	assert.Equal(t, int32(4), hits.Load(), "every server, every round")
	_, err = (&Router{Resolver: r}).Route(t.Context(), "h.test")
	require.ErrorIs(t, err, ErrTemporary)
	assert.True(t, IsTemporary(err))
	assert.Contains(t, err.Error(), "lame")
}

func TestDNSResolverAttempts(t *testing.T) {
	var hits atomic.Int32
	servfail := rcodeServer(t, dns.RcodeServerFailure, &hits)
	r := &DNSResolver{Servers: []string{servfail}, Timeout: time.Second, Attempts: 3}
	m, err := r.Resolve(t.Context(), "h.test.", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, dns.RcodeServerFailure, m.Rcode)
	assert.Equal(t, int32(3), hits.Load(), "one question per round")
}

// TestDNSResolverTruncated: the UDP answer has TC set; the resolver asks
// again over TCP and gets all 40 records. The query carries EDNS0 with
// a 1232-byte buffer and RD.
func TestDNSResolverTruncated(t *testing.T) {
	var udpQueries, tcpQueries atomic.Int32
	var sawEDNS, sawRD atomic.Bool
	addr := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		if opt := req.IsEdns0(); opt != nil && opt.UDPSize() == 1232 {
			sawEDNS.Store(true)
		}
		sawRD.Store(req.RecursionDesired)
		m := new(dns.Msg)
		m.SetReply(req)
		if _, udp := w.RemoteAddr().(*net.UDPAddr); udp {
			udpQueries.Add(1)
			m.Truncated = true
			_ = w.WriteMsg(m)
			return
		}
		tcpQueries.Add(1)
		for i := range 40 {
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(192, 0, 2, byte(i+1))})
		}
		_ = w.WriteMsg(m)
	})
	m, err := (&DNSResolver{Servers: []string{addr}, Timeout: time.Second, Attempts: 1}).Resolve(t.Context(), "big.test.", dns.TypeA)
	require.NoError(t, err)
	assert.Len(t, m.Answer, 40, "the full answer came over TCP")
	assert.False(t, m.Truncated)
	assert.Equal(t, int32(1), udpQueries.Load())
	assert.Equal(t, int32(1), tcpQueries.Load())
	assert.True(t, sawEDNS.Load(), "RFC 6891: EDNS0 with a 1232-byte buffer")
	assert.True(t, sawRD.Load(), "recursion desired")
}

func TestDNSResolverCancel(t *testing.T) {
	verifyNoLeaks(t)
	silent := silentAddr(t)
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	_, err := (&DNSResolver{Servers: []string{silent, silent}, Timeout: time.Minute, Attempts: 2}).Resolve(ctx, "h.test.", dns.TypeA)
	require.Error(t, err)
	assert.ErrorIs(t, err, context.Canceled)
	// Not a timing assertion: with a one-minute attempt timeout, only the
	// cancellation can end the call this side of a minute.
	assert.Less(t, time.Since(start), 30*time.Second, "the caller's context ends the wait, not the per-attempt timeout")
}

// TestDNSResolverAttemptTimeout: a server that never answers fails the
// attempt with a timeout of its own, not with context.DeadlineExceeded: the
// caller's context has no deadline, and a caller testing for its own
// deadline must not be told it passed. Through a Router it is a deferral.
func TestDNSResolverAttemptTimeout(t *testing.T) {
	silent := silentAddr(t)
	res := &DNSResolver{Servers: []string{silent}, Timeout: 100 * time.Millisecond, Attempts: 1}
	_, err := res.Resolve(t.Context(), "h.test.", dns.TypeA)
	require.Error(t, err)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "the caller's context has no deadline")
	var ne net.Error
	require.ErrorAs(t, err, &ne, "a net.Error, as the standard library's resolver reports a timeout")
	assert.True(t, ne.Timeout())
	assert.Contains(t, err.Error(), "no reply within 100ms")

	_, err = (&Router{Resolver: res}).Route(t.Context(), "h.test")
	require.ErrorIs(t, err, ErrTemporary)
	assert.True(t, IsTemporary(err), "RFC 5321, Section 5.1: a temporary error queues the mail")
	assert.NotErrorIs(t, err, context.DeadlineExceeded)
}

func TestWithPort(t *testing.T) {
	for in, want := range map[string]string{
		"192.0.2.1":        "192.0.2.1:53",
		"192.0.2.1:5353":   "192.0.2.1:5353",
		"2001:db8::1":      "[2001:db8::1]:53",
		"[2001:db8::1]":    "[2001:db8::1]:53",
		"[2001:db8::1]:53": "[2001:db8::1]:53",
		"ns.example:53":    "ns.example:53",
	} {
		assert.Equal(t, want, withPort(in), in)
	}
}

// TestDNSResolverRoute: a whole route over the wire.
func TestDNSResolverRoute(t *testing.T) {
	addr := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		switch fmt.Sprintf("%s %d", q.Name, q.Qtype) {
		case fmt.Sprintf("d.test. %d", dns.TypeMX):
			writeReply(w, req, 0, "d.test. 60 IN MX 10 mx.d.test.")
		case fmt.Sprintf("mx.d.test. %d", dns.TypeA):
			writeReply(w, req, 0, "mx.d.test. 60 IN A 192.0.2.25")
		default:
			writeReply(w, req, 0)
		}
	})
	rt, err := (&Router{Resolver: &DNSResolver{Servers: []string{addr}}}).Route(t.Context(), "d.test")
	require.NoError(t, err)
	assert.Equal(t, []Target{{Host: "mx.d.test", Preference: 10, Addr: mustAddrs("192.0.2.25")[0]}}, rt.Targets())
}

// gateServer answers every question with one A record once release is
// closed, and records the order in which the questions came.
type gateServer struct {
	release chan struct{}
	mu      sync.Mutex
	order   []string // question names, in order of arrival
}

func (g *gateServer) serve(w dns.ResponseWriter, req *dns.Msg) {
	g.mu.Lock()
	g.order = append(g.order, req.Question[0].Name)
	g.mu.Unlock()
	<-g.release
	writeReply(w, req, 0, req.Question[0].Name+" 60 IN A 192.0.2.1")
}

func (g *gateServer) arrived() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.order)
}

// TestDNSResolverMaxInFlight: no more exchanges in flight than MaxInFlight,
// UDP and TCP retries together; every question is answered in the end (a
// TCP retry keeps its slot, so the retries cannot starve behind UDP
// questions holding every slot). The server holds the questions (with
// truncation, the TCP retries) until MaxInFlight are there and every other
// one waits in the resolver's queue: nothing more can start, so the count
// at the server is the bound itself, not a peak a fast server never shows.
func TestDNSResolverMaxInFlight(t *testing.T) {
	for _, truncate := range []bool{false, true} {
		t.Run(fmt.Sprintf("truncate=%v", truncate), func(t *testing.T) {
			release := make(chan struct{})
			var mu sync.Mutex
			var udp, tcp, now int
			addr := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
				_, isUDP := w.RemoteAddr().(*net.UDPAddr)
				mu.Lock()
				if isUDP {
					udp++
				} else {
					tcp++
				}
				mu.Unlock()
				if isUDP && truncate { // at once, with TC: the TCP retry is held
					m := new(dns.Msg)
					m.SetReply(req)
					m.Truncated = true
					_ = w.WriteMsg(m)
					return
				}
				mu.Lock()
				now++
				mu.Unlock()
				<-release
				writeReply(w, req, 0, req.Question[0].Name+" 60 IN A 192.0.2.1")
			})
			r := &DNSResolver{Servers: []string{addr}, Timeout: 5 * time.Second, Attempts: 1, MaxInFlight: 3}
			var wg sync.WaitGroup
			errs := make([]error, 40)
			for i := range errs {
				wg.Go(func() {
					_, errs[i] = r.Resolve(t.Context(), fmt.Sprintf("q%d.test.", i), dns.TypeA)
				})
			}
			held := func() bool {
				mu.Lock()
				defer mu.Unlock()
				return now == 3 && semaphoreWaiters(t.Name()) == 37
			}
			ok := assert.Eventually(t, held, 5*time.Second, time.Millisecond, "3 exchanges at the server, 37 questions queued")
			mu.Lock()
			assert.Equal(t, 3, udp, "MaxInFlight bounds the exchanges in flight")
			if truncate {
				assert.Equal(t, 3, tcp, "a TCP retry keeps its question's slot")
			}
			mu.Unlock()
			close(release)
			wg.Wait()
			require.True(t, ok)
			for _, err := range errs {
				require.NoError(t, err)
			}
			if truncate {
				assert.Equal(t, 40, tcp, "every question was retried over TCP")
			}
		})
	}
}

// TestDNSResolverInFlightFIFO: questions waiting for a slot get it in the
// order they came.
func TestDNSResolverInFlightFIFO(t *testing.T) {
	g := &gateServer{release: make(chan struct{})}
	addr := serveDNS(t, g.serve)
	r := &DNSResolver{Servers: []string{addr}, Timeout: 5 * time.Second, Attempts: 1, MaxInFlight: 1}
	var wg sync.WaitGroup
	defer wg.Wait()
	ask := func(name string) { wg.Go(func() { _, _ = r.Resolve(t.Context(), name, dns.TypeA) }) }
	ask("first.test.")
	require.Eventually(t, func() bool { return len(g.arrived()) == 1 }, 5*time.Second, time.Millisecond, "the first question holds the slot")
	want := []string{"first.test."}
	for i := range 5 {
		name := fmt.Sprintf("w%d.test.", i)
		want = append(want, name)
		ask(name)
		// Queued, not merely counted: the next one starts only then.
		require.Eventually(t, func() bool { return semaphoreWaiters(t.Name()) == i+1 }, 5*time.Second, time.Millisecond)
	}
	assert.Equal(t, int32(5), r.queued.Load())
	close(g.release)
	wg.Wait()
	assert.Equal(t, want, g.arrived(), "FIFO: slots go to the waiters in the order they came")
}

// semaphoreWaiters counts the goroutines of test (its name) parked in
// x/sync's Weighted.Acquire. Acquire puts its caller on the semaphore's
// queue, then parks in its only blocking select: a goroutine parked there
// is in the queue. The semaphore does not say how many wait; its stack
// does, without a sleep that a loaded machine could outrun.
func semaphoreWaiters(test string) int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	// Closures of test show as "mxroute.TestName.func1..." frames, those
	// of its subtests too.
	top, _, _ := strings.Cut(test, "/")
	fn := "mxroute." + top + "."
	count := 0
	for _, g := range strings.Split(string(buf), "\n\n") {
		header, _, _ := strings.Cut(g, "\n")
		if strings.Contains(header, " [select") && strings.Contains(g, "semaphore.(*Weighted).Acquire(") &&
			strings.Contains(g, "(*DNSResolver).acquire(") && strings.Contains(g, fn) {
			count++
		}
	}
	return count
}

// TestDNSResolverQueuedCancel: a question whose context ends while it waits
// for a slot returns with the context's error, and is never sent.
func TestDNSResolverQueuedCancel(t *testing.T) {
	g := &gateServer{release: make(chan struct{})}
	addr := serveDNS(t, g.serve)
	r := &DNSResolver{Servers: []string{addr}, Timeout: 5 * time.Second, Attempts: 2, MaxInFlight: 1}
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = r.Resolve(t.Context(), "holder.test.", dns.TypeA) })
	require.Eventually(t, func() bool { return len(g.arrived()) == 1 }, 5*time.Second, time.Millisecond)

	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error)
	go func() {
		_, err := r.Resolve(ctx, "queued.test.", dns.TypeA)
		done <- err
	}()
	require.Eventually(t, func() bool { return r.queued.Load() == 1 }, 5*time.Second, time.Millisecond)
	cancel()
	err := <-done // the holder still holds its slot: this returned without one
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), "queued.test ")
	close(g.release)
	wg.Wait()
	assert.Equal(t, []string{"holder.test."}, g.arrived(), "the cancelled question was never sent")
	assert.Equal(t, int32(0), r.queued.Load())
}

// TestBackoff: the wait before each round is random within [d/2, d), d a
// quarter of the timeout doubled per round, at most the timeout.
func TestBackoff(t *testing.T) {
	tests := []struct {
		round   int
		timeout time.Duration
		lo, hi  time.Duration
		reason  string
	}{
		{1, 2 * time.Second, 250 * time.Millisecond, 500 * time.Millisecond, "first retry round: a quarter of the timeout, jittered down to half"},
		{2, 2 * time.Second, 500 * time.Millisecond, time.Second, "doubled"},
		{3, 2 * time.Second, time.Second, 2 * time.Second, "doubled again, up to the timeout"},
		{9, 2 * time.Second, time.Second, 2 * time.Second, "never beyond the timeout"},
		{1, 0, 0, 0, "no timeout, no wait"},
	}
	for _, tt := range tests {
		seen := map[time.Duration]bool{}
		for range 200 {
			d := backoff(tt.round, tt.timeout)
			assert.GreaterOrEqual(t, d, tt.lo, tt.reason)
			if tt.hi > 0 {
				assert.Less(t, d, tt.hi, tt.reason)
			}
			seen[d] = true
		}
		if tt.hi > 0 {
			assert.Greater(t, len(seen), 100, "random: %s", tt.reason)
		}
	}
}

// TestDNSResolverBackoffCancel: the context ending during the wait between
// rounds ends Resolve with its error, and no second round is asked; a
// deadline that would end the wait is not waited for, and the failure at
// hand is returned.
func TestDNSResolverBackoffCancel(t *testing.T) {
	var hits atomic.Int32
	servfail := rcodeServer(t, dns.RcodeServerFailure, &hits)
	r := &DNSResolver{Servers: []string{servfail}, Timeout: 8 * time.Second, Attempts: 2} // waits 1 to 2 s before round 2
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(200*time.Millisecond, cancel)
	_, err := r.Resolve(ctx, "h.test.", dns.TypeA)
	require.ErrorIs(t, err, context.Canceled)
	assert.Equal(t, int32(1), hits.Load(), "the second round never started")

	// A deadline before the wait's end: no wait at all, and the failure
	// at hand is the answer, not "deadline exceeded".
	hits.Store(0)
	dctx, dcancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
	defer dcancel()
	m, err := r.Resolve(dctx, "h.test.", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, dns.RcodeServerFailure, m.Rcode, "the SERVFAIL of the first round")
	assert.Equal(t, int32(1), hits.Load(), "the second round never started")
}

// TestDNSResolverOversizedDatagram: a server that ignores the advertised
// EDNS0 size and sends a datagram larger than the read buffer: the cut
// datagram cannot be read, so the question is asked again over TCP.
func TestDNSResolverOversizedDatagram(t *testing.T) {
	var tcp atomic.Int32
	addr := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		if _, udp := w.RemoteAddr().(*net.UDPAddr); !udp {
			tcp.Add(1)
		}
		m := new(dns.Msg)
		m.SetReply(req)
		for i := range 300 { // about 4.8 kB, compressed
			m.Answer = append(m.Answer, &dns.A{Hdr: dns.RR_Header{Name: req.Question[0].Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
				A: net.IPv4(192, 0, byte(i>>8), byte(i))})
		}
		m.Compress = true
		require.Greater(t, m.Len(), udpReadSize)
		_ = w.WriteMsg(m) // over UDP too, uncut: miekg/dns truncates only when asked
	})
	m, err := (&DNSResolver{Servers: []string{addr}, Timeout: 2 * time.Second, Attempts: 1}).Resolve(t.Context(), "big.test.", dns.TypeA)
	require.NoError(t, err)
	assert.Len(t, m.Answer, 300)
	assert.Equal(t, int32(1), tcp.Load(), "asked again over TCP")
}

// TestDNSResolverParsesOnce: the Servers are parsed on first use and the
// parse is kept; a new Servers slice is parsed again.
func TestDNSResolverParsesOnce(t *testing.T) {
	r := &DNSResolver{Servers: []string{"192.0.2.53", "[2001:db8::53]:5353", "ns.example"}}
	p := r.servers()
	assert.Same(t, p, r.servers(), "parsed once")
	assert.Equal(t, []string{"192.0.2.53:53", "[2001:db8::53]:5353", "ns.example:53"}, p.strs)
	assert.Equal(t, "192.0.2.53:53", p.addrs[0].udp.String())
	assert.Equal(t, "[2001:db8::53]:5353", p.addrs[1].udp.String())
	assert.Nil(t, p.addrs[2].udp, "a name is dialed by name")
	r.Servers = []string{"198.51.100.1"}
	assert.Equal(t, []string{"198.51.100.1:53"}, r.servers().strs, "a new slice is parsed again")
}

// BenchmarkDNSResolverExchange is one question and its answer over UDP to a
// loopback server: the client's CPU and allocations per exchange (the
// server's are in the same process, and counted too).
func BenchmarkDNSResolverExchange(b *testing.B) {
	addr := serveDNS(b, func(w dns.ResponseWriter, req *dns.Msg) {
		writeReply(w, req, 0, req.Question[0].Name+" 60 IN A 192.0.2.1")
	})
	r := &DNSResolver{Servers: []string{addr}, Timeout: 2 * time.Second, Attempts: 1}
	ctx := context.Background()
	b.ReportAllocs()
	// CPU time, not wall time, is what a busy shared machine does not
	// distort: user+system of the whole process (client and server).
	var before, after syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	for b.Loop() {
		if _, err := r.Resolve(ctx, "h.test.", dns.TypeA); err != nil {
			b.Fatal(err)
		}
	}
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	cpu := time.Duration(after.Utime.Nano() + after.Stime.Nano() - before.Utime.Nano() - before.Stime.Nano())
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
}

// TestRouteErrorAsOpError: a route that fails because the DNS server's port
// is closed unwraps, through the *Error, to the *net.OpError of the read
// (issue 9, item 7), and is still ErrTemporary.
func TestRouteErrorAsOpError(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := pc.LocalAddr().String()
	require.NoError(t, pc.Close()) // ICMP port unreachable: ECONNREFUSED on read
	r := &Router{Resolver: &DNSResolver{Servers: []string{closed}, Timeout: time.Second, Attempts: 1}}
	_, err = r.Route(t.Context(), "example.com")
	require.ErrorIs(t, err, ErrTemporary)
	assert.True(t, IsTemporary(err))
	var opErr *net.OpError
	require.ErrorAs(t, err, &opErr, "errors.As reaches the cause: %v", err)
	assert.Equal(t, "udp", opErr.Net)
}
