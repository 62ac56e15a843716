package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/internal/pgtest"
)

// The backoff part: Dialer.Backoff, the memory of unreachable addresses
// (RFC 5321, Section 4.5.4.1), over -messages sequential deliveries to
// blackhole.bench (MX 10 drops SYNs, MX 20 answers), Stagger 0: without
// the memory every delivery waits ConnectTimeout for MX 10; with it only
// the first does, and the others go to MX 20 at once. The healthy case is
// healthy.bench, whose MX 10 answers, without a memory.
//
// Each contender's deliveries are sequential, one Dial after the other;
// the contenders run side by side, delivery by delivery (the i-th of each
// start together, the next when all have ended), so that they share the
// machine's load alike. The deliveries without memory are all alike and
// independent (nothing links one to the next), so they run at once: their
// mean is the same as one after the other, in ConnectTimeout instead of
// -messages times it.

// backoffContender is one way to deliver the messages.
type backoffContender struct {
	name   string
	domain string
	store  mxroute.BackoffStore // nil: no memory
}

// backoffResult is a contender's deliveries, in order.
type backoffResult struct {
	times []time.Duration
}

func (r backoffResult) mean(from int) time.Duration {
	if len(r.times) <= from {
		return 0
	}
	var sum time.Duration
	for _, d := range r.times[from:] {
		sum += d
	}
	return sum / time.Duration(len(r.times)-from)
}

// waited counts the deliveries that took longer than ConnectTimeout: those
// that waited for MX 10.
func (r backoffResult) waited(timeout time.Duration) int {
	n := 0
	for _, d := range r.times {
		if d >= timeout {
			n++
		}
	}
	return n
}

func runBackoff(ctx context.Context, cfg config, w io.Writer) error {
	b, err := start(cfg)
	if err != nil {
		return err
	}
	defer b.stop()

	contenders := []backoffContender{
		{name: "(h) healthy domain, no memory", domain: "healthy.bench"},
		{name: "(m) MemoryBackoff", domain: "blackhole.bench", store: &mxroute.MemoryBackoff{}},
	}
	dir, err := os.MkdirTemp("", "dial-backoff-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	lite, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "backoff.db")+"?_pragma=busy_timeout(60000)&_pragma=journal_mode(WAL)")
	if err != nil {
		return err
	}
	defer lite.Close()
	ls := &mxroute.SQLBackoff{DB: lite}
	if err := ls.Init(ctx); err != nil {
		return err
	}
	contenders = append(contenders, backoffContender{name: "(s) SQLBackoff, SQLite", domain: "blackhole.bench", store: ls})
	pgNote := "not measured (-postgres=false)"
	if cfg.Postgres {
		srv, err := pgtest.Run(pgtest.Config{Durable: true})
		if err != nil {
			pgNote = "not measured: " + err.Error()
		} else {
			defer srv.Stop()
			pg, err := sql.Open("pgx", srv.DSN)
			if err != nil {
				return err
			}
			defer pg.Close()
			ps := &mxroute.SQLBackoff{DB: pg}
			if err := ps.Init(ctx); err != nil {
				return err
			}
			var version string
			_ = pg.QueryRowContext(ctx, "SHOW server_version").Scan(&version)
			pgNote = "PostgreSQL " + version + " on loopback, fsync on"
			contenders = append(contenders, backoffContender{name: "(p) SQLBackoff, PostgreSQL", domain: "blackhole.bench", store: ps})
		}
	}
	deliver := func(c backoffContender) (time.Duration, error) {
		d := &mxroute.Dialer{Router: &mxroute.Router{Resolver: b.res}, DialContext: b.dial,
			ConnectTimeout: cfg.ConnectTimeout, Backoff: c.store}
		start := time.Now()
		conn, err := d.Dial(ctx, c.domain)
		took := time.Since(start)
		if err != nil {
			return 0, fmt.Errorf("%s: %w", c.name, err)
		}
		_, _ = io.WriteString(conn, "QUIT\r\n")
		_ = conn.Close()
		return took, nil
	}

	results := make([]backoffResult, len(contenders))
	var none backoffResult
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	// Without memory: every delivery at once (they are independent).
	for range cfg.Messages {
		wg.Go(func() {
			d, err := deliver(backoffContender{name: "(n) no memory", domain: "blackhole.bench"})
			mu.Lock()
			defer mu.Unlock()
			none.times = append(none.times, d)
			errs = append(errs, err)
		})
	}
	// The contenders side by side, each one delivery after the other.
	for i := range cfg.Messages {
		var round sync.WaitGroup
		for ci, c := range contenders {
			round.Go(func() {
				d, err := deliver(c)
				mu.Lock()
				defer mu.Unlock()
				results[ci].times = append(results[ci].times, d)
				errs = append(errs, err)
			})
		}
		round.Wait()
		if i == 0 {
			// The first deliveries have waited for ConnectTimeout by now,
			// as have those without memory: let those end first, so that
			// the rest do not share the machine with them.
			wg.Wait()
		}
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}

	timeout := cfg.ConnectTimeout
	fmt.Fprintf(w, "\ntime per delivery: %d sequential deliveries to blackhole.bench (MX 10 drops SYNs, MX 20 answers), Stagger 0, ConnectTimeout %v, simulated RTT %v (2 RTT from SYN to 220)\n",
		cfg.Messages, timeout, cfg.RTT)
	fmt.Fprintf(w, "(n): every delivery alone (they run at once); the others side by side, delivery by delivery; %s\n\n", pgNote)
	fmt.Fprintf(w, "%-34s %-10s %-10s %-16s %-16s %s\n", "contender", "first", "mean", "mean after first", "median after", "waited for MX 10")
	row := func(name string, r backoffResult) {
		after := slices.Clone(r.times[1:])
		fmt.Fprintf(w, "%-34s %-10s %-10s %-16s %-16s %d of %d\n", name, show(r.times[0]), show(r.mean(0)), show(r.mean(1)),
			show(median(after)), r.waited(timeout), len(r.times))
	}
	row("(n) no memory", none)
	for ci, c := range contenders {
		row(c.name, results[ci])
	}
	healthy := results[0].mean(1)
	fmt.Fprintln(w)
	for ci, c := range contenders[1:] {
		r := results[ci+1]
		extra := r.mean(1) - healthy
		fmt.Fprintf(w, "%s: mean %s, (n)/%s = %s; after the first, %+.2f ms (%+.2f RTT) from the healthy case: within 2 RTT: %s\n",
			c.name[:3], show(r.mean(0)), c.name[:3], ratio(none.mean(0), r.mean(0)),
			float64(extra)/float64(time.Millisecond), rtts(extra, cfg.RTT), yes(extra <= 2*cfg.RTT))
	}
	return nil
}

func rtts(d, rtt time.Duration) float64 {
	if rtt <= 0 {
		return 0
	}
	return float64(d) / float64(rtt)
}
