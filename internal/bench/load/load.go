package main

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mxroute-go/mxroute"
)

// config is what to measure.
type config struct {
	Domains  int   // distinct domains routed per run
	InFlight []int // routes in flight at once, one level per row
	Reps     int   // runs per level, alternating levels
	Hosts    int   // dual-stack MX hosts per domain
	RTT      time.Duration
	Timeout  time.Duration // DNSResolver.Timeout
	Attempts int           // DNSResolver.Attempts
	Entries  int           // Cache.MaxEntries (0: its default, 10,000)
	Bytes    int           // Cache.MaxBytes (0: its default, 8 MiB)
}

// result is one run.
type result struct {
	inFlight   int
	elapsed    time.Duration
	failed     int
	errs       map[string]int // error messages of failed routes, with a count
	peakFDs    int            // open file descriptors above the start: sockets
	peakRSS    int64          // VmHWM, bytes
	heapAfter  int64          // live heap after the run and a GC: the Cache and pooled buffers, bytes
	cpu        time.Duration  // the client's user+system time
	drops      int64          // datagrams the server's kernel socket dropped
	dropsKnown bool
}

// run measures and writes the report to w.
func run(ctx context.Context, cfg config, w io.Writer) error {
	srv, err := startServer(cfg.Hosts, cfg.RTT)
	if err != nil {
		return err
	}
	defer srv.stop()
	fmt.Fprintf(w, "%d distinct domains (%d dual-stack MX hosts each: %d questions a route) per run, through one Cache{MaxEntries: %d} and one DNSResolver{Timeout: %v, Attempts: %d}\n",
		cfg.Domains, cfg.Hosts, 1+2*cfg.Hosts, cfg.Entries, cfg.Timeout, cfg.Attempts)
	fmt.Fprintf(w, "server: miekg/dns in a separate process on %s, kernel default receive buffer, answers delayed by %v; %d CPUs, GOMAXPROCS %d\n\n",
		srv.addr, cfg.RTT, runtime.NumCPU(), runtime.GOMAXPROCS(0))
	fmt.Fprintf(w, "%-9s %-4s %-9s %-7s %-13s %-14s %-15s %-13s %s\n", "in-flight", "rep", "routes/s", "failed", "peak sockets", "peak RSS MiB", "CPU µs/route", "server drops", "heap after MiB")
	var all []result
	for rep := 1; rep <= cfg.Reps; rep++ {
		for _, n := range cfg.InFlight {
			r, err := once(ctx, cfg, srv, n)
			if err != nil {
				return err
			}
			all = append(all, r)
			drops := "?"
			if r.dropsKnown {
				drops = strconv.FormatInt(r.drops, 10)
			}
			fmt.Fprintf(w, "%-9d %-4d %-9.0f %-7d %-13d %-14.1f %-15.1f %-13s %.1f\n", n, rep, float64(cfg.Domains)/r.elapsed.Seconds(), r.failed,
				r.peakFDs, float64(r.peakRSS)/(1<<20), float64(r.cpu.Microseconds())/float64(cfg.Domains), drops, float64(r.heapAfter)/(1<<20))
		}
	}
	fmt.Fprintf(w, "\nmedians over %d reps:\n", cfg.Reps)
	for _, n := range cfg.InFlight {
		var rs []result
		for _, r := range all {
			if r.inFlight == n {
				rs = append(rs, r)
			}
		}
		med := func(f func(result) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		failed := 0
		for _, r := range rs {
			failed += r.failed
		}
		fmt.Fprintf(w, "  %5d in flight: %.0f routes/s, %d failed in all, %.0f peak sockets, %.1f MiB peak RSS, %.1f CPU µs/route\n", n,
			med(func(r result) float64 { return float64(cfg.Domains) / r.elapsed.Seconds() }), failed,
			med(func(r result) float64 { return float64(r.peakFDs) }),
			med(func(r result) float64 { return float64(r.peakRSS) / (1 << 20) }),
			med(func(r result) float64 { return float64(r.cpu.Microseconds()) / float64(cfg.Domains) }))
	}
	errs := map[string]int{}
	for _, r := range all {
		for e, c := range r.errs {
			errs[e] += c
		}
	}
	if len(errs) > 0 {
		fmt.Fprintf(w, "\nerrors of failed routes (count, message with the domain's digits as #):\n")
		keys := slices.Collect(func(yield func(string) bool) {
			for k := range errs {
				if !yield(k) {
					return
				}
			}
		})
		slices.SortFunc(keys, func(a, b string) int { return cmp.Or(cmp.Compare(errs[b], errs[a]), strings.Compare(a, b)) })
		for i, k := range keys {
			if i == 10 {
				fmt.Fprintf(w, "  ... %d more kinds\n", len(keys)-10)
				break
			}
			fmt.Fprintf(w, "  %6d  %s\n", errs[k], k)
		}
	}
	return nil
}

// once routes cfg.Domains domains, n at a time, through a fresh Cache.
func once(ctx context.Context, cfg config, srv *server, n int) (result, error) {
	res := result{inFlight: n, errs: map[string]int{}}
	runtime.GC()
	debug.FreeOSMemory()
	resetPeakRSS()
	fd0 := openFDs()
	drops0, dropsErr := srv.drops()

	cache := &mxroute.Cache{Resolver: &mxroute.DNSResolver{Servers: []string{srv.addr}, Timeout: cfg.Timeout, Attempts: cfg.Attempts}, MaxEntries: cfg.Entries, MaxBytes: cfg.Bytes}
	r := &mxroute.Router{Resolver: cache}

	var peakFDs atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		t := time.NewTicker(2 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			if f := int64(openFDs() - fd0); f > peakFDs.Load() {
				peakFDs.Store(f)
			}
		}
	}()

	var ru0, ru1 syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	var mu sync.Mutex
	var next atomic.Int64
	start := time.Now()
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.Domains) {
					return
				}
				if _, err := r.Route(ctx, "d"+strconv.FormatInt(i, 10)+".load.test"); err != nil {
					mu.Lock()
					res.failed++
					res.errs[digits(err.Error())]++
					mu.Unlock()
				}
			}
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	close(stop)
	<-sampled
	res.cpu = time.Duration(ru1.Utime.Nano() + ru1.Stime.Nano() - ru0.Utime.Nano() - ru0.Stime.Nano())
	res.peakFDs = int(peakFDs.Load())
	res.peakRSS = peakRSS()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	res.heapAfter = int64(ms.HeapAlloc) // what the run leaves: the Cache, pooled buffers
	runtime.KeepAlive(cache)
	if drops1, err := srv.drops(); err == nil && dropsErr == nil {
		res.drops, res.dropsKnown = drops1-drops0, true
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	return res, nil
}

// digits replaces runs of digits by "#", so that the errors of many domains
// group into a few kinds.
func digits(s string) string {
	var b strings.Builder
	prev := false
	for _, c := range s {
		d := c >= '0' && c <= '9'
		if d && !prev {
			b.WriteByte('#')
		}
		if !d {
			b.WriteRune(c)
		}
		prev = d
	}
	return b.String()
}

// openFDs counts this process's open file descriptors: beyond the few it
// starts with, the sockets of DNS exchanges.
func openFDs() int {
	f, err := os.Open("/proc/self/fd")
	if err != nil {
		return 0
	}
	defer f.Close()
	names, _ := f.Readdirnames(-1)
	return len(names) - 1 // the directory itself
}

// resetPeakRSS resets VmHWM (Linux: "5" to clear_refs), so that each run
// reports its own peak.
func resetPeakRSS() { _ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0) }

// peakRSS returns VmHWM from /proc/self/status, in bytes.
func peakRSS() int64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}
