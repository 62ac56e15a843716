package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"
	"strings"
)

var cmdVersion = &command{
	name:    "version",
	aliases: []string{"-version", "--version"},
	short:   "the module version and the Go version it was built with",
	run:     runVersion,
}

func runVersion(_ context.Context, e *env, args []string) int {
	if len(args) > 0 {
		fmt.Fprintf(e.stderr, "mxroute %s: takes no arguments (got %q)\n", e.cmd.name, args[0])
		return exitUsage
	}
	fmt.Fprintln(e.stdout, versionLine())
	return exitOK
}

// versionLine is what "mxroute version" prints: the module's version as
// the build recorded it (a tag with go install ...@v1.2.3, a pseudo-version
// from the VCS stamp of a checkout, "(devel)" without one), the VCS
// revision when known, and the Go toolchain.
func versionLine() string {
	version, rev := "(unknown)", ""
	if bi, ok := debug.ReadBuildInfo(); ok {
		version = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				rev = s.Value[:12]
			}
		}
		if version == "" {
			version = "(devel)"
		}
	}
	if rev != "" && !strings.Contains(version, rev) {
		version += " (" + rev + ")"
	}
	return fmt.Sprintf("mxroute %s, %s %s/%s", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}
