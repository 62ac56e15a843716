package main

import (
	"cmp"
	"context"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/mxroute-go/mxroute"
)

var cmdLint = &command{
	name:  "lint",
	args:  "[flags] DOMAIN...",
	short: "check each domain's MX setup; exit 0 clean, 1 warnings, 2 errors",
	long: `Check each domain's MX setup. With several --server, compare what they answer.
The TTL checks judge the MX TTL the zone publishes: from a zone file, from an
authoritative answer, or asked of the zone's name servers (RD=0); a cache's
count-down is never judged. The TLS checks run always: the _mta-sts record,
the policy fetched from https://mta-sts.DOMAIN/, the hosts' TLSA records,
the _smtp._tls records; tlsa-unsigned needs --dnssec or --dane. --mta-sts
and --dane make the route apply them too, as such a sender does.

Checks (severity, check, what):
` + checksHelp(allChecks) + `
Exit status: 0 nothing found (or info only), 1 warnings only, 2 some error,
64 usage error, 66 unreadable zone or --from file.
`,
	flags: lintFlags,
}

// lintRun is one run of lint: the shared flags and lint's own, the TTL
// bounds and where the published TTL is asked.
type lintRun struct {
	sharedFlags
	minTTL, maxTTL time.Duration
	authPort       int      // the port of the zone's authoritative servers (53)
	authFlags      listFlag // --auth-server as given
	authServers    []string // --auth-server as host:port: asked instead of the zone's NS
}

func lintFlags(fs *flag.FlagSet) runner {
	l := &lintRun{}
	l.sharedFlags.define(fs)
	fs.DurationVar(&l.minTTL, "min-ttl", 5*time.Minute, "warn when the MX RRset's TTL is below this")
	fs.DurationVar(&l.maxTTL, "max-ttl", 7*24*time.Hour, "warn when the MX RRset's TTL is above this")
	fs.Var(&l.authFlags, "auth-server", "ask this authoritative server, `host:port`, for the published MX TTL\ninstead of the zone's name servers (a hidden primary; repeatable)")
	fs.IntVar(&l.authPort, "auth-port", 53, "the port of the zone's authoritative servers, asked for the MX TTL\n(another port only for test servers)")
	return l
}

// check validates lint's flags, then the shared ones.
func (l *lintRun) check(args []string, e *env) error {
	if l.minTTL < 0 || l.maxTTL < l.minTTL {
		return &usageError{"--min-ttl must not be negative nor above --max-ttl"}
	}
	if l.authPort < 1 || l.authPort > 65535 {
		return &usageError{fmt.Sprintf("--auth-port %d: want a number in 1..65535", l.authPort)}
	}
	for _, srv := range l.authFlags {
		addr, err := serverAddr(srv)
		if err != nil {
			return &usageError{"--auth-" + strings.TrimPrefix(err.Error(), "--")}
		}
		l.authServers = append(l.authServers, addr)
	}
	return l.sharedFlags.check(args, e)
}

// newRouter returns the Router lint routes a domain with: a default sender's,
// with a fixed seed, so that findings that name hosts of equal preference
// name them in the same order at every run.
func (l *lintRun) newRouter() *mxroute.Router {
	r := l.sharedFlags.newRouter()
	r.Rand = rand.New(rand.NewPCG(0, 0))
	return r
}

// run lints every domain, writes its findings in input order and a count,
// and exits 2 on any error, 1 on warnings only, else 0.
func (l *lintRun) run(ctx context.Context, e *env) int {
	prog := l.newProgress(e)
	var t tally
	forEach(ctx, l.domains, l.workers, l.lintOne, func(i int, query string, res lintResult) {
		t.add(res.findings)
		prog.clear()
		if l.json {
			writeJSON(e.stdout, jsonLintOf(query, res))
		} else {
			printLint(e.stdout, query, res)
		}
		prog.step(i + 1)
	})
	if !l.json {
		prog.clear()
		fmt.Fprintln(e.stdout, t.String())
	}
	return t.status()
}

// tally counts a run's findings by severity, for the last line of lint's
// and probe's text and their exit status.
type tally struct{ errs, warns, infos, domains int }

// add counts one domain and its findings.
func (t *tally) add(findings []finding) {
	t.domains++
	for _, f := range findings {
		switch f.check.severity {
		case errorSev:
			t.errs++
		case warning:
			t.warns++
		default:
			t.infos++
		}
	}
}

// String is the count line: "1 error, 2 warnings in 3 domains".
func (t *tally) String() string {
	notes := ""
	if t.infos > 0 { // a run without info findings reads as before they existed
		notes = fmt.Sprintf(", %d info", t.infos)
	}
	return fmt.Sprintf("%s, %s%s in %s", plural(t.errs, "error"), plural(t.warns, "warning"), notes, plural(t.domains, "domain"))
}

// status is the exit status: 2 on any error, 1 on warnings only, else 0.
func (t *tally) status() int {
	switch {
	case t.errs > 0:
		return exitLintError
	case t.warns > 0:
		return exitLintWarn
	}
	return exitOK
}

// A finding is one problem found in one domain.
type finding struct {
	check   *check
	host    string
	message string
	at      place
}

// lintResult is one domain's findings.
type lintResult struct {
	domain   string
	findings []finding
}

// lintOne checks one domain within --timeout: it routes the domain through
// the library, whose decisions say what a sender meets, and runs every
// check of allChecks on what it learnt; the findings come in the order of
// what they are about (see place).
func (l *lintRun) lintOne(ctx context.Context, query string) lintResult {
	domain, _ := domainOf(query)
	ctx, cancel := context.WithTimeout(ctx, l.timeout)
	defer cancel()
	d := l.newDomain(ctx, domain)
	res := lintResult{domain: domain}
	for i := range allChecks {
		c := &allChecks[i]
		c.find(d, func(at place, host, format string, a ...any) {
			res.findings = append(res.findings, finding{check: c, host: host, message: fmt.Sprintf(format, a...), at: at})
		})
	}
	slices.SortStableFunc(res.findings, func(a, b finding) int {
		return cmp.Or(cmp.Compare(a.at.stage, b.at.stage), cmp.Compare(a.at.index, b.at.index))
	})
	return res
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func printLint(w io.Writer, query string, res lintResult) {
	if len(res.findings) == 0 {
		fmt.Fprintf(w, "%s: ok\n", label(query))
		return
	}
	for _, f := range res.findings {
		fmt.Fprintf(w, "%s: %s: %s: %s\n", label(query), f.check.severity, f.check.id, esc(f.message))
	}
}
