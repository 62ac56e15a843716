package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sync"
)

// forEach runs work on every domain with at most workers at once and hands
// the results to emit in input order, as soon as each one's predecessors
// are out.
func forEach[R any](ctx context.Context, domains []string, workers int, work func(context.Context, string) R, emit func(int, string, R)) {
	results := make([]R, len(domains))
	done := make([]chan struct{}, len(domains))
	for i := range done {
		done[i] = make(chan struct{})
	}
	go func() {
		sem := make(chan struct{}, workers)
		var wg sync.WaitGroup
		for i, d := range domains {
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				results[i] = work(ctx, d)
				close(done[i])
			})
		}
		wg.Wait()
	}()
	var zero R
	for i, d := range domains {
		<-done[i]
		emit(i, d, results[i])
		results[i] = zero // a long --from file keeps only what waits for output
	}
}

// progress reports on stderr how many domains are done. On a terminal it
// rewrites one line; elsewhere (--progress on) it writes a line at every
// tenth of the way, so that a log stays short. Counts follow the output
// order, so what it prints does not depend on scheduling. When stdout is
// the same terminal, the line is cleared before each record is written
// (clear), so that records and the count never share a line.
type progress struct {
	w        io.Writer
	total    int
	terminal bool
	sameTerm bool // stdout is the terminal stderr is
	shown    bool // a count is on the terminal's current line
	last     int  // tenths reported
}

// newProgress returns nil when no progress is to be shown.
func newProgress(mode string, fromFile bool, total int, stdout, stderr io.Writer) *progress {
	terminal := isTerminal(stderr)
	switch {
	case mode == "off", mode == "auto" && !(fromFile && terminal):
		return nil
	}
	return &progress{w: stderr, total: total, terminal: terminal, sameTerm: terminal && sameFile(stdout, stderr)}
}

// clear erases the count from the terminal line before a record is
// written to the same terminal: carriage return, then EL (erase to the end
// of the line, ECMA-48 CSI K).
func (p *progress) clear() {
	if p == nil || !p.sameTerm || !p.shown {
		return
	}
	fmt.Fprint(p.w, "\r\x1b[K")
	p.shown = false
}

func (p *progress) step(done int) {
	if p == nil {
		return
	}
	if p.terminal {
		if p.sameTerm {
			p.clear()
			fmt.Fprintf(p.w, "mxroute: %d/%d domains", done, p.total)
		} else {
			fmt.Fprintf(p.w, "\rmxroute: %d/%d domains", done, p.total)
		}
		p.shown = true
		if done == p.total {
			fmt.Fprintln(p.w)
			p.shown = false
		}
		return
	}
	if tenth := done * 10 / p.total; tenth > p.last || done == p.total {
		p.last = tenth
		fmt.Fprintf(p.w, "mxroute: %d/%d domains\n", done, p.total)
	}
}

// sameFile reports whether a and b are the same open file, such as one
// terminal.
func sameFile(a, b io.Writer) bool {
	fa, ok1 := a.(*os.File)
	fb, ok2 := b.(*os.File)
	if !ok1 || !ok2 {
		return false
	}
	sa, err1 := fa.Stat()
	sb, err2 := fb.Stat()
	return err1 == nil && err2 == nil && os.SameFile(sa, sb)
}

// isTerminal reports whether w is a character device, such as a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
