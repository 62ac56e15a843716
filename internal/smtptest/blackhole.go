//go:build unix

package smtptest

import (
	"fmt"
	"net"
	"os"
	"syscall"
	"testing"
)

// A Blackhole is a loopback address whose kernel drops every SYN, as a
// firewall that drops packets does: a connect there neither succeeds nor is
// refused, it waits until the dialer's own timeout, the SYN retransmitted
// meanwhile.
//
// It needs no privileges and no packet filter: a listening socket whose
// accept queue is full, on Linux, drops each incoming SYN (the
// ListenOverflows counter of nstat) instead of answering it, and the client
// retransmits as it would into a black hole. The listener is made with
// listen(2) backlog 0, which lets one connection queue; Blackhole makes that
// connection itself and never accepts it, so the queue stays full. The
// connecting side goes through the real kernel path (SYN, retransmissions,
// the dialer's deadline), which is what a Dialer meets when a host's
// address is blackholed.
type Blackhole struct {
	Addr string // "127.0.0.1:port"

	ln   net.Listener
	fill net.Conn
}

// NewBlackhole makes a Blackhole; Close releases it.
func NewBlackhole() (*Blackhole, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		return nil, fmt.Errorf("blackhole: socket: %w", err)
	}
	syscall.CloseOnExec(fd)
	f := os.NewFile(uintptr(fd), "blackhole")
	defer f.Close() // net.FileListener works on a duplicate
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		return nil, fmt.Errorf("blackhole: bind: %w", err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		return nil, fmt.Errorf("blackhole: listen: %w", err)
	}
	ln, err := net.FileListener(f)
	if err != nil {
		return nil, fmt.Errorf("blackhole: %w", err)
	}
	b := &Blackhole{Addr: ln.Addr().String(), ln: ln}
	if b.fill, err = net.Dial("tcp", b.Addr); err != nil {
		_ = ln.Close()
		return nil, fmt.Errorf("blackhole: filling the accept queue: %w", err)
	}
	return b, nil
}

// ServeBlackhole makes a Blackhole for the test; it is closed when the test
// ends.
func ServeBlackhole(t testing.TB) *Blackhole {
	t.Helper()
	b, err := NewBlackhole()
	if err != nil {
		t.Fatalf("smtptest: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

// Close releases the listener and the connection that fills it.
func (b *Blackhole) Close() {
	_ = b.fill.Close()
	_ = b.ln.Close()
}
