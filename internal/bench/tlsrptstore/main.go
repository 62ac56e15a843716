// Command tlsrptstore measures how many TLS session results per second
// writers can count into tlsrpt's SQLStore, and checks that none is lost:
// the target is 2,000 results/s from 8 writers into PostgreSQL.
//
// Each result is one Collector.Add, one upsert in its own transaction, as
// an MTA makes it after each session. The sessions are a mix a sender sees
// in a day: most succeed under an MTA-STS or DANE policy or none, a fifth
// fail with a result type, addresses and a host name, over -domains policy
// domains. PostgreSQL is started by internal/pgtest in a temporary
// directory on a loopback port, with its default durability (fsync and
// synchronous_commit on: every commit waits for its WAL flush) unless
// -durable=false; SQLite (modernc.org/sqlite, WAL, synchronous FULL, a busy
// timeout) is measured beside it for comparison. The stores are measured
// alternating, -runs times each, a fresh table per run; after each run the
// counters are summed and compared with the results written.
//
//	go run ./internal/bench/tlsrptstore [-writers 8] [-results 20000] [-runs 3] [-durable=true] [-sqlite=true]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
)

func main() {
	var cfg config
	flag.IntVar(&cfg.Writers, "writers", 8, "concurrent writers, each with its own connection")
	flag.IntVar(&cfg.Results, "results", 20000, "results written per run, by all writers together")
	flag.IntVar(&cfg.Runs, "runs", 3, "runs per store (the median is printed)")
	flag.IntVar(&cfg.Domains, "domains", 200, "policy domains the sessions go to")
	flag.BoolVar(&cfg.Durable, "durable", true, "PostgreSQL with fsync and synchronous_commit on (its defaults)")
	flag.BoolVar(&cfg.SQLite, "sqlite", true, "measure SQLite as well")
	flag.Parse()
	if cfg.Writers < 1 || cfg.Results < cfg.Writers || cfg.Runs < 1 || cfg.Domains < 1 {
		fmt.Fprintln(os.Stderr, "tlsrptstore: -writers, -runs and -domains must be positive, -results at least -writers")
		os.Exit(64)
	}
	if err := run(context.Background(), cfg, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tlsrptstore:", err)
		os.Exit(1)
	}
}
