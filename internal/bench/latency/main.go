// Command latency measures how fast mxroute routes a domain when every DNS
// answer costs a round-trip, against the standard library's way.
//
// It starts a DNS server on loopback that delays every answer by a fixed
// RTT and serves domains with 1, 5, 10, 20 and 30 dual-stack MX hosts. For each, it
// measures, alternating and over many runs, (a) Router.Route without a
// cache, (b) the time to the first target of Router.Targets, and (c) the
// standard library: net.Resolver (PreferGo, dialing the same server)
// LookupMX, then LookupIPAddr for each host in order. It prints the medians
// in milliseconds and in RTTs, and the ratio stdlib/mxroute.
//
// Then it routes many distinct domains concurrently through one
// mxroute.Cache against the same server and reports the time taken, the
// peak number of goroutines and that none is left afterwards.
//
//	go run ./internal/bench/latency [-rtt 20ms] [-runs 31] [-hosts 1,5,10,20,30] [-domains 10000] [-parallel 200]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	var cfg config
	var hosts string
	flag.DurationVar(&cfg.RTT, "rtt", 20*time.Millisecond, "delay of every DNS answer")
	flag.IntVar(&cfg.Runs, "runs", 31, "measurements per domain and method (the median is printed)")
	flag.StringVar(&hosts, "hosts", "1,5,10,20,30", "MX hosts per measured domain, comma-separated")
	flag.IntVar(&cfg.Domains, "domains", 10000, "distinct domains routed concurrently through a Cache (0: skip)")
	flag.IntVar(&cfg.Parallel, "parallel", 200, "routes in flight at once in the concurrent run")
	flag.Parse()
	for _, s := range strings.Split(hosts, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 200 {
			fmt.Fprintf(os.Stderr, "latency: bad -hosts value %q\n", s)
			os.Exit(64)
		}
		cfg.Hosts = append(cfg.Hosts, n)
	}
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "latency:", err)
		os.Exit(1)
	}
}
