package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"github.com/mxroute-go/mxroute/internal/dnstest"

	"github.com/mxroute-go/mxroute"
)

// config is what to measure.
type config struct {
	RTT      time.Duration
	Runs     int
	Hosts    []int // MX hosts of each measured domain
	Domains  int   // distinct domains of the concurrent run; 0: skip it
	Parallel int   // routes in flight at once in the concurrent run
}

// server is a loopback DNS server whose every answer takes rtt.
type server struct {
	addr    string
	rtt     time.Duration
	queries atomic.Int64
	stop    func()
}

// The zone: "h<N>.bench." has N MX hosts "mx<i>.h<N>.bench." at
// preferences 10, 20, ...; so has "s10.bench.", whose host "mx10" never
// answers; "d<i>.many.bench." has two; every name starting with "mx" has
// one A and one AAAA record.
func (s *server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	s.queries.Add(1)
	time.Sleep(s.rtt)
	m := new(dns.Msg)
	m.SetReply(req)
	m.Authoritative, m.RecursionAvailable = true, true // Go's resolver wants AA or RA
	// As a validating resolver answers for a signed zone: a DNSResolver
	// with DNSSEC believes it from loopback (DANE), one without clears it.
	m.AuthenticatedData = true
	if len(req.Question) != 1 {
		m.Rcode = dns.RcodeFormatError
		_ = w.WriteMsg(m)
		return
	}
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	hdr := func(t uint16) dns.RR_Header {
		return dns.RR_Header{Name: q.Name, Rrtype: t, Class: dns.ClassINET, Ttl: 3600}
	}
	labels := dns.SplitDomainName(name)
	switch {
	case len(labels) == 3 && labels[1] == "s10" && labels[0] == "mx10":
		return // the silent host: no answer at all
	case strings.HasPrefix(name, "_25._tcp.mx") && q.Qtype == dns.TypeTLSA:
		// Every mail host has a DANE-EE record (its digest matches no
		// real key: only the lookup is measured).
		m.Answer = append(m.Answer, &dns.TLSA{Hdr: hdr(dns.TypeTLSA), Usage: 3, Selector: 1, MatchingType: 1,
			Certificate: strings.Repeat("ab", 32)})
	case labels[0] == "_mta-sts" && q.Qtype == dns.TypeTXT:
		m.Answer = append(m.Answer, &dns.TXT{Hdr: hdr(dns.TypeTXT), Txt: []string{"v=STSv1; id=1;"}})
	case strings.HasPrefix(name, "mx"):
		i, _ := strconv.Atoi(strings.TrimPrefix(labels[0], "mx"))
		switch q.Qtype {
		case dns.TypeA:
			m.Answer = append(m.Answer, &dns.A{Hdr: hdr(dns.TypeA), A: net.IPv4(198, 51, byte(i>>8), byte(i))})
		case dns.TypeAAAA:
			ip := net.ParseIP(fmt.Sprintf("2001:db8::%x", i))
			m.Answer = append(m.Answer, &dns.AAAA{Hdr: hdr(dns.TypeAAAA), AAAA: ip})
		}
	case len(labels) >= 2 && labels[len(labels)-1] == "bench":
		n := 2
		if labels[0][0] == 'h' || labels[0][0] == 's' {
			n, _ = strconv.Atoi(labels[0][1:])
		}
		if q.Qtype == dns.TypeMX {
			for i := 1; i <= n; i++ {
				m.Answer = append(m.Answer, &dns.MX{Hdr: hdr(dns.TypeMX), Preference: uint16(10 * i),
					Mx: "mx" + strconv.Itoa(i) + "." + name})
			}
		}
	default:
		m.Rcode = dns.RcodeNameError
	}
	if len(m.Answer) == 0 && m.Rcode == dns.RcodeSuccess {
		m.Ns = []dns.RR{&dns.SOA{Hdr: dns.RR_Header{Name: "bench.", Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: 3600},
			Ns: "ns.bench.", Mbox: "h.bench.", Serial: 1, Refresh: 3600, Retry: 600, Expire: 86400, Minttl: 300}}
	}
	m.Compress = true
	_ = w.WriteMsg(m)
}

// startServer serves UDP and TCP on one loopback port.
func startServer(rtt time.Duration) (*server, error) {
	pc, ln, err := dnstest.Listen()
	if err != nil {
		return nil, err
	}
	// A burst of thousands of questions overflows the default socket
	// buffer on a busy machine: a dropped question costs a timeout.
	_ = pc.(*net.UDPConn).SetReadBuffer(8 << 20)
	s := &server{addr: pc.LocalAddr().String(), rtt: rtt}
	srvs := []*dns.Server{{PacketConn: pc, Handler: s}, {Listener: ln, Handler: s}}
	for _, srv := range srvs {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
	}
	s.stop = func() {
		for _, srv := range srvs {
			_ = srv.Shutdown()
		}
	}
	return s, nil
}

// run measures and writes the report to w.
func run(ctx context.Context, cfg config, w io.Writer) error {
	srv, err := startServer(cfg.RTT)
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Fprintf(w, "loopback DNS server, every answer delayed by RTT = %v; median of %d runs, alternating (a), (b), (c)\n", cfg.RTT, cfg.Runs)
	fmt.Fprintf(w, "(a) Router.Route, no cache  (b) first target of Router.Targets  (c) stdlib LookupMX + LookupIPAddr per host\n\n")
	fmt.Fprintf(w, "%-6s %-22s %-22s %-22s %s\n", "hosts", "(a) Route", "(b) first target", "(c) stdlib", "stdlib/Route")
	for _, n := range cfg.Hosts {
		if err := measure(ctx, cfg, srv, n, w); err != nil {
			return err
		}
	}
	if err := silent(ctx, cfg, srv, w); err != nil {
		return err
	}
	if err := tlsPolicies(ctx, cfg, srv, w); err != nil {
		return err
	}
	if cfg.Domains > 0 {
		return concurrent(ctx, cfg, srv, w)
	}
	return nil
}

// measure prints one row: the medians of the three methods for the domain
// with n hosts.
func measure(ctx context.Context, cfg config, srv *server, n int, w io.Writer) error {
	domain := "h" + strconv.Itoa(n) + ".bench"
	r := &mxroute.Router{Resolver: &mxroute.DNSResolver{Servers: []string{srv.addr}, Timeout: 10*cfg.RTT + time.Second, Attempts: 1}}
	std := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, srv.addr)
	}}
	methods := []func() error{
		func() error { // (a)
			rt, err := r.Route(ctx, domain)
			if err == nil && len(rt.Hosts) != n {
				err = fmt.Errorf("route has %d hosts, want %d", len(rt.Hosts), n)
			}
			return err
		},
		func() error { // (b)
			for _, err := range r.Targets(ctx, domain) {
				return err // the first target (or the error) is all we time
			}
			return errors.New("no target")
		},
		func() error { // (c)
			mxs, err := std.LookupMX(ctx, domain+".")
			if err != nil {
				return err
			}
			for _, mx := range mxs {
				if _, err := std.LookupIPAddr(ctx, mx.Host); err != nil {
					return err
				}
			}
			if len(mxs) != n {
				return fmt.Errorf("stdlib: %d MX, want %d", len(mxs), n)
			}
			return nil
		},
	}
	times := make([][]time.Duration, len(methods))
	for range cfg.Runs {
		for i, m := range methods {
			start := time.Now()
			if err := m(); err != nil {
				return fmt.Errorf("%s, method %c: %w", domain, 'a'+i, err)
			}
			times[i] = append(times[i], time.Since(start))
		}
	}
	med := make([]time.Duration, len(times))
	cells := make([]string, len(times))
	for i, ts := range times {
		slices.Sort(ts)
		med[i] = ts[len(ts)/2]
		cells[i] = fmt.Sprintf("%.1f ms (%.2f RTT)", ms(med[i]), float64(med[i])/float64(cfg.RTT))
	}
	fmt.Fprintf(w, "%-6d %-22s %-22s %-22s %.2f\n", n, cells[0], cells[1], cells[2], float64(med[2])/float64(med[0]))
	return nil
}

// silent prints the time to the first target of a domain with ten hosts
// whose last one never answers: Targets need not wait for it. (Route and
// the standard library wait for their timeouts; they are not timed.)
func silent(ctx context.Context, cfg config, srv *server, w io.Writer) error {
	r := &mxroute.Router{Resolver: &mxroute.DNSResolver{Servers: []string{srv.addr}, Timeout: 10*cfg.RTT + time.Second, Attempts: 1}}
	var ts []time.Duration
	for range cfg.Runs {
		start := time.Now()
		for t, err := range r.Targets(ctx, "s10.bench") {
			if err != nil {
				return fmt.Errorf("s10.bench: %w", err)
			}
			if t.Host != "mx1.s10.bench" {
				return fmt.Errorf("s10.bench: first target %v", t)
			}
			break // leaving the loop cancels the silent host's lookup
		}
		ts = append(ts, time.Since(start))
	}
	slices.Sort(ts)
	m := ts[len(ts)/2]
	fmt.Fprintf(w, "%-6s %-22s %-22s %s\n", "10*", "-", fmt.Sprintf("%.1f ms (%.2f RTT)", ms(m), float64(m)/float64(cfg.RTT)), "-")
	fmt.Fprintf(w, "* the last of the ten hosts never answers\n")
	return nil
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// concurrent routes cfg.Domains distinct domains through one Cache,
// cfg.Parallel at a time, sampling the goroutine count, and checks that no
// goroutine of the library is left afterwards.
func concurrent(ctx context.Context, cfg config, srv *server, w io.Writer) error {
	runtime.GC()
	base := runtime.NumGoroutine()
	cache := &mxroute.Cache{Resolver: &mxroute.DNSResolver{Servers: []string{srv.addr}, Timeout: 10*cfg.RTT + 2*time.Second, Attempts: 2}}
	r := &mxroute.Router{Resolver: cache}

	var peak atomic.Int64
	sampled := make(chan struct{})
	stopSampling := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stopSampling:
				return
			case <-t.C:
			}
			if g := int64(runtime.NumGoroutine() - base - 1); g > peak.Load() { // minus this sampler
				peak.Store(g)
			}
		}
	}()

	q0 := srv.queries.Load()
	var failed atomic.Int64
	var firstErr atomic.Value
	start := time.Now()
	var wg sync.WaitGroup
	next := atomic.Int64{}
	for range cfg.Parallel {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.Domains) {
					return
				}
				_, err := r.Route(ctx, "d"+strconv.FormatInt(i, 10)+".many.bench")
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stopSampling)
	<-sampled

	// Whatever the library started must be gone: poll briefly for
	// goroutines that are returning.
	left := runtime.NumGoroutine() - base
	for i := 0; i < 200 && left > 0; i++ {
		time.Sleep(5 * time.Millisecond)
		left = runtime.NumGoroutine() - base
	}
	fmt.Fprintf(w, "\n%d distinct domains (2 dual-stack MX hosts each) routed through one Cache, %d at a time, RTT %v:\n", cfg.Domains, cfg.Parallel, cfg.RTT)
	fmt.Fprintf(w, "  elapsed %.0f ms (%.0f routes/s), %d queries, %d failed, cache holds %d answers\n",
		ms(elapsed), float64(cfg.Domains)/elapsed.Seconds(), srv.queries.Load()-q0, failed.Load(), cache.Len())
	// Per route in flight: its caller, at most four lookup workers (A and
	// AAAA of two hosts), one Cache query each (or one for the MX RRset),
	// and the loopback server's handler for each of those queries.
	fmt.Fprintf(w, "  peak goroutines above the start: %d, for %d routes in flight (%.1f per route, the server's handlers included; at most 13 expected)\n",
		peak.Load(), cfg.Parallel, float64(peak.Load())/float64(cfg.Parallel))
	fmt.Fprintf(w, "  goroutines left afterwards: %d\n", max(left, 0))
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d routes failed, first: %v", n, firstErr.Load())
	}
	if left > 0 {
		return fmt.Errorf("%d goroutines left after the concurrent run", left)
	}
	return nil
}
