package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
)

// A command is one verb of mxroute: a row of the table that run dispatches
// on and help is written from. The go command's base.Command is the model:
// a usage line, a short line for the list, a long text for its own help,
// its flags and its run. A command's name is written in its row only: every
// message and help text that names it reads it from there.
type command struct {
	name    string   // as typed: "route"
	aliases []string // other spellings that run it ("--version"); never listed
	args    string   // the usage line after the name: "[flags] DOMAIN..."
	// short is the command's entry in "mxroute help", wrapped to fit;
	// "" leaves it out of the list (help, which the list's last line
	// explains).
	short string
	// long is what "mxroute help NAME" and "mxroute NAME -h" print between
	// the usage line and the flags, ending with a newline.
	long string

	// flags defines the command's flags on fs, bound to a runner made for
	// this one run, and returns it: the command owns its flags, their
	// checks and its run, and nothing of a run is kept in a global. nil:
	// the command takes its arguments as they come (run).
	flags func(fs *flag.FlagSet) runner
	// run is the whole of a command without flags (version, help). Its
	// help is the overview, whose list is its documentation.
	run func(ctx context.Context, e *env, args []string) int
}

// A runner is one run of a command with flags, made by command.flags with
// its flags defined.
type runner interface {
	// check validates the flags once parsed, takes the arguments left
	// (the domains) and reads the inputs they name. It returns a
	// *usageError (exit 64) or an *inputError (exit 66).
	check(args []string, e *env) error
	// run does the work and returns the exit status.
	run(ctx context.Context, e *env) int
}

// commands is the table, in the order "mxroute help" lists the commands.
// It is set in init, as the go command sets its own, because help reads it:
// initialized where it is declared, it would be an initialization cycle
// (commands, cmdHelp, runHelp, commands). A new command is a file with its
// row and one entry here.
var commands []*command

func init() {
	commands = []*command{cmdRoute, cmdExplain, cmdLint, cmdProbe, cmdReport, cmdVersion, cmdHelp}
}

// lookup returns the command named (or spelled, with aliases) name, or nil.
func lookup(name string, aliases bool) *command {
	for _, c := range commands {
		if c.name == name || aliases && slices.Contains(c.aliases, name) {
			return c
		}
	}
	return nil
}

// names lists the commands' names but except's, for messages: "route,
// explain, lint or version".
func names(except *command) string {
	var list []string
	for _, c := range commands {
		if c != except {
			list = append(list, c.name)
		}
	}
	if len(list) < 2 {
		return strings.Join(list, "")
	}
	return strings.Join(list[:len(list)-1], ", ") + " or " + list[len(list)-1]
}

// exec runs the command with the arguments after its name: the flags
// (anywhere among them, see splitArgs), their checks, then the run. A bad
// flag or argument is one line on stderr naming the command.
func (c *command) exec(ctx context.Context, e *env, args []string) int {
	if c.flags == nil {
		return c.run(ctx, e, args)
	}
	fs, r := c.flagSet()
	flagArgs, positional := splitArgs(fs, args)
	if err := fs.Parse(flagArgs); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			c.usage(e.stdout)
			return exitOK
		}
		fmt.Fprintf(e.stderr, "mxroute %s: %s (see mxroute %s -h)\n", c.name, esc(err.Error()), c.name)
		return exitUsage
	}
	if err := r.check(positional, e); err != nil {
		fmt.Fprintf(e.stderr, "mxroute %s: %s\n", c.name, esc(err.Error()))
		if ie := (*inputError)(nil); errors.As(err, &ie) {
			return exitNoInput
		}
		return exitUsage
	}
	return r.run(ctx, e)
}

// flagSet returns a FlagSet with the command's flags and the runner they
// are bound to. Errors are the caller's to print (one line, see exec) and
// -h its usage, on stdout.
func (c *command) flagSet() (*flag.FlagSet, runner) {
	fs := flag.NewFlagSet("mxroute "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs, c.flags(fs)
}

// usage writes the help of a command with flags: its usage line, its long
// text and its flags.
func (c *command) usage(w io.Writer) {
	fmt.Fprintf(w, "usage: mxroute %s %s\n\n%s\nFlags:\n", c.name, c.args, c.long)
	fs, _ := c.flagSet()
	fs.SetOutput(w)
	fs.PrintDefaults()
}

// usageError is a bad argument: exit 64, one line.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// inputError is an unreadable zone or domain file: exit 66, one line.
type inputError struct{ err error }

func (e *inputError) Error() string { return e.err.Error() }

// splitArgs separates flags (with their values) from positional arguments,
// so that flags may follow the domains, as operators type them
// ("mxroute route example.com --json"). "--" ends the flags: everything
// after it is a domain, even one that starts with "-". A flag that takes a
// value takes the next argument unless given as --flag=value; whatever the
// flag package rejects ("---x", an unknown flag) is left to it.
func splitArgs(fs *flag.FlagSet, args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			return flags, append(positional, args[i+1:]...)
		case len(a) < 2 || a[0] != '-':
			positional = append(positional, a) // "-" alone is an argument too
			continue
		}
		flags = append(flags, a)
		name := strings.TrimPrefix(strings.TrimPrefix(a, "-"), "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := fs.Lookup(name)
		if f == nil {
			continue // the flag package reports it
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}
