package main

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// TestMain serves DNS when the harness re-executes the test binary as its
// server; otherwise it runs the tests.
func TestMain(m *testing.M) {
	if os.Getenv(serveEnv) != "" {
		if err := serve(os.Stdin, os.Stdout); err != nil {
			fmt.Fprintln(os.Stderr, "load server:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}

// TestRun runs the harness tiny, so that it keeps compiling and working
// (the server in its own process included); its numbers are not checked.
func TestRun(t *testing.T) {
	var out strings.Builder
	cfg := config{Domains: 300, InFlight: []int{10, 50}, Reps: 2, Hosts: 2, Timeout: 2 * time.Second, Attempts: 2}
	require.NoError(t, run(t.Context(), cfg, &out))
	t.Log("\n" + out.String())
	var rows int
	for _, l := range strings.Split(out.String(), "\n") {
		f := strings.Fields(l)
		if len(f) == 9 && (f[0] == "10" || f[0] == "50") {
			rows++
			assert.Equal(t, "0", f[3], "no route failed: %s", l)
		}
	}
	assert.Equal(t, 4, rows, "a row per level and rep")
	assert.Contains(t, out.String(), "medians over 2 reps")
	assert.NotContains(t, out.String(), "errors of failed routes")
}

func TestDigits(t *testing.T) {
	assert.Equal(t, `mxroute: "d#.load.test": server #.#.#.#:#: no reply within #s`, digits(`mxroute: "d123.load.test": server 127.0.0.1:4242: no reply within 2s`))
}
