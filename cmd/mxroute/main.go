// Command mxroute shows what a standards-following SMTP client does with a
// mail domain, and what in its DNS will hurt delivery.
//
//	mxroute route   [flags] DOMAIN...   the delivery plan: hosts and addresses in order, or the verdict
//	mxroute explain [flags] DOMAIN...   the same, with every decision and the rule behind it
//	mxroute lint    [flags] DOMAIN...   checks of the MX setup, each with a severity
//	mxroute probe   [flags] DOMAIN...   every address connected to: greeting, STARTTLS, certificate, reverse DNS; findings as lint's
//	mxroute report  --file FILE --domain DOMAIN [--day DAY]
//	                                    a day's TLS report (RFC 8460) from the Dialer's counters
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
// temporarily. lint and probe exit 0 when they find nothing (or info only),
// 1 when they find warnings only, 2 when they find an error. report exits 0
// when it printed the report, 65 (EX_DATAERR) when some counters could not
// be read, 69 when the file could not be. Every command exits 64
// (EX_USAGE) on bad arguments and 66 (EX_NOINPUT) when a zone file or the
// --from file cannot be read, or report's --file does not exist.
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

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run is the whole command: it returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, overview(cmdHelp))
		return exitUsage
	}
	c := lookup(args[0], true)
	if c == nil {
		fmt.Fprintf(stderr, "mxroute: unknown command %q (want %s)\n", args[0], names(nil))
		return exitUsage
	}
	return c.exec(ctx, &env{cmd: c, stdin: stdin, stdout: stdout, stderr: stderr}, args[1:])
}

// env is the command running and where it reads and writes.
type env struct {
	cmd            *command
	stdin          io.Reader
	stdout, stderr io.Writer
}
