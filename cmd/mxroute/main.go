// Command mxroute shows where a standards-following SMTP client delivers
// mail for a domain: the hosts and addresses it tries, in order, or why it
// defers or bounces.
//
//	mxroute route [flags] DOMAIN...
//
// Exit status follows sysexits(3), as MTAs use it: 0 every domain routed,
// 75 (EX_TEMPFAIL) some domain failed temporarily (defer), 69
// (EX_UNAVAILABLE) some domain failed permanently (bounce) and none
// temporarily, 64 (EX_USAGE) bad arguments, 66 (EX_NOINPUT) a zone file
// could not be read.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
)

// Exit statuses (sysexits.h).
const (
	exitOK          = 0
	exitUsage       = 64
	exitNoInput     = 66
	exitUnavailable = 69
	exitTempFail    = 75
)

const usage = `usage: mxroute route [flags] DOMAIN...

Commands:
  route   print the delivery route of each domain: hosts and addresses in
          the order to try, or the verdict (defer or bounce) and its status code

Run "mxroute route -h" for the flags.
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// run is the whole command, for tests: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "route":
		return runRoute(ctx, args[1:], stdout, stderr)
	case "-h", "-help", "--help", "help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "mxroute: unknown command %q\n%s", args[0], usage)
	return exitUsage
}
