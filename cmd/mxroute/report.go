package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx", for --postgres
	_ "modernc.org/sqlite"             // database/sql driver "sqlite" (pure Go), for --sqlite

	"github.com/mxroute-go/mxroute/tlsrpt"
)

var cmdReport = &command{
	name:  "report",
	args:  "--sqlite FILE | --postgres DSN --domain DOMAIN [--day YYYY-MM-DD] [flags]",
	short: "a day's TLS report (RFC 8460) of a policy domain, as JSON, from the counters a Dialer's TLSReports keep in SQLite or PostgreSQL",
	long: `Print the aggregate TLS report (RFC 8460, Section 4.4) of a policy domain for
one UTC day, as JSON, from the counters that a Dialer's TLSReports (a
tlsrpt.Collector over a tlsrpt.SQLStore) keep in a SQLite file or a
PostgreSQL database. The store is only read: nothing is sent or removed.

The submitter's domain (report-id, contact-info) is --submitter, else the
domain of --contact, else this host's name when it is fully qualified.

Exit status: 0 the report printed, 65 some counters could not be read (the
report has the others; stderr names them), 69 the store could not be read,
64 usage error, 66 no such SQLite file.
`,
	flags: reportFlags,
}

// exitDataErr: some counters of the store do not parse (sysexits.h
// EX_DATAERR).
const exitDataErr = 65

// reportRun is one run of report.
type reportRun struct {
	sqlite, postgres, table string
	domain, dayText         string
	submitter, org, contact string

	day tlsrpt.Day
	sub tlsrpt.Submitter
}

func reportFlags(fs *flag.FlagSet) runner {
	r := &reportRun{}
	fs.StringVar(&r.sqlite, "sqlite", "", "read the counters from this SQLite `file`")
	fs.StringVar(&r.postgres, "postgres", "", "read the counters from this PostgreSQL database (a `DSN`: postgres://user@host/db or key=value pairs)")
	fs.StringVar(&r.table, "table", "tlsrpt_counters", "the counters' `table` (tlsrpt.SQLStore.Table)")
	fs.StringVar(&r.domain, "domain", "", "the policy `domain` reported on: the recipient domain for MTA-STS, the TLSA base domain for DANE (required)")
	fs.StringVar(&r.dayText, "day", "", "the UTC `day` reported on, YYYY-MM-DD (default: yesterday, the last whole day)")
	fs.StringVar(&r.submitter, "submitter", "", "the sending MTA's `domain` (default: --contact's domain, else this host's name)")
	fs.StringVar(&r.org, "org", "", "organization-name (default: the submitter's domain)")
	fs.StringVar(&r.contact, "contact", "", "contact-info, an `address` at the submitter's domain (default: postmaster@ it)")
	return r
}

func (r *reportRun) check(args []string, e *env) error {
	switch {
	case len(args) > 0:
		return &usageError{fmt.Sprintf("takes no arguments (got %q): the domain is --domain", args[0])}
	case (r.sqlite == "") == (r.postgres == ""):
		return &usageError{"one of --sqlite FILE and --postgres DSN is required"}
	case r.domain == "":
		return &usageError{"--domain is required"}
	}
	r.day = tlsrpt.DayOf(time.Now()).AddDays(-1)
	if r.dayText != "" {
		d, err := tlsrpt.ParseDay(r.dayText)
		if err != nil {
			return &usageError{fmt.Sprintf("--day %q: want YYYY-MM-DD", r.dayText)}
		}
		r.day = d
	}
	r.sub = tlsrpt.Submitter{Domain: r.submitter, Organization: r.org, Contact: r.contact}
	if r.sub.Domain == "" {
		if _, d, ok := strings.Cut(r.contact, "@"); ok {
			r.sub.Domain = d
		} else if h, err := os.Hostname(); err == nil && strings.Contains(h, ".") {
			r.sub.Domain = h
		} else {
			return &usageError{"--submitter is required: this host's name is not fully qualified"}
		}
	}
	// The submitter and the domain as a report takes them, checked now.
	if _, err := r.sub.Report(r.domain, r.day, nil); err != nil {
		return &usageError{strings.TrimPrefix(err.Error(), "tlsrpt: ")}
	}
	if r.sqlite != "" {
		if _, err := os.Stat(r.sqlite); err != nil {
			return &inputError{fmt.Errorf("--sqlite: %w", err)}
		}
	}
	return nil
}

// open opens the store's database: SQLite read-only, waiting for the
// MTAs' writes rather than failing on them.
func (r *reportRun) open() (*sql.DB, error) {
	if r.sqlite != "" {
		u := url.URL{Scheme: "file", Opaque: r.sqlite, RawQuery: "mode=ro&_pragma=busy_timeout(5000)"}
		return sql.Open("sqlite", u.String())
	}
	return sql.Open("pgx", r.postgres)
}

func (r *reportRun) run(ctx context.Context, e *env) int {
	db, err := r.open()
	if err != nil {
		fmt.Fprintf(e.stderr, "mxroute %s: %v\n", e.cmd.name, esc(err.Error()))
		return exitUnavailable
	}
	defer db.Close()
	c := &tlsrpt.Collector{Store: &tlsrpt.SQLStore{DB: db, Table: r.table}}
	rep, err := c.Report(ctx, r.sub, r.domain, r.day)
	switch {
	case errors.Is(err, tlsrpt.ErrBadTable):
		fmt.Fprintf(e.stderr, "mxroute %s: --table: %s\n", e.cmd.name, esc(err.Error()))
		return exitUsage
	case rep == nil:
		fmt.Fprintf(e.stderr, "mxroute %s: %s\n", e.cmd.name, esc(err.Error()))
		return exitUnavailable
	}
	enc := json.NewEncoder(e.stdout)
	enc.SetIndent("", "  ")
	if werr := enc.Encode(rep); werr != nil {
		fmt.Fprintf(e.stderr, "mxroute %s: %v\n", e.cmd.name, werr)
		return exitUnavailable
	}
	if err != nil {
		fmt.Fprintf(e.stderr, "mxroute %s: some counters could not be read, the report has the others: %s\n", e.cmd.name, esc(err.Error()))
		return exitDataErr
	}
	if len(rep.Policies) == 0 {
		fmt.Fprintf(e.stderr, "mxroute %s: no session of %s counted on %s\n", e.cmd.name, esc(r.domain), r.day)
	}
	return exitOK
}
