package main

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"text/tabwriter"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"

	"github.com/mxroute-go/mxroute/internal/pgtest"
	"github.com/mxroute-go/mxroute/tlsrpt"
)

type config struct {
	Writers, Results, Runs, Domains int
	Durable, SQLite                 bool
}

// contender is a store measured: a name and its open database.
type contender struct {
	name string
	db   *sql.DB
}

// result is one run of one contender.
type result struct {
	elapsed    time.Duration
	perSecond  float64
	p50, p99   time.Duration // per Add
	counted    int64         // the sum of the counters afterwards
	writeFails int64
}

func run(ctx context.Context, cfg config, out io.Writer) error {
	srv, err := pgtest.Run(pgtest.Config{Durable: cfg.Durable})
	if err != nil {
		return err
	}
	defer srv.Stop()
	pg, err := sql.Open("pgx", srv.DSN)
	if err != nil {
		return err
	}
	defer pg.Close()
	pg.SetMaxOpenConns(cfg.Writers)
	pg.SetMaxIdleConns(cfg.Writers)
	contenders := []contender{{"postgresql", pg}}
	if cfg.SQLite {
		dir, err := os.MkdirTemp("", "tlsrptstore-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		lite, err := sql.Open("sqlite", "file:"+filepath.Join(dir, "bench.db")+"?_pragma=busy_timeout(60000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
		if err != nil {
			return err
		}
		defer lite.Close()
		lite.SetMaxOpenConns(cfg.Writers)
		contenders = append(contenders, contender{"sqlite", lite})
	}
	var version string
	_ = pg.QueryRowContext(ctx, "SHOW server_version").Scan(&version)
	durable := "fsync and synchronous_commit on (defaults)"
	if !cfg.Durable {
		durable = "fsync, synchronous_commit, full_page_writes off"
	}
	fmt.Fprintf(out, "%d results per run from %d writers (one Collector.Add, one upsert each) over %d policy domains; PostgreSQL %s on loopback, %s\n\n",
		cfg.Results, cfg.Writers, cfg.Domains, version, durable)

	sessions := makeSessions(cfg.Domains)
	results := map[string][]result{}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "store\trun\tseconds\tresults/s\tp50 per Add\tp99 per Add\tcounted\tlost\t")
	for i := range cfg.Runs {
		for _, c := range contenders {
			r, err := measure(ctx, cfg, c, sessions, i)
			if err != nil {
				return fmt.Errorf("%s run %d: %w", c.name, i+1, err)
			}
			results[c.name] = append(results[c.name], r)
			fmt.Fprintf(tw, "%s\t%d\t%.2f\t%.0f\t%v\t%v\t%d\t%d\t\n", c.name, i+1, r.elapsed.Seconds(), r.perSecond,
				r.p50.Round(time.Microsecond), r.p99.Round(time.Microsecond), r.counted, int64(cfg.Results)-r.counted)
		}
	}
	tw.Flush()
	fmt.Fprintf(out, "\nmedians over %d runs:\n", cfg.Runs)
	for _, c := range contenders {
		rs := results[c.name]
		rates := make([]float64, len(rs))
		lost := int64(0)
		for i, r := range rs {
			rates[i] = r.perSecond
			lost += int64(cfg.Results) - r.counted
		}
		slices.Sort(rates)
		fmt.Fprintf(out, "  %-10s %6.0f results/s, %d lost in all\n", c.name, rates[len(rates)/2], lost)
	}
	pgRates := results["postgresql"]
	med := make([]float64, len(pgRates))
	lost := int64(0)
	for i, r := range pgRates {
		med[i] = r.perSecond
		lost += int64(cfg.Results) - r.counted
	}
	slices.Sort(med)
	ok := med[len(med)/2] >= 2000 && lost == 0
	fmt.Fprintf(out, "target: 2000 results/s from %d writers into PostgreSQL with no lost count: %v (%.0f results/s, %d lost)\n",
		cfg.Writers, yes(ok), med[len(med)/2], lost)
	return nil
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// measure writes cfg.Results sessions into a fresh table and sums them back.
func measure(ctx context.Context, cfg config, c contender, sessions []tlsrpt.Session, run int) (result, error) {
	store := &tlsrpt.SQLStore{DB: c.db, Table: fmt.Sprintf("bench_%d", run)}
	if err := store.Init(ctx); err != nil {
		return result{}, err
	}
	col := &tlsrpt.Collector{Store: store}
	var next atomic.Int64
	var fails atomic.Int64
	lat := make([][]time.Duration, cfg.Writers)
	var wg sync.WaitGroup
	start := time.Now()
	for w := range cfg.Writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(cfg.Results) {
					return
				}
				t0 := time.Now()
				if err := col.Add(ctx, sessions[int(i)%len(sessions)]); err != nil {
					fails.Add(1)
					continue
				}
				lat[w] = append(lat[w], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	counters, err := store.Counters(ctx, tlsrpt.DayOf(benchDay), "")
	if err != nil {
		return result{}, err
	}
	var counted int64
	for _, c := range counters {
		counted += c.N
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	slices.Sort(all)
	r := result{elapsed: elapsed, perSecond: float64(cfg.Results) / elapsed.Seconds(), counted: counted, writeFails: fails.Load()}
	if len(all) > 0 {
		r.p50, r.p99 = all[len(all)/2], all[len(all)*99/100]
	}
	if r.writeFails > 0 {
		return r, fmt.Errorf("%d Adds failed", r.writeFails)
	}
	_, err = c.db.ExecContext(ctx, "DROP TABLE "+store.Table)
	return r, err
}

// benchDay is the time of every session measured, so that all are counted
// on one day whenever the harness runs.
var benchDay = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

// makeSessions gives a day's mix of sessions over n policy domains: four
// in five succeed (under MTA-STS, DANE or no policy), one in five fails.
func makeSessions(n int) []tlsrpt.Session {
	fails := []tlsrpt.Result{tlsrpt.StartTLSNotSupported, tlsrpt.CertificateExpired, tlsrpt.CertificateHostMismatch,
		tlsrpt.ValidationFailure, tlsrpt.STSPolicyFetchError}
	var out []tlsrpt.Session
	for i := range 5 * n {
		d := fmt.Sprintf("d%d.example", i%n)
		var p tlsrpt.Policy
		switch i % 3 {
		case 0:
			p = tlsrpt.STS(d, "version: STSv1\nmode: enforce\nmx: *."+d+"\nmax_age: 604800\n")
		case 1:
			p = tlsrpt.TLSA("mx1."+d, []string{"3 1 1 8aa9f6a4c9b0b1c1d1e1f10112131415161718191a1b1c1d1e1f202122232425"})
		default:
			p = tlsrpt.NoPolicy(d)
		}
		s := tlsrpt.Session{Policy: p, Time: benchDay}
		if i%5 == 4 {
			s.Failure = fails[(i/5)%len(fails)]
			s.SendingIP = netip.AddrFrom4([4]byte{192, 0, 2, byte(1 + i%4)})
			s.ReceivingIP = netip.AddrFrom4([4]byte{198, 51, 100, byte(i % 250)})
			s.MXHost, s.HELO = "mx1."+d, "mx1."+d
		}
		out = append(out, s)
	}
	return out
}
