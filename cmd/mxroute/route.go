package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"sync"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/mtasts"
)

// route and explain are one command with two outputs: the same flags,
// checks and run (routeRun); explain writes the decisions before the
// table, and adds them to the JSON.
var (
	cmdRoute = &command{
		name:  "route",
		args:  "[flags] DOMAIN...",
		short: "the delivery plan of each domain: hosts and addresses in the order to try, hosts dropped or unusable and why, or the verdict (defer or bounce) with its status code",
		long: `Print the delivery plan of each domain: one row per address in the order to
try (preference, host, address, family), hosts dropped or unusable with the
reason, and for a failure the verdict (defer or bounce) and its status code.

Exit status: 0 every domain routed, 75 some domain deferred (EX_TEMPFAIL),
69 some domain bounced and none deferred (EX_UNAVAILABLE), 64 usage error,
66 unreadable zone or --from file.
`,
		flags: routeFlags(routeOutput{text: printRoute, json: jsonRouteOf}),
	}
	cmdExplain = &command{
		name:  "explain",
		args:  "[flags] DOMAIN...",
		short: "the same route with every decision in order and the rule behind it",
		long: `Route each domain and print every decision in the order it was made, with the
rule that caused it, then the route. Exit status as for route.
`,
		flags: routeFlags(routeOutput{text: printExplain, json: jsonExplainOf}),
	}
)

// routeOutput is how a routed domain is written: what tells explain from
// route.
type routeOutput struct {
	text func(w io.Writer, query string, res routed, s show)
	json func(query string, res routed, s show) jsonRoute
}

// show is what a run shows besides the route: the DNSSEC status
// (--dnssec), each host's TLS mode and the domain's TLS decisions
// (--mta-sts or --dane).
type show struct {
	dnssec       bool
	tls          bool // mtaSTS or dane
	mtaSTS, dane bool
}

// routeRun is one run of route or explain: the shared flags, the Router's
// (this host for the loop guard, families, limits, seed) and the output.
type routeRun struct {
	sharedFlags
	out routeOutput

	localNames, localAddrs listFlag
	familyName             string
	maxHosts, maxAddrs     int
	seed                   int64 // -1: random

	// What check makes of them.
	localAddr []netip.Addr
	family    mxroute.Family
}

// routeFlags returns route's or explain's flags function: out is how the
// command writes a domain.
func routeFlags(out routeOutput) func(*flag.FlagSet) runner {
	return func(fs *flag.FlagSet) runner {
		r := &routeRun{out: out}
		r.sharedFlags.define(fs)
		fs.Var(&r.localNames, "local-name", "this host's `name`, for the loop guard: route as this relay would (repeatable)")
		fs.Var(&r.localAddrs, "local-addr", "this host's `address`, for the loop guard (repeatable)")
		fs.StringVar(&r.familyName, "family", "any", "address families: any (IPv6 first), 4, 6, prefer4 or interleave")
		fs.IntVar(&r.maxHosts, "max-hosts", 0, "look up at most this many mail hosts (0: no limit)")
		fs.IntVar(&r.maxAddrs, "max-addrs", 0, "try at most this many addresses (0: no limit)")
		fs.Int64Var(&r.seed, "seed", -1, "shuffle equal preferences with this seed, for a reproducible order (-1: random)")
		return r
	}
}

var families = map[string]mxroute.Family{
	"any": mxroute.AnyFamily, "4": mxroute.IPv4Only, "6": mxroute.IPv6Only,
	"prefer4": mxroute.PreferIPv4, "interleave": mxroute.Interleave,
}

// check validates the Router's flags, then the shared ones.
func (r *routeRun) check(args []string, e *env) error {
	var ok bool
	if r.family, ok = families[r.familyName]; !ok {
		return &usageError{fmt.Sprintf("--family %q: want any, 4, 6, prefer4 or interleave", r.familyName)}
	}
	if r.maxHosts < 0 || r.maxAddrs < 0 {
		return &usageError{"--max-hosts and --max-addrs must not be negative"}
	}
	if r.seed < -1 {
		// -1 is the documented "random"; anything below it would be
		// silently random too, which a user asking for a reproducible
		// order would not notice.
		return &usageError{fmt.Sprintf("--seed %d: want -1 (random) or a seed of 0 or more", r.seed)}
	}
	for _, s := range r.localAddrs {
		a, err := netip.ParseAddr(s)
		if err != nil {
			return &usageError{fmt.Sprintf("--local-addr %q: not an IP address", s)}
		}
		r.localAddr = append(r.localAddr, a)
	}
	return r.sharedFlags.check(args, e)
}

// newRouter returns a Router for one domain: a fresh seeded Rand per domain
// makes each domain's order the same whether it is routed alone or among
// others, concurrently.
func (r *routeRun) newRouter() *mxroute.Router {
	rt := r.sharedFlags.newRouter()
	rt.LocalNames, rt.LocalAddrs = r.localNames, r.localAddr
	rt.Family, rt.MaxHosts, rt.MaxAddrs = r.family, r.maxHosts, r.maxAddrs
	if r.seed >= 0 {
		rt.Rand = rand.New(rand.NewPCG(uint64(r.seed), 0))
	}
	return rt
}

// run routes every domain, writes each in input order, and exits as MTAs
// do: 75 when some domain deferred, else 69 when some bounced, else 0.
func (r *routeRun) run(ctx context.Context, e *env) int {
	status := exitOK
	prog := r.newProgress(e)
	s := show{dnssec: r.dnssec, tls: r.tlsOn(), mtaSTS: r.mtaSTS, dane: r.dane}
	forEach(ctx, r.domains, r.workers, r.routeOne, func(i int, query string, res routed) {
		prog.clear()
		if r.json {
			writeJSON(e.stdout, r.out.json(query, res, s))
		} else {
			if i > 0 {
				fmt.Fprintln(e.stdout)
			}
			r.out.text(e.stdout, query, res, s)
		}
		switch {
		case res.err == nil:
		case mxroute.IsTemporary(res.err):
			status = exitTempFail
		case status != exitTempFail:
			status = exitUnavailable
		}
		prog.step(i + 1)
	})
	return status
}

// routed is one domain's outcome: the Route, its error and the decisions
// Router.Trace reported; with --mta-sts, what the run's MTA-STS client saw.
type routed struct {
	rt     *mxroute.Route
	err    error
	events []mxroute.Event
	sts    stsSeen
}

// stsSeen is what the run's MTA-STS client saw of a routed domain, for
// explain: the TXT records at _mta-sts.<domain> (when it looked) and the
// policy it holds for the domain (fetched now, or earlier in the run).
type stsSeen struct {
	looked  bool
	records []string
	policy  *mtasts.Policy
}

// routeOne routes a domain (or an address's) with its own Router, within
// --timeout, and collects its decisions and, with --mta-sts, what the
// policy lookup saw.
func (r *routeRun) routeOne(ctx context.Context, query string) routed {
	domain, _ := domainOf(query)
	ctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res := routeTraced(ctx, r.newRouter(), domain)
	if r.mtaSTS && res.rt != nil && !isLiteral(res.rt.Domain) {
		res.sts.records, res.sts.looked = r.txtSeen("_mta-sts." + res.rt.Domain)
		res.sts.policy = r.policyOf(ctx, res.rt.Domain)
	}
	return res
}

// routeTraced routes domain with r, whose Trace it sets to a closure that
// collects this route's decisions: each domain of a run has its own Router,
// so its events need no key to tell them from another domain's. The lock
// is for the lookups the Router runs in parallel.
func routeTraced(ctx context.Context, r *mxroute.Router, domain string) routed {
	var mu sync.Mutex
	var events []mxroute.Event
	r.Trace = func(_ context.Context, ev mxroute.Event) {
		mu.Lock()
		events = append(events, ev)
		mu.Unlock()
	}
	rt, err := r.Route(ctx, domain)
	mu.Lock()
	defer mu.Unlock()
	return routed{rt: rt, err: err, events: events}
}

// verdictOf returns "defer" or "bounce" and the RFC 3463 status of a
// routing error.
func verdictOf(err error) (verdict, status string) {
	verdict = "bounce"
	if mxroute.IsTemporary(err) {
		verdict = "defer"
	}
	var e *mxroute.Error
	if errors.As(err, &e) {
		status = e.Status
	}
	return verdict, status
}
