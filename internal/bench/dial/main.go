// Command dial measures how soon mxroute's Dialer has a greeted SMTP
// connection when a mail host's address blackholes SYNs, against the
// sequential way (what mx-connect and code on the standard library do).
//
// Mail hosts have documentation addresses in a zone; a DialContext hook maps
// them to loopback: the live ones to an SMTP greeter, the refused ones to a
// closed port, the blackholed ones to a listener whose full accept queue
// makes the kernel drop every SYN (internal/smtptest.Blackhole), so that a
// connect there waits for its timeout as it would behind a dropping
// firewall. Every connect that the kernel answers, or refuses, comes back
// from the hook one RTT late, and the server writes its greeting 2 RTT
// after it accepted: 2 RTT from the SYN to the 220, as over a network.
//
// The backoff part (backoff.go) measures Dialer.Backoff: -messages
// sequential deliveries to the domain whose MX 10 blackholes, Stagger 0,
// with and without the memory of unreachable addresses (MemoryBackoff,
// SQLBackoff over SQLite and, with -postgres, over a PostgreSQL started by
// internal/pgtest), against a healthy domain.
//
// The TLS part (tls.go) measures the time to a verified TLS session under
// DANE: Dialer.StartTLS against the caller doing EHLO and STARTTLS by hand
// and dialling again, without the failed address, when TLS fails, with
// every DNS answer, connect and SMTP or TLS reply one RTT away, printed
// against the floor (route 2 RTT, connect, greeting, EHLO, STARTTLS, a TLS
// 1.3 handshake).
//
// Contenders, on each scenario: the Dialer with Stagger 0 and with
// -stagger, each with Family AnyFamily and Interleave, and the sequential
// way: Router.Route, then each target in turn, a connect with the same
// ConnectTimeout and a greeting read with net/textproto. The fast
// contenders are measured alternating, one at a time; the runs that wait
// for a timeout (tens of seconds each) are all started together, since they
// spend their time waiting on timers.
//
//	go run ./internal/bench/dial [-rtt 20ms] [-stagger 250ms] [-connect-timeout 30s] [-runs 11] [-part greeting|tls|backoff] [-messages 200] [-postgres=true]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"
)

func main() {
	var cfg config
	flag.DurationVar(&cfg.RTT, "rtt", 20*time.Millisecond, "simulated round-trip time of a connect and of a greeting")
	flag.DurationVar(&cfg.Stagger, "stagger", 250*time.Millisecond, "the Dialer's Stagger for the staggered contenders")
	flag.DurationVar(&cfg.ConnectTimeout, "connect-timeout", 30*time.Second, "ConnectTimeout of every contender")
	flag.IntVar(&cfg.Runs, "runs", 11, "measurements per scenario and contender (the median is printed)")
	flag.StringVar(&cfg.Part, "part", "", `"greeting", "tls" or "backoff" to measure only that part; "": all`)
	flag.IntVar(&cfg.Messages, "messages", 200, "the backoff part's sequential deliveries per contender")
	flag.BoolVar(&cfg.Postgres, "postgres", true, "the backoff part measures SQLBackoff over PostgreSQL too (internal/pgtest)")
	flag.Parse()
	if cfg.Runs < 1 || cfg.RTT < 0 || cfg.Stagger <= 0 || cfg.ConnectTimeout <= 0 || cfg.Messages < 2 ||
		cfg.Part != "" && cfg.Part != "greeting" && cfg.Part != "tls" && cfg.Part != "backoff" {
		fmt.Fprintln(os.Stderr, `dial: -runs, -stagger and -connect-timeout must be positive, -messages at least 2, -rtt not negative, -part "greeting", "tls", "backoff" or ""`)
		os.Exit(64)
	}
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "dial:", err)
		os.Exit(1)
	}
}
