package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The examples of README.md and docs/*.md are real output: every
// "go run ./cmd/mxroute ..." block followed by an output block gives that
// output when run from the repository's root.
func TestREADME(t *testing.T) {
	t.Parallel()
	docs, err := filepath.Glob("../../docs/*.md")
	require.NoError(t, err)
	require.NotEmpty(t, docs, "docs/ holds the command manual")
	files := append([]string{"../../README.md"}, docs...)

	example := regexp.MustCompile("(?s)```\ngo run ./cmd/mxroute ([^\n]*)\n```\n```\n(.*?)```\n")
	// A command block followed by any block, so that one the example
	// pattern misses (a language tag, two commands) fails rather than
	// goes unchecked.
	anyExample := regexp.MustCompile("```[a-z]*\ngo run ./cmd/mxroute [^`]*```\n```")
	text := map[string]string{}
	total := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		name, _ := filepath.Rel("../..", file)
		text[name] = string(b)
		matches := example.FindAllStringSubmatch(string(b), -1)
		assert.Len(t, anyExample.FindAllString(string(b), -1), len(matches),
			"%s: every command block followed by an output block has the form the test runs", name)
		total += len(matches)
		for _, m := range matches {
			cmd := exec.Command(binary, strings.Fields(m[1])...)
			cmd.Dir = "../.."
			out, _ := cmd.Output() // the exit status is checked by the other tests
			assert.Equal(t, m[2], string(out), "%s: go run ./cmd/mxroute %s", name, m[1])
		}
	}
	require.GreaterOrEqual(t, total, 10, "the docs show the command with its output")
	assert.NotEmpty(t, example.FindAllString(text["README.md"], -1), "README's Try it runs the command")

	// The command manual documents each subcommand with its output.
	manual := text[filepath.Join("docs", "command.md")]
	seen := map[string]bool{}
	for _, m := range example.FindAllStringSubmatch(manual, -1) {
		seen[strings.Fields(m[1])[0]] = true
	}
	assert.Equal(t, map[string]bool{"route": true, "explain": true, "lint": true}, seen, "docs/command.md")

	// The examples that need servers (DNSSEC, TLS) are golden outputs of
	// the tests that run those servers.
	readGolden := func(name string) string {
		b, err := os.ReadFile("testdata/" + name + ".golden")
		require.NoError(t, err)
		return string(b)
	}
	inManual := func(block, what string) {
		t.Helper()
		assert.True(t, strings.Contains(manual, "```\n"+block+"```\n"), "docs/command.md's %s is this block:\n%s", what, block)
	}
	blocks := strings.Split(readGolden("route_dnssec"), "\n\n")
	inManual(blocks[0]+"\n", "--dnssec example, route_dnssec.golden's first domain")
	blocks = strings.Split(readGolden("route_tls"), "\n\n")
	inManual(blocks[0]+"\n\n"+blocks[1]+"\n", "TLS example, route_tls.golden's first two domains")
	explain := readGolden("explain_tls")
	start := strings.Index(explain, "good.tls.example: TLS\n")
	require.GreaterOrEqual(t, start, 0)
	end := start + strings.Index(explain[start:], "\n\n")
	inManual(explain[start:end+1], "explain TLS block, explain_tls.golden's")
	inManual(readGolden("lint_tls"), "lint TLS example, lint_tls.golden")
	inManual(readGolden("probe_docs"), "probe example, probe_docs.golden")
}
