package main

import (
	"strings"
	"testing"

	"go.uber.org/goleak"

	"github.com/mxroute-go/mxroute/internal/pgtest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun runs the harness tiny, so that it keeps compiling and working;
// its rates are not checked (no timing assertions in tests), its counts
// are.
func TestRun(t *testing.T) {
	pgtest.Start(t).Stop() // skips without PostgreSQL, fails under CI=true
	var out strings.Builder
	cfg := config{Writers: 4, Results: 400, Runs: 1, Domains: 10, SQLite: true}
	if err := run(t.Context(), cfg, &out); err != nil {
		t.Fatal(err)
	}
	t.Log("\n" + out.String())
	for _, want := range []string{"postgresql  1", "sqlite      1", "0 lost in all", "target: 2000 results/s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("no %q in the output", want)
		}
	}
}
