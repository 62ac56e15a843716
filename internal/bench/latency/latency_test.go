package main

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestRun runs the harness small and fast, so that it keeps compiling and
// working; its numbers are not checked (no timing assertions in tests).
func TestRun(t *testing.T) {
	var out strings.Builder
	cfg := config{RTT: time.Millisecond, Runs: 3, Hosts: []int{1, 3}, Domains: 200, Parallel: 20}
	require.NoError(t, run(t.Context(), cfg, &out))
	t.Log("\n" + out.String())
	lines := strings.Split(out.String(), "\n")
	var rows []string
	for _, l := range lines {
		if (strings.HasPrefix(l, "1 ") || strings.HasPrefix(l, "3 ")) && !strings.Contains(l, "MTA-STS") {
			rows = append(rows, l)
		}
	}
	assert.Len(t, rows, 4, "one row per domain, twice: plain and with TLS policies")
	assert.Contains(t, out.String(), "\n10*  ", "the row of the domain with a silent host")
	assert.Contains(t, out.String(), "TLS policies")
	assert.Contains(t, out.String(), "200 distinct domains")
	assert.Contains(t, out.String(), "0 failed")
	assert.Contains(t, out.String(), "goroutines left afterwards: 0")
}
