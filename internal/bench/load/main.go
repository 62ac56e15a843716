// Command load measures mxroute under load: many distinct domains routed
// at once through one Cache and one DNSResolver, against a miekg/dns server
// running in a separate process (this program, re-executed) with the
// kernel's default socket receive buffer, as a stock local resolver has.
//
// For each level of routes in flight it prints, per run: routes per second,
// the routes that failed (their errors grouped at the end), the peak of open
// sockets (file descriptors above the start), the client's peak RSS
// (VmHWM, reset before each run), the client's CPU time per route, and the
// datagrams the server's socket dropped (/proc/net/udp), and the live heap
// left after the run and a GC (the Cache's answers and what sync.Pools still
// hold: part of the peak). Levels alternate
// within each repetition; the medians follow.
//
//	go run ./internal/bench/load [-domains 20000] [-inflight 100,1000,2000] [-reps 3] [-hosts 2] [-rtt 0] [-timeout 2s] [-attempts 2] [-cache-entries 0] [-cpuprofile FILE]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"time"
)

func main() {
	if os.Getenv(serveEnv) != "" {
		if err := serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "load server:", err)
			os.Exit(1)
		}
		return
	}
	cfg := config{}
	var levels string
	flag.IntVar(&cfg.Domains, "domains", 20000, "distinct domains routed per run")
	flag.StringVar(&levels, "inflight", "100,1000,2000", "routes in flight at once, comma-separated levels")
	flag.IntVar(&cfg.Reps, "reps", 3, "runs per level")
	flag.IntVar(&cfg.Hosts, "hosts", 2, "dual-stack MX hosts per domain")
	flag.DurationVar(&cfg.RTT, "rtt", 0, "delay of every DNS answer")
	flag.DurationVar(&cfg.Timeout, "timeout", 2*time.Second, "DNSResolver.Timeout")
	flag.IntVar(&cfg.Attempts, "attempts", 2, "DNSResolver.Attempts")
	flag.IntVar(&cfg.Entries, "cache-entries", 0, "Cache.MaxEntries (0: the Cache's default, 10,000)")
	flag.IntVar(&cfg.Bytes, "cache-bytes", 0, "Cache.MaxBytes (0: the Cache's default, 8 MiB)")
	cpuprofile := flag.String("cpuprofile", "", "write the client's CPU profile to this file")
	flag.Parse()
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "load:", err)
			os.Exit(1)
		}
		defer pprof.StopCPUProfile()
	}
	for _, s := range strings.Split(levels, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "load: bad -inflight value %q\n", s)
			os.Exit(64)
		}
		cfg.InFlight = append(cfg.InFlight, n)
	}
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		pprof.StopCPUProfile()
		fmt.Fprintln(os.Stderr, "load:", err)
		os.Exit(1)
	}
}
