package main

import (
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

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

// fileStore is a tlsrpt.FileStore's file holding reportSessions'
// counters, as an MTA leaves it, closed.
func fileStore(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tlsrpt.json")
	s := &tlsrpt.FileStore{Path: path}
	c := &tlsrpt.Collector{Store: s}
	for _, sess := range reportSessions() {
		require.NoError(t, c.Add(t.Context(), sess))
	}
	require.NoError(t, s.Close())
	return path
}

// TestReportGolden: mxroute report prints a day's report of a policy
// domain from a FileStore's file, as docs/command.md shows it; the file
// is left as it was.
func TestReportGolden(t *testing.T) {
	t.Parallel()
	db := fileStore(t)
	before, err := os.ReadFile(db)
	require.NoError(t, err)
	t.Cleanup(func() {
		after, err := os.ReadFile(db)
		require.NoError(t, err)
		assert.Equal(t, string(before), string(after), "report wrote the MTA's file")
		es, err := os.ReadDir(filepath.Dir(db))
		require.NoError(t, err)
		assert.Len(t, es, 1, "report left files beside the MTA's")
	})
	runGolden(t, []goldenCase{
		{name: "report_sts", args: []string{"report", "--file", db, "--domain", "shop.example", "--day", "2026-05-01",
			"--submitter", "mail.sender.example", "--org", "Sender Inc."}, wantStatus: exitOK,
			reason: "the MTA-STS policy's report: the other day and the other domain left out"},
		{name: "report_tlsa", args: []string{"report", "--domain", "MX1.Shop.Example.", "--file", db, "--day", "2026-05-01",
			"--contact", "tlsrpt@mail.sender.example"}, wantStatus: exitOK,
			reason: "the TLSA base domain's report; the submitter from --contact; the domain as typed"},
	})
	manual, err := os.ReadFile("../../docs/command.md")
	require.NoError(t, err)
	want, err := os.ReadFile("testdata/report_sts.golden")
	require.NoError(t, err)
	assert.Contains(t, string(manual), "```json\n"+string(want)+"```\n", "docs/command.md's report example is report_sts.golden")
}

// TestReportErrors: what report refuses, and what it says when the file
// is not as it should be.
func TestReportErrors(t *testing.T) {
	t.Parallel()
	db := fileStore(t)
	broken := filepath.Join(t.TempDir(), "broken.json")
	{
		b, err := os.ReadFile(db)
		require.NoError(t, err)
		bad := `{"day":"2026-05-01","policy-domain":"shop.example","policy-type":"dmarc","policy-string":[],"mx-host":[],"n":7}`
		b = []byte(strings.Replace(string(b), "\n]}", ",\n"+bad+"\n]}", 1))
		require.NoError(t, os.WriteFile(broken, b, 0o600))
	}
	corrupt := filepath.Join(t.TempDir(), "corrupt.json")
	require.NoError(t, os.WriteFile(corrupt, []byte("{not json"), 0o600))
	day := []string{"--day", "2026-05-01", "--submitter", "mail.sender.example"}
	tests := []struct {
		reason string
		args   []string
		status int
		stderr string // in stderr
		stdout string // in stdout
	}{
		{"no file", append([]string{"report", "--domain", "shop.example"}, day...), exitUsage, "--file is required", ""},
		{"no SQL store: the command carries no SQL driver", append([]string{"report", "--sqlite", db, "--domain", "shop.example"}, day...),
			exitUsage, "flag provided but not defined: -sqlite", ""},
		{"no domain", append([]string{"report", "--file", db}, day...), exitUsage, "--domain is required", ""},
		{"a positional domain", append([]string{"report", "--file", db, "shop.example"}, day...), exitUsage, `takes no arguments (got "shop.example")`, ""},
		{"a day that is no date", []string{"report", "--file", db, "--domain", "shop.example", "--day", "2026-13-01", "--submitter", "s.example"},
			exitUsage, `--day "2026-13-01": want YYYY-MM-DD`, ""},
		{"a contact at another domain than the submitter's (RFC 8460, Section 5.3)",
			[]string{"report", "--file", db, "--domain", "shop.example", "--submitter", "mail.sender.example", "--contact", "a@other.example"},
			exitUsage, "contact \"a@other.example\" is not at the submitter domain", ""},
		{"a domain that is no domain", append([]string{"report", "--file", db, "--domain", "shop example"}, day...), exitUsage, "not a valid domain", ""},
		{"no such file", append([]string{"report", "--file", filepath.Join(t.TempDir(), "none.json"), "--domain", "shop.example"}, day...),
			exitNoInput, "--file: stat ", ""},
		{"a directory, not a file", append([]string{"report", "--file", t.TempDir(), "--domain", "shop.example"}, day...),
			exitUnavailable, "is a directory", ""},
		{"a file that does not parse", append([]string{"report", "--file", corrupt, "--domain", "shop.example"}, day...),
			exitUnavailable, "does not parse", ""},
		{"an entry that does not parse: the report of the others, and exit 65", append([]string{"report", "--file", broken, "--domain", "shop.example"}, day...),
			exitDataErr, `some counters could not be read, the report has the others: counter file "` + broken + `": entry`, `"total-successful-session-count": 3`},
		{"nothing counted: an empty report, and a note", append([]string{"report", "--file", db, "--domain", "none.example"}, day...),
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
	b, err := os.ReadFile(corrupt)
	require.NoError(t, err)
	assert.Equal(t, "{not json", string(b), "report moved or wrote a file that does not parse")
}

// TestReportNoSQLDriver: the command links no SQL driver; they are
// test dependencies (the library takes a *sql.DB and imports none).
func TestReportNoSQLDriver(t *testing.T) {
	t.Parallel()
	out, err := exec.Command("go", "list", "-deps", ".").Output()
	require.NoError(t, err)
	for _, dep := range strings.Fields(string(out)) {
		if strings.Contains(dep, "database/sql/driver") {
			continue
		}
		for _, driver := range []string{"pgx", "sqlite", "lib/pq", "mysql"} {
			assert.NotContains(t, dep, driver, "the command imports a SQL driver")
		}
	}
}
