package main

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/mxroute-go/mxroute"
)

// routed is one domain's outcome: the Route, its error and the decisions
// Router.Trace reported.
type routed struct {
	rt     *mxroute.Route
	err    error
	events []mxroute.Event
}

// routeOne routes a domain with its own Router and collects its decisions.
func routeOne(ctx context.Context, cfg *config, query string) routed {
	domain, _ := domainOf(query)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	return routeTraced(ctx, cfg.newRouter(), domain)
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

func runRoute(ctx context.Context, args []string, e *env, explain bool) int {
	name := "route"
	if explain {
		name = "explain"
	}
	cfg, status := parseFlags(name, args, e, true)
	if cfg == nil {
		return status
	}
	prog := newProgress(cfg.progress, cfg.fromFile, len(cfg.domains), e.stdout, e.stderr)
	forEach(ctx, cfg.domains, cfg.workers,
		func(ctx context.Context, d string) routed { return routeOne(ctx, cfg, d) },
		func(i int, domain string, res routed) {
			prog.clear()
			switch {
			case cfg.json:
				writeJSON(e.stdout, jsonRouteOf(domain, res, explain, cfg.dnssec))
			default:
				if i > 0 {
					fmt.Fprintln(e.stdout)
				}
				if explain {
					printExplain(e.stdout, domain, res, cfg.dnssec)
				}
				printRoute(e.stdout, domain, res, cfg.dnssec)
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
