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
// order, so what it prints does not depend on scheduling.
type progress struct {
	w        io.Writer
	total    int
	terminal bool
	last     int // tenths reported
}

// newProgress returns nil when no progress is to be shown.
func newProgress(mode string, fromFile bool, total int, stderr io.Writer) *progress {
	terminal := isTerminal(stderr)
	switch {
	case mode == "off", mode == "auto" && !(fromFile && terminal):
		return nil
	}
	return &progress{w: stderr, total: total, terminal: terminal}
}

func (p *progress) step(done int) {
	if p == nil {
		return
	}
	if p.terminal {
		fmt.Fprintf(p.w, "\rmxroute: %d/%d domains", done, p.total)
		if done == p.total {
			fmt.Fprintln(p.w)
		}
		return
	}
	if tenth := done * 10 / p.total; tenth > p.last || done == p.total {
		p.last = tenth
		fmt.Fprintf(p.w, "mxroute: %d/%d domains\n", done, p.total)
	}
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
