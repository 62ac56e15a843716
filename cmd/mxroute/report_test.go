package main

import (
	"database/sql"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/pgtest"
	"github.com/mxroute-go/mxroute/tlsrpt"
)

// The day the report tests' sessions are of.
var reportTestTime = time.Date(2026, 5, 1, 9, 30, 0, 0, time.UTC)

// reportSessions are a day of sessions to shop.example, as a Dialer's
// TLSReports count them: its MTA-STS policy with three successes and two
// failures on mx2, its TLSA base domain mx1.shop.example with one, and
// sessions of another day and another domain that no report of
// shop.example on reportTestTime's day may show.
func reportSessions() []tlsrpt.Session {
	sts := tlsrpt.STS("shop.example", "version: STSv1\nmode: enforce\nmx: *.shop.example\nmax_age: 604800\n")
	mismatch := tlsrpt.Session{Policy: sts, Time: reportTestTime, Failure: tlsrpt.CertificateHostMismatch,
		SendingIP: netip.MustParseAddr("192.0.2.25"), ReceivingIP: netip.MustParseAddr("198.51.100.2"),
		MXHost: "mx2.shop.example", HELO: "mx2.shop.example",
		ReasonCode: `certificate names ["mail.elsewhere.example"]: x509: certificate is valid for mail.elsewhere.example, not mx2.shop.example`}
	s := []tlsrpt.Session{mismatch, mismatch}
	for range 3 {
		s = append(s, tlsrpt.Session{Policy: sts, Time: reportTestTime})
	}
	s = append(s,
		tlsrpt.Session{Policy: tlsrpt.TLSA("mx1.shop.example", []string{"3 1 1 88ce52833f6dad36bf052576041dc3eb634e5be8fdacb9dad650f9fb6aedefa0"}),
			Time: reportTestTime, Failure: tlsrpt.CertificateNotTrusted, SendingIP: netip.MustParseAddr("192.0.2.25"),
			ReceivingIP: netip.MustParseAddr("198.51.100.1"), MXHost: "mx1.shop.example", HELO: "mx1.shop.example",
			ReasonCode: `no usable TLSA record matches the chain of 1 certificate(s) (leaf subject "CN=mx1.shop.example")`},
		tlsrpt.Session{Policy: sts, Time: reportTestTime.AddDate(0, 0, -1)},
		tlsrpt.Session{Policy: tlsrpt.NoPolicy("other.example"), Time: reportTestTime},
	)
	return s
}

// fillStore counts reportSessions into a SQLStore over db.
func fillStore(t *testing.T, db *sql.DB) {
	t.Helper()
	s := &tlsrpt.SQLStore{DB: db}
	require.NoError(t, s.Init(t.Context()))
	c := &tlsrpt.Collector{Store: s}
	for _, sess := range reportSessions() {
		require.NoError(t, c.Add(t.Context(), sess))
	}
}

// sqliteStore is a SQLite file holding reportSessions' counters, closed.
func sqliteStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tlsrpt.db")
	db, err := sql.Open("sqlite", (&url.URL{Scheme: "file", Opaque: path}).String())
	require.NoError(t, err)
	defer db.Close()
	fillStore(t, db)
	return path
}

// TestReportGolden: mxroute report prints a day's report of a policy
// domain from a SQLite store, as docs/command.md shows it.
func TestReportGolden(t *testing.T) {
	t.Parallel()
	db := sqliteStore(t)
	runGolden(t, []goldenCase{
		{name: "report_sts", args: []string{"report", "--sqlite", db, "--domain", "shop.example", "--day", "2026-05-01",
			"--submitter", "mail.sender.example", "--org", "Sender Inc."}, wantStatus: exitOK,
			reason: "the MTA-STS policy's report: the other day and the other domain left out"},
		{name: "report_tlsa", args: []string{"report", "--domain", "MX1.Shop.Example.", "--sqlite", db, "--day", "2026-05-01",
			"--contact", "tlsrpt@mail.sender.example"}, wantStatus: exitOK,
			reason: "the TLSA base domain's report; the submitter from --contact; the domain as typed"},
	})
	manual, err := os.ReadFile("../../docs/command.md")
	require.NoError(t, err)
	want, err := os.ReadFile("testdata/report_sts.golden")
	require.NoError(t, err)
	assert.Contains(t, string(manual), "```json\n"+string(want)+"```\n", "docs/command.md's report example is report_sts.golden")
}

// TestReportErrors: what report refuses, and what it says when the store
// is not as it should be.
func TestReportErrors(t *testing.T) {
	t.Parallel()
	db := sqliteStore(t)
	broken := filepath.Join(t.TempDir(), "broken.db")
	{
		bdb, err := sql.Open("sqlite", "file:"+broken)
		require.NoError(t, err)
		fillStore(t, bdb)
		_, err = bdb.Exec(`INSERT INTO tlsrpt_counters VALUES ('2026-05-01', 'shop.example', 'x', 'sts', 'not json', '[]', '', '', '', '', '', '', '', 7)`)
		require.NoError(t, err)
		require.NoError(t, bdb.Close())
	}
	empty := filepath.Join(t.TempDir(), "empty.db")
	require.NoError(t, os.WriteFile(empty, nil, 0o644))
	day := []string{"--day", "2026-05-01", "--submitter", "mail.sender.example"}
	tests := []struct {
		reason string
		args   []string
		status int
		stderr string // in stderr
		stdout string // in stdout
	}{
		{"neither store", append([]string{"report", "--domain", "shop.example"}, day...), exitUsage, "one of --sqlite FILE and --postgres DSN is required", ""},
		{"both stores", append([]string{"report", "--sqlite", db, "--postgres", "postgres://x", "--domain", "shop.example"}, day...), exitUsage,
			"one of --sqlite FILE and --postgres DSN is required", ""},
		{"no domain", append([]string{"report", "--sqlite", db}, day...), exitUsage, "--domain is required", ""},
		{"a positional domain", append([]string{"report", "--sqlite", db, "shop.example"}, day...), exitUsage, `takes no arguments (got "shop.example")`, ""},
		{"a day that is no date", []string{"report", "--sqlite", db, "--domain", "shop.example", "--day", "2026-13-01", "--submitter", "s.example"},
			exitUsage, `--day "2026-13-01": want YYYY-MM-DD`, ""},
		{"a contact at another domain than the submitter's (RFC 8460, Section 5.3)",
			[]string{"report", "--sqlite", db, "--domain", "shop.example", "--submitter", "mail.sender.example", "--contact", "a@other.example"},
			exitUsage, "contact \"a@other.example\" is not at the submitter domain", ""},
		{"a domain that is no domain", append([]string{"report", "--sqlite", db, "--domain", "shop example"}, day...), exitUsage, "not a valid domain", ""},
		{"no such SQLite file", append([]string{"report", "--sqlite", filepath.Join(t.TempDir(), "none.db"), "--domain", "shop.example"}, day...),
			exitNoInput, "--sqlite: stat ", ""},
		{"a table name that is no identifier", append([]string{"report", "--sqlite", db, "--domain", "shop.example", "--table", "x; DROP TABLE y"}, day...),
			exitUsage, "malformed SQL table name", ""},
		{"no such table", append([]string{"report", "--sqlite", empty, "--domain", "shop.example"}, day...), exitUnavailable, "no such table", ""},
		{"a row that does not parse: the report of the others, and exit 65", append([]string{"report", "--sqlite", broken, "--domain", "shop.example"}, day...),
			exitDataErr, "some counters could not be read, the report has the others", `"total-successful-session-count": 3`},
		{"nothing counted: an empty report, and a note", append([]string{"report", "--sqlite", db, "--domain", "none.example"}, day...),
			exitOK, "no session of none.example counted on 2026-05-01", `"policies": []`},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, tt.args...)
			assert.Equal(t, tt.status, res.status, "stderr: %s", res.stderr)
			assert.Contains(t, res.stderr, tt.stderr)
			assert.Equal(t, 1, strings.Count(res.stderr, "\n"), "one line on stderr: %q", res.stderr)
			if tt.stdout == "" {
				assert.Empty(t, res.stdout)
			} else {
				assert.Contains(t, res.stdout, tt.stdout)
			}
		})
	}
}

// TestReportPostgres: the same report from the same counters in a
// PostgreSQL database (a fleet's shared store), started for the test
// (skipped without PostgreSQL, failed under CI=true).
func TestReportPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	db, err := sql.Open("pgx", srv.DSN)
	require.NoError(t, err)
	defer db.Close()
	fillStore(t, db)
	res := runBinary(t, "report", "--postgres", srv.DSN, "--domain", "shop.example", "--day", "2026-05-01",
		"--submitter", "mail.sender.example", "--org", "Sender Inc.")
	assert.Equal(t, exitOK, res.status, res.stderr)
	want, err := os.ReadFile("testdata/report_sts.golden")
	require.NoError(t, err)
	assert.Equal(t, string(want), res.stdout, "PostgreSQL and SQLite give one report")

	bad := runBinary(t, "report", "--postgres", "postgres://postgres@127.0.0.1:1/postgres?sslmode=disable&connect_timeout=2",
		"--domain", "shop.example", "--day", "2026-05-01", "--submitter", "mail.sender.example")
	assert.Equal(t, exitUnavailable, bad.status, "a server that is not there: %s", bad.stderr)
}
