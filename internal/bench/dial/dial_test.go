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

// TestRun runs the harness tiny and fast, so that it keeps compiling and
// working; its numbers are not checked (no timing assertions in tests).
func TestRun(t *testing.T) {
	var out strings.Builder
	cfg := config{RTT: time.Millisecond, Stagger: 20 * time.Millisecond, ConnectTimeout: 300 * time.Millisecond, Runs: 2, Messages: 20}
	require.NoError(t, run(t.Context(), cfg, &out))
	t.Log("\n" + out.String())
	for _, s := range scenarios {
		assert.Contains(t, out.String(), "\n"+s.about, "one row per scenario")
	}
	assert.Contains(t, out.String(), "target: with Stagger")
	assert.Contains(t, out.String(), "(m) MemoryBackoff", "the backoff part")
	assert.Contains(t, out.String(), "(m): mean")
	assert.Contains(t, out.String(), "goroutines left afterwards: 0")
}
