package main

import (
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// README's examples are real output: every "go run ./cmd/mxroute ..." block
// followed by an output block gives that output when run from the
// repository's root.
func TestREADME(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../../README.md")
	require.NoError(t, err)
	example := regexp.MustCompile("(?s)```\ngo run ./cmd/mxroute ([^\n]*)\n```\n```\n(.*?)```\n")
	matches := example.FindAllStringSubmatch(string(readme), -1)
	require.GreaterOrEqual(t, len(matches), 10, "README documents each subcommand with output")
	seen := map[string]bool{}
	for _, m := range matches {
		args := strings.Fields(m[1])
		seen[args[0]] = true
		cmd := exec.Command(binary, args...)
		cmd.Dir = "../.."
		out, _ := cmd.Output() // the exit status is checked by the other tests
		assert.Equal(t, m[2], string(out), "README: go run ./cmd/mxroute %s", m[1])
	}
	assert.Equal(t, map[string]bool{"route": true, "explain": true, "lint": true}, seen)

	// The --dnssec example needs a server; it is the golden output of
	// TestDNSSECGolden (its first domain).
	golden, err := os.ReadFile("testdata/route_dnssec.golden")
	require.NoError(t, err)
	first, _, _ := strings.Cut(string(golden), "\n\n")
	assert.Contains(t, string(readme), "```\n"+first+"\n```\n", "README's --dnssec example is route_dnssec.golden's first domain")
}
