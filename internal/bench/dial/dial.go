package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/internal/smtptest"
)

// config is what to measure.
type config struct {
	RTT            time.Duration
	Stagger        time.Duration
	ConnectTimeout time.Duration
	Runs           int
	Part           string // "greeting", "tls", "backoff", or "" for all
	Messages       int    // the backoff part's deliveries per contender
	Postgres       bool   // the backoff part measures SQLBackoff over PostgreSQL too
}

// The zone: five domains with two mail hosts each, MX 10 and MX 20 (healthy
// is the backoff part's healthy case). What each address does is in roles.
const zone = `
$ORIGIN bench.
@             3600 IN SOA ns hostmaster 1 3600 600 86400 300
@             IN NS ns
ns            IN A 192.0.2.53
refused       IN MX 10 mx1.refused
              IN MX 20 mx2.refused
mx1.refused   IN A 192.0.2.1
mx2.refused   IN A 192.0.2.2
blackhole     IN MX 10 mx1.blackhole
              IN MX 20 mx2.blackhole
mx1.blackhole IN A 192.0.2.11
mx2.blackhole IN A 192.0.2.12
v6one         IN MX 10 mx1.v6one
              IN MX 20 mx2.v6one
mx1.v6one     IN AAAA 2001:db8::31
              IN A    192.0.2.31
mx2.v6one     IN AAAA 2001:db8::32
              IN A    192.0.2.32
healthy       IN MX 10 mx1.healthy
              IN MX 20 mx2.healthy
mx1.healthy   IN A 192.0.2.41
mx2.healthy   IN A 192.0.2.42
v6            IN MX 10 mx1.v6
              IN MX 20 mx2.v6
mx1.v6        IN AAAA 2001:db8::21
              IN AAAA 2001:db8::22
              IN A    192.0.2.21
              IN A    192.0.2.22
mx2.v6        IN AAAA 2001:db8::23
              IN A    192.0.2.23
`

// What each address of the zone does.
type role int

const (
	live role = iota
	refuse
	drop
)

var roles = map[string]role{
	"192.0.2.1": refuse, "192.0.2.2": live,
	"192.0.2.11": drop, "192.0.2.12": live,
	"2001:db8::21": drop, "2001:db8::22": drop, "192.0.2.21": live, "192.0.2.22": live,
	"2001:db8::23": drop, "192.0.2.23": live,
	"2001:db8::31": drop, "192.0.2.31": live, "2001:db8::32": drop, "192.0.2.32": live,
	"192.0.2.41": live, "192.0.2.42": live,
}

// A scenario is one domain to connect to.
type scenario struct {
	domain string
	about  string
	waits  bool // some contender waits for a ConnectTimeout
}

var scenarios = []scenario{
	{"refused.bench", "MX 10 refuses, MX 20 answers", false},
	{"blackhole.bench", "MX 10 blackholed, MX 20 answers", true},
	{"v6one.bench", "MX 10's AAAA blackholed, its A answers", true},
	{"v6.bench", "MX 10's 2 AAAA blackholed, its 2 A answer", true},
}

// A contender is one way to get a greeted connection.
type contender struct {
	name    string
	stagger bool // Dialer.Stagger is -stagger (else 0)
	family  mxroute.Family
	seq     bool // the sequential way instead of a Dialer
}

var contenders = []contender{
	{name: "(a) Stagger 0, AnyFamily", family: mxroute.AnyFamily},
	{name: "(b) Stagger 0, Interleave", family: mxroute.Interleave},
	{name: "(c) Stagger, AnyFamily", stagger: true, family: mxroute.AnyFamily},
	{name: "(d) Stagger, Interleave", stagger: true, family: mxroute.Interleave},
	{name: "(e) sequential", seq: true},
}

// bench is the running harness: its servers and the hook mapping to them.
type bench struct {
	cfg    config
	res    mxroute.Resolver
	server *smtptest.Server
	hole   *smtptest.Blackhole
	closed string // a loopback address that refuses
}

func run(ctx context.Context, cfg config, w io.Writer) error {
	before := runtime.NumGoroutine()
	if cfg.Part == "" || cfg.Part == "greeting" {
		if err := runGreeting(ctx, cfg, w); err != nil {
			return err
		}
	}
	if cfg.Part == "" || cfg.Part == "tls" {
		if err := runTLS(ctx, cfg, w); err != nil {
			return err
		}
	}
	if cfg.Part == "" || cfg.Part == "backoff" {
		if err := runBackoff(ctx, cfg, w); err != nil {
			return err
		}
	}
	left := 0
	for range 50 { // the servers' goroutines end just after stop
		if left = runtime.NumGoroutine() - before; left <= 0 {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	fmt.Fprintf(w, "goroutines left afterwards: %d\n", max(left, 0))
	return nil
}

// runGreeting measures the time to a greeted connection.
func runGreeting(ctx context.Context, cfg config, w io.Writer) error {
	b, err := start(cfg)
	if err != nil {
		return err
	}
	results := make([][][]time.Duration, len(scenarios)) // [scenario][contender][run]
	for i := range results {
		results[i] = make([][]time.Duration, len(contenders))
	}
	// The fast ones, one at a time, alternating.
	for range cfg.Runs {
		for si, s := range scenarios {
			for ci, c := range contenders {
				if s.waits && !c.stagger {
					continue
				}
				d, err := b.measure(ctx, s, c)
				if err != nil {
					return fmt.Errorf("%s, %s: %w", s.domain, c.name, err)
				}
				results[si][ci] = append(results[si][ci], d)
			}
		}
	}
	// The ones that wait for timeouts, all at once.
	var mu sync.Mutex
	var wg sync.WaitGroup
	var firstErr error
	for si, s := range scenarios {
		for ci, c := range contenders {
			if !s.waits || c.stagger {
				continue
			}
			for range cfg.Runs {
				wg.Go(func() {
					d, err := b.measure(ctx, s, c)
					mu.Lock()
					defer mu.Unlock()
					if err != nil && firstErr == nil {
						firstErr = fmt.Errorf("%s, %s: %w", s.domain, c.name, err)
					}
					results[si][ci] = append(results[si][ci], d)
				})
			}
		}
	}
	wg.Wait()
	b.stop()
	if firstErr != nil {
		return firstErr
	}
	b.print(w, results)
	return nil
}

func start(cfg config) (*bench, error) {
	res, err := mxroute.NewZoneResolver(strings.NewReader(zone), "bench.")
	if err != nil {
		return nil, err
	}
	hole, err := smtptest.NewBlackhole()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		hole.Close()
		return nil, err
	}
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		hole.Close()
		_ = ln.Close()
		return nil, err
	}
	closedAddr := closed.Addr().String()
	_ = closed.Close()
	b := &bench{cfg: cfg, res: res, hole: hole, closed: closedAddr,
		// The kernel accepts at once; the hook hands the connection back
		// one RTT later (the SYN and its answer), and the greeting takes
		// one more: the server writes it 2 RTT after the accept.
		server: smtptest.Start(ln, smtptest.After(2*cfg.RTT, smtptest.Greet("220 live.bench ESMTP")))}
	return b, nil
}

func (b *bench) stop() {
	b.server.Close()
	b.hole.Close()
}

// dial is the DialContext hook of every contender: the zone's addresses to
// loopback, one RTT more for every connect the kernel answers.
func (b *bench) dial(ctx context.Context, _, address string) (net.Conn, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	rl, ok := roles[host]
	if !ok {
		return nil, fmt.Errorf("no role for %s", address)
	}
	real := map[role]string{live: b.server.Addr, refuse: b.closed, drop: b.hole.Addr}[rl]
	var nd net.Dialer
	c, err := nd.DialContext(ctx, "tcp", real)
	if answered := err == nil || ctx.Err() == nil && !isTimeout(err); answered {
		t := time.NewTimer(b.cfg.RTT)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			if c != nil {
				_ = c.Close()
			}
			return nil, ctx.Err()
		}
	}
	return c, err
}

// measure connects once and returns the time to the greeting.
func (b *bench) measure(ctx context.Context, s scenario, c contender) (time.Duration, error) {
	router := &mxroute.Router{Resolver: b.res, Family: c.family}
	start := time.Now()
	var conn net.Conn
	var err error
	if c.seq {
		conn, err = sequential(ctx, router, b.dial, s.domain, b.cfg.ConnectTimeout)
	} else {
		d := &mxroute.Dialer{Router: router, DialContext: b.dial, ConnectTimeout: b.cfg.ConnectTimeout}
		if c.stagger {
			d.Stagger = b.cfg.Stagger
		}
		conn, err = d.Dial(ctx, s.domain)
	}
	took := time.Since(start)
	if err != nil {
		return 0, err
	}
	_, _ = io.WriteString(conn, "QUIT\r\n")
	_ = conn.Close()
	return took, nil
}

// sequential is the way of mx-connect and of code on the standard library:
// the route, then one address at a time, each with the connect timeout
// and a greeting read.
func sequential(ctx context.Context, r *mxroute.Router, dial func(context.Context, string, string) (net.Conn, error),
	domain string, timeout time.Duration) (net.Conn, error) {
	rt, err := r.Route(ctx, domain)
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, t := range rt.Targets() {
		network := "tcp6"
		if t.Addr.Is4() {
			network = "tcp4"
		}
		dctx, cancel := context.WithTimeout(ctx, timeout)
		c, err := dial(dctx, network, net.JoinHostPort(t.Addr.String(), "25"))
		cancel()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Minute))
		if _, _, err := textproto.NewReader(bufio.NewReader(c)).ReadResponse(220); err != nil {
			_ = c.Close()
			errs = append(errs, err)
			continue
		}
		_ = c.SetReadDeadline(time.Time{})
		return c, nil
	}
	return nil, errors.Join(errs...)
}

// print writes the table of medians and ratios.
func (b *bench) print(w io.Writer, results [][][]time.Duration) {
	cfg := b.cfg
	fmt.Fprintf(w, "time to a greeted connection; ConnectTimeout %v, Stagger %v, simulated RTT %v (2 RTT from SYN to 220); median of %d runs\n",
		cfg.ConnectTimeout, cfg.Stagger, cfg.RTT, cfg.Runs)
	fmt.Fprintf(w, "blackholed addresses drop SYNs (a listener with a full accept queue); (a)-(d) mxroute.Dialer, (e) Route, then one address at a time\n\n")
	fmt.Fprintf(w, "%-42s", "scenario")
	for _, c := range contenders {
		fmt.Fprintf(w, " %-12s", c.name[:3])
	}
	fmt.Fprintf(w, " %-8s %-8s %s\n", "(e)/(c)", "(e)/(d)", "(a)/(d)")
	for si, s := range scenarios {
		med := make([]time.Duration, len(contenders))
		fmt.Fprintf(w, "%-42s", s.about)
		for ci := range contenders {
			med[ci] = median(results[si][ci])
			fmt.Fprintf(w, " %-12s", show(med[ci]))
		}
		fmt.Fprintf(w, " %-8s %-8s %s\n", ratio(med[4], med[2]), ratio(med[4], med[3]), ratio(med[0], med[3]))
	}
	fmt.Fprintf(w, "\ncontenders: %s\n", strings.Join(names(), "; "))
	fmt.Fprintf(w, "spread (min-max) of the staggered contenders:")
	for si, s := range scenarios {
		for _, ci := range []int{2, 3} {
			lo, hi := slices.Min(results[si][ci]), slices.Max(results[si][ci])
			fmt.Fprintf(w, " %s %s %s-%s;", s.domain, contenders[ci].name[:3], show(lo), show(hi))
		}
	}
	fmt.Fprintln(w)
	bound := cfg.Stagger + 2*cfg.RTT
	bh := median(results[1][2])
	fmt.Fprintf(w, "target: with Stagger, MX 10 blackholed, greeted within Stagger + 2 RTT = %s (+10%%): %s (%s);",
		show(bound), yes(bh <= bound+bound/10), show(bh))
	fmt.Fprintf(w, " at least 20x sooner than sequential: %s (%s)\n", yes(float64(median(results[1][4]))/float64(bh) >= 20),
		ratio(median(results[1][4]), bh))
}

func names() []string {
	var out []string
	for _, c := range contenders {
		out = append(out, c.name)
	}
	return out
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(ds))
	return s[len(s)/2]
}

func show(d time.Duration) string {
	if d >= time.Second {
		return fmt.Sprintf("%.2f s", d.Seconds())
	}
	return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond))
}

func ratio(a, b time.Duration) string {
	if b <= 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f", float64(a)/float64(b))
}

func yes(ok bool) string {
	if ok {
		return "yes"
	}
	return "NO"
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
