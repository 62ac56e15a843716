package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/mxroute-go/mxroute/tlsrpt"
)

var cmdReport = &command{
	name:  "report",
	args:  "--file FILE --domain DOMAIN [--day YYYY-MM-DD] [flags]",
	short: "a day's TLS report (RFC 8460) of a policy domain, as JSON, from the counters a Dialer's TLSReports keep in a tlsrpt.FileStore",
	long: `Print the aggregate TLS report (RFC 8460, Section 4.4) of a policy domain for
one UTC day, as JSON, from the counters that a Dialer's TLSReports (a
tlsrpt.Collector over a tlsrpt.FileStore) keep in a file. The file is only
read, never written, while the MTA may write it: nothing is sent or
removed.

The counters of a tlsrpt.SQLStore (a fleet's) are printed with the
library, with the driver of the database (docs/tlsrpt.md): this command
carries no SQL driver.

The submitter's domain (report-id, contact-info) is --submitter, else the
domain of --contact, else this host's name when it is fully qualified.

Exit status: 0 the report printed, 65 some counters could not be read (the
report has the others; stderr names them), 69 the file could not be read
or does not parse, 64 usage error, 66 no such file.
`,
	flags: reportFlags,
}

// exitDataErr: some counters of the store do not parse (sysexits.h
// EX_DATAERR).
const exitDataErr = 65

// reportRun is one run of report.
type reportRun struct {
	file                    string
	domain, dayText         string
	submitter, org, contact string

	day tlsrpt.Day
	sub tlsrpt.Submitter
}

func reportFlags(fs *flag.FlagSet) runner {
	r := &reportRun{}
	fs.StringVar(&r.file, "file", "", "read the counters from this `file` (a tlsrpt.FileStore's Path; required)")
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
	case r.file == "":
		return &usageError{"--file is required"}
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
	if _, err := os.Stat(r.file); err != nil {
		return &inputError{fmt.Errorf("--file: %w", err)}
	}
	return nil
}

func (r *reportRun) run(ctx context.Context, e *env) int {
	// Only read: a FileStore writes nothing it was not given, so Close
	// leaves the MTA's file alone.
	store := &tlsrpt.FileStore{Path: r.file}
	defer store.Close()
	c := &tlsrpt.Collector{Store: store}
	rep, err := c.Report(ctx, r.sub, r.domain, r.day)
	if rep == nil {
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
