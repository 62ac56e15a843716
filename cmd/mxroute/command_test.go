package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The command table is whole: every name and alias runs one command, a
// command with flags has the texts its help is written from, and the
// package doc (go doc's page of the command) lists every command.
func TestCommandTable(t *testing.T) {
	t.Parallel()
	src, err := os.ReadFile("main.go")
	require.NoError(t, err)
	doc, _, _ := strings.Cut(string(src), "\npackage main")
	seen := map[string]bool{}
	for _, c := range commands {
		for _, n := range append([]string{c.name}, c.aliases...) {
			assert.False(t, seen[n], "%s: one command per name", n)
			seen[n] = true
			assert.Same(t, c, lookup(n, true), n)
		}
		assert.Same(t, c, lookup(c.name, false))
		assert.Contains(t, doc, "//\tmxroute "+c.name+" ", "main.go's package doc lists %s", c.name)
		if c.flags == nil {
			assert.NotNil(t, c.run, "%s: a command without flags has a run", c.name)
			continue
		}
		assert.Nil(t, c.run, "%s: a command with flags runs through its runner", c.name)
		assert.NotEmpty(t, c.args, c.name)
		assert.NotEmpty(t, c.short, "%s: listed in the overview", c.name)
		assert.True(t, strings.HasSuffix(c.long, ".\n"), "%s: its long text is sentences ending in a newline", c.name)
	}
	for _, alias := range cmdHelp.aliases {
		assert.Nil(t, lookup(alias, false), "help's argument is a name, not an alias")
	}
}

// The overview is the table's: each command with a short line is listed
// under its name, wrapped under it; unknown commands are told the names.
func TestOverview(t *testing.T) {
	t.Parallel()
	o := overview(cmdHelp)
	for _, c := range commands {
		if c.short == "" {
			assert.NotContains(t, o, "\n  "+c.name+" ", c.name)
			continue
		}
		line := "\n  " + c.name + strings.Repeat(" ", len("explain")-len(c.name)+2)
		assert.Contains(t, o, line, c.name)
		assert.Contains(t, strings.Join(strings.Fields(o), " "), c.short, "%s: its short line, whole", c.name)
	}
	assert.Equal(t, "route, explain, lint, probe, report, version or help", names(nil))
	assert.Equal(t, "route, explain, lint, probe, report or version", names(cmdHelp))
}

// The manual's tables of checks are allChecks' and probeChecks', in the
// same order with the same severities, rules and texts; go test
// ./cmd/mxroute -update writes them. Each is the table after its comment,
// on one page of the manual (README, or a page under docs/).
func TestDocTables(t *testing.T) { // not parallel: -update writes a file TestREADME reads
	pages := []string{"../../README.md"}
	if more, err := filepath.Glob("../../docs/*.md"); err == nil {
		pages = append(pages, more...)
	}
	for _, table := range []struct {
		marker string // the comment the table follows
		checks []check
	}{
		{"<!-- This table is allChecks' ", allChecks},
		{"<!-- This table is probeChecks' ", probeChecks},
	} {
		want := checksTable(table.checks)
		var found []string
		for _, page := range pages {
			data, err := os.ReadFile(page)
			require.NoError(t, err)
			text := string(data)
			at := strings.Index(text, table.marker)
			if at < 0 {
				continue
			}
			found = append(found, page)
			start := at + strings.IndexByte(text[at:], '\n') + 1
			end := start
			for end < len(text) && text[end] == '|' {
				end += strings.IndexByte(text[end:], '\n') + 1
			}
			if *update {
				require.NoError(t, os.WriteFile(page, []byte(text[:start]+want+text[end:]), 0o644))
				continue
			}
			assert.Equal(t, want, text[start:end], "%s: the table after %q (go test ./cmd/mxroute -update rewrites it)", page, table.marker)
		}
		assert.Len(t, found, 1, "one page of the manual has the table after %q: %v", table.marker, found)
	}
}
