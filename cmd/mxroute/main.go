// Command mxroute shows what a standards-following SMTP client does with a
// mail domain, and what in its DNS will hurt delivery.
//
//	mxroute route   [flags] DOMAIN...   the delivery plan: hosts and addresses in order, or the verdict
//	mxroute explain [flags] DOMAIN...   the same, with every decision and the rule behind it
//	mxroute lint    [flags] DOMAIN...   checks of the MX setup, each with a severity
//	mxroute version                     the module and Go versions (also --version)
//	mxroute help [COMMAND]              this list, or a command's flags (as COMMAND -h)
//
// A DOMAIN may be given as an address (postmaster@example.com routes
// example.com); flags may come before or after the domains, and "--" ends
// them.
//
// route and explain exit as MTAs do, after sysexits(3): 0 every domain
// routed, 75 (EX_TEMPFAIL) some domain failed temporarily (defer), 69
// (EX_UNAVAILABLE) some domain failed permanently (bounce) and none
// temporarily. lint exits 0 when it finds nothing (or info only), 1 when it
// finds warnings only, 2 when it finds an error. Every command exits 64 (EX_USAGE) on bad
// arguments and 66 (EX_NOINPUT) when a zone file or the --from file cannot
// be read.
//
// The command uses only the public API of github.com/mxroute-go/mxroute.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// Exit statuses (sysexits.h) and lint's own.
const (
	exitOK          = 0
	exitLintWarn    = 1
	exitLintError   = 2
	exitUsage       = 64
	exitNoInput     = 66
	exitUnavailable = 69
	exitTempFail    = 75
)

const usage = `usage: mxroute COMMAND [flags] DOMAIN...

Commands:
  route    the delivery plan of each domain: hosts and addresses in the order
           to try, hosts dropped or unusable and why, or the verdict (defer or
           bounce) with its status code
  explain  the same route with every decision in order and the rule behind it
  lint     check each domain's MX setup; exit 0 clean, 1 warnings, 2 errors
  version  the module version and the Go version it was built with

A DOMAIN may be an address: postmaster@example.com routes example.com.
Flags may come before or after the domains; "--" ends them.
Run "mxroute help COMMAND" (or "mxroute COMMAND -h") for a command's flags.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command: it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	env := &env{stdin: stdin, stdout: stdout, stderr: stderr}
	switch args[0] {
	case "route":
		return runRoute(ctx, args[1:], env, false)
	case "explain":
		return runRoute(ctx, args[1:], env, true)
	case "lint":
		return runLint(ctx, args[1:], env)
	case "version", "-version", "--version":
		if len(args) > 1 {
			fmt.Fprintf(stderr, "mxroute version: takes no arguments (got %q)\n", args[1])
			return exitUsage
		}
		fmt.Fprintln(stdout, versionLine())
		return exitOK
	case "help", "-h", "-help", "--help":
		switch {
		case len(args) == 1:
			fmt.Fprint(stdout, usage)
			return exitOK
		case len(args) > 2:
			fmt.Fprintf(stderr, "mxroute help: one command at a time (got %d)\n", len(args)-1)
			return exitUsage
		case args[1] == "version" || args[1] == "help":
			fmt.Fprint(stdout, usage)
			return exitOK
		case args[1] == "route" || args[1] == "explain" || args[1] == "lint":
			// Exactly what "mxroute COMMAND --help" prints.
			return run(ctx, []string{args[1], "--help"}, stdin, stdout, stderr)
		}
		fmt.Fprintf(stderr, "mxroute help: unknown command %q (want route, explain, lint or version)\n", esc(args[1]))
		return exitUsage
	}
	fmt.Fprintf(stderr, "mxroute: unknown command %q (want route, explain, lint, version or help)\n", args[0])
	return exitUsage
}

// env is where a command reads and writes.
type env struct {
	stdin          io.Reader
	stdout, stderr io.Writer
}
