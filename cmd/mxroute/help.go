package main

import (
	"context"
	"fmt"
	"strings"
)

var cmdHelp = &command{
	name:    "help",
	aliases: []string{"-h", "-help", "--help"},
	args:    "[COMMAND]",
	run:     runHelp,
}

// runHelp prints the overview, or a command's help: for a command with
// flags what "mxroute COMMAND -h" prints, for one without (version, help)
// the overview, whose list says all there is.
func runHelp(_ context.Context, e *env, args []string) int {
	switch {
	case len(args) == 0:
		fmt.Fprint(e.stdout, overview(e.cmd))
		return exitOK
	case len(args) > 1:
		fmt.Fprintf(e.stderr, "mxroute %s: one command at a time (got %d)\n", e.cmd.name, len(args))
		return exitUsage
	}
	c := lookup(args[0], false)
	switch {
	case c == nil:
		fmt.Fprintf(e.stderr, "mxroute %s: unknown command %q (want %s)\n", e.cmd.name, esc(args[0]), names(e.cmd))
		return exitUsage
	case c.flags == nil:
		fmt.Fprint(e.stdout, overview(e.cmd))
	default:
		c.usage(e.stdout)
	}
	return exitOK
}

// overviewWidth is the width the overview's list is wrapped to.
const overviewWidth = 78

// overview is "mxroute help": the commands of the table with their short
// lines, and what every command shares. help is the help command, named in
// the last line.
func overview(help *command) string {
	var b strings.Builder
	b.WriteString("usage: mxroute COMMAND [flags] DOMAIN...\n\nCommands:\n")
	width := 0
	for _, c := range commands {
		if c.short != "" {
			width = max(width, len(c.name))
		}
	}
	for _, c := range commands {
		if c.short == "" {
			continue
		}
		for i, line := range wrap(c.short, overviewWidth-2-width-2) {
			name := ""
			if i == 0 {
				name = c.name
			}
			fmt.Fprintf(&b, "  %-*s  %s\n", width, name, line)
		}
	}
	fmt.Fprintf(&b, `
A DOMAIN may be an address: postmaster@example.com routes example.com.
Flags may come before or after the domains; "--" ends them.
Run "mxroute %s COMMAND" (or "mxroute COMMAND -h") for a command's flags.
`, help.name)
	return b.String()
}
