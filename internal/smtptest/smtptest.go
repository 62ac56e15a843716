// Package smtptest runs the servers a mail client meets before its first
// command, on loopback, over real sockets: one that greets, one that rejects,
// one that says nothing, one that resets, a closed port, and a listener that
// drops every SYN (Blackhole). Tests and harnesses map the addresses of their
// zones to these with a DialContext hook. MailServer (starttls.go) is a real
// github.com/emersion/go-smtp server with STARTTLS for the TLS-policy tests.
// Only tests and harnesses import it, so go-smtp stays out of the library.
package smtptest

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// A Server accepts TCP connections on 127.0.0.1 and plays its Behaviour
// with each one; then it reads what the client sends until the client
// closes the connection.
type Server struct {
	Addr string // "127.0.0.1:port"

	ln   net.Listener
	play Behaviour
	wg   sync.WaitGroup

	mu       sync.Mutex
	conns    map[net.Conn]bool
	accepted int
	closed   int      // connections the client closed (EOF or reset seen)
	received []string // what each closed connection's client sent, in the order closed
	changed  chan struct{}
}

// A Behaviour is what a Server does with a connection before it waits for
// the client: write a greeting, wait, reset. It returns false when it has
// closed the connection itself.
type Behaviour func(c *net.TCPConn) bool

// Greet writes each of lines followed by CRLF, at once, and keeps the
// connection open.
func Greet(lines ...string) Behaviour {
	return Write(strings.Join(lines, "\r\n") + "\r\n")
}

// Write writes s as it is and keeps the connection open.
func Write(s string) Behaviour {
	return func(c *net.TCPConn) bool {
		_, _ = io.WriteString(c, s)
		return true
	}
}

// After waits d (or until the connection is closed), then plays b.
func After(d time.Duration, b Behaviour) Behaviour {
	return func(c *net.TCPConn) bool {
		buf := make([]byte, 1)
		_ = c.SetReadDeadline(time.Now().Add(d))
		if _, err := c.Read(buf); !isTimeout(err) {
			return true // the client spoke or left: what follows reads the rest
		}
		_ = c.SetReadDeadline(time.Time{})
		return b(c)
	}
}

// Converse greets with greeting (a line without its CRLF), then answers
// each command the client sends (its line without the line end, e.g.
// "EHLO client.test") with answer(command), written as it is (replies end
// in CRLF); an empty answer closes the connection. When upgrade is not nil
// it takes the connection over after an answer to STARTTLS that begins
// with "220": it gets the socket and the reader holding anything already
// received, to run a TLS handshake, break one, or stall. The client
// leaving ends the conversation; the Server counts it closed.
func Converse(greeting string, answer func(cmd string) string, upgrade func(c net.Conn, br *bufio.Reader)) Behaviour {
	return func(c *net.TCPConn) bool {
		if _, err := io.WriteString(c, greeting+"\r\n"); err != nil {
			return true
		}
		br := bufio.NewReader(c)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return true // the client left (or Close): serve sees the rest
			}
			cmd := strings.TrimRight(line, "\r\n")
			out := answer(cmd)
			if out == "" {
				_ = c.Close()
				return false
			}
			if _, err := io.WriteString(c, out); err != nil {
				return true
			}
			if upgrade != nil && strings.EqualFold(cmd, "STARTTLS") && strings.HasPrefix(out, "220") {
				upgrade(c, br)
				return true
			}
		}
	}
}

// Silent accepts and says nothing.
func Silent() Behaviour { return func(*net.TCPConn) bool { return true } }

// Reset closes the connection with a TCP reset, right after accepting it.
func Reset() Behaviour {
	return func(c *net.TCPConn) bool {
		_ = c.SetLinger(0)
		_ = c.Close()
		return false
	}
}

// Hangup writes s and closes the connection normally (FIN).
func Hangup(s string) Behaviour {
	return func(c *net.TCPConn) bool {
		_, _ = io.WriteString(c, s)
		_ = c.Close()
		return false
	}
}

// Serve starts a Server playing b; it stops when the test ends, closing
// every connection still open.
func Serve(t testing.TB, b Behaviour) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	s := Start(ln, b)
	t.Cleanup(s.Close)
	return s
}

// Start runs a Server playing b on ln until Close.
func Start(ln net.Listener, b Behaviour) *Server {
	s := &Server{Addr: ln.Addr().String(), ln: ln, play: b, conns: map[net.Conn]bool{}, changed: make(chan struct{})}
	s.wg.Go(s.accept)
	return s
}

func (s *Server) accept() {
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.conns[c] = true
		s.accepted++
		s.notify()
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(c.(*net.TCPConn)) })
	}
}

func (s *Server) serve(c *net.TCPConn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.notify()
		s.mu.Unlock()
		_ = c.Close()
	}()
	if !s.play(c) {
		return
	}
	got, err := io.ReadAll(c)
	if err != nil && !errors.Is(err, syscall.ECONNRESET) {
		return // closed by Close, not by the client
	}
	s.mu.Lock()
	s.closed++
	s.received = append(s.received, string(got))
	s.mu.Unlock()
}

// notify wakes the waiters of Wait. s.mu is held.
func (s *Server) notify() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Stats returns how many connections were accepted, how many of them the
// client has closed, and what each of those clients sent.
func (s *Server) Stats() (accepted, closed int, received []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.accepted, s.closed, append([]string(nil), s.received...)
}

// WaitClosed waits until the clients have closed n connections, or ctx ends;
// it reports whether they did.
func (s *Server) WaitClosed(ctx context.Context, n int) bool {
	for {
		s.mu.Lock()
		closed, ch := s.closed, s.changed
		s.mu.Unlock()
		if closed >= n {
			return true
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return false
		}
	}
}

// Close stops the server and closes its connections.
func (s *Server) Close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// ClosedPort returns a loopback address where nothing listens: a connect
// there is refused. (The port was free a moment ago; another process may
// take it, which no test on this machine does.)
func ClosedPort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
