// Package integration runs real DNS servers for the tests: BIND 9 (named),
// authoritative for test zones, and Unbound, a validating recursive
// resolver in front of it, each on a free loopback port, configured in a
// temporary directory and stopped when the test ends. Tests that need them
// skip when the binaries are missing, except under CI=true, where a missing
// binary is a failure (.ci/run installs them).
package integration

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// Need returns the paths of the named binaries. When one is missing it
// skips the test, or fails it when the environment says CI=true: CI must
// run the real-server suite, never skip it silently.
func Need(t testing.TB, names ...string) map[string]string {
	t.Helper()
	paths := map[string]string{}
	for _, name := range names {
		p, err := lookPath(name)
		if err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("integration: %s is required under CI=true (apt-get install bind9 bind9-utils unbound): %v", name, err)
			}
			t.Skipf("integration: %s not installed: %v", name, err)
		}
		paths[name] = p
	}
	return paths
}

// lookPath finds a binary on PATH or in the sbin directories, which a
// non-root PATH may lack.
func lookPath(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	for _, dir := range []string{"/usr/sbin", "/sbin", "/usr/local/sbin"} {
		p := filepath.Join(dir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// A Zone is a master file for BIND.
type Zone struct {
	Origin string // with the trailing dot
	Data   string // the file's text
}

// A Server is a running daemon.
type Server struct {
	Addr string // "127.0.0.1:port", UDP and TCP
	Dir  string // its configuration directory
	log  *syncBuffer
}

// Log is what the daemon has written to stderr so far.
func (s *Server) Log() string { return s.log.String() }

// StartBIND starts named, authoritative only, for zones (files written as
// given; a zone whose file is already in dir, e.g. a signed one, is loaded
// from there when Data is empty).
func StartBIND(t testing.TB, named, dir string, zones []Zone) *Server {
	t.Helper()
	var conf strings.Builder
	port := freePort(t)
	fmt.Fprintf(&conf, `options {
	directory %q;
	pid-file %q;
	session-keyfile %q;
	listen-on port %d { 127.0.0.1; };
	listen-on-v6 { none; };
	recursion no;
	dnssec-validation no;
	notify no;
	allow-transfer { none; };
	minimal-responses no;
	// The vector zone plants MX and CNAME targets that are no host names
	// on purpose (RFC 1123, Section 2.1): serve them, so that the sender's
	// own check is what is tested.
	check-names primary ignore;
};
`, dir, filepath.Join(dir, "named.pid"), filepath.Join(dir, "session.key"), port)
	for _, z := range zones {
		file := strings.TrimSuffix(z.Origin, ".") + ".zone"
		if z.Origin == "." {
			file = "root.zone"
		}
		if z.Data != "" {
			if err := os.WriteFile(filepath.Join(dir, file), []byte(z.Data), 0o644); err != nil {
				t.Fatalf("integration: %v", err)
			}
		}
		fmt.Fprintf(&conf, "zone %q { type primary; file %q; };\n", z.Origin, file)
	}
	confPath := filepath.Join(dir, "named.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatalf("integration: %v", err)
	}
	// -g: foreground, log to stderr; -n 1: one worker thread, enough here.
	// It runs as the current user: no -u.
	s := start(t, "named", named, dir, port, "-g", "-n", "1", "-c", confPath)
	return s
}

// StartUnbound starts a validating recursive Unbound that reaches the test
// zones through stub zones pointing at bind (and the root too, so that it
// never asks the real root servers), with the trust anchors given (DNSKEY or
// DS records in presentation format).
func StartUnbound(t testing.TB, unbound, dir, bind string, stubs []string, anchors []string) *Server {
	t.Helper()
	port := freePort(t)
	host, bport, _ := net.SplitHostPort(bind)
	var conf strings.Builder
	fmt.Fprintf(&conf, `server:
	interface: 127.0.0.1
	port: %d
	do-ip6: no
	do-daemonize: no
	username: ""
	chroot: ""
	directory: %q
	pidfile: %q
	use-syslog: no
	logfile: ""
	verbosity: 1
	num-threads: 1
	access-control: 127.0.0.0/8 allow
	# The stubs are on loopback.
	do-not-query-localhost: no
	# With stub zones, qname minimisation can turn names that do not
	# exist into SERVFAIL (reference.md, known pitfalls).
	qname-minimisation: no
	module-config: "validator iterator"
	val-log-level: 2
	# Short timeouts towards dead servers keep the tests fast, and a slow
	# answer is still an answer: Unbound drops a client's question after
	# discard-timeout (1.9s) without any reply unless told not to.
	unknown-server-time-limit: 50
	infra-cache-min-rtt: 50
	infra-cache-max-rtt: 100
	discard-timeout: 0
	harden-referral-path: no
	target-fetch-policy: "0 0 0 0 0"
`, port, dir, filepath.Join(dir, "unbound.pid"))
	for _, a := range anchors {
		fmt.Fprintf(&conf, "\ttrust-anchor: %q\n", a)
	}
	conf.WriteString("remote-control:\n\tcontrol-enable: no\n")
	for _, z := range append([]string{"."}, stubs...) {
		fmt.Fprintf(&conf, "stub-zone:\n\tname: %q\n\tstub-addr: %s@%s\n", z, host, bport)
	}
	confPath := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(confPath, []byte(conf.String()), 0o644); err != nil {
		t.Fatalf("integration: %v", err)
	}
	return start(t, "unbound", unbound, dir, port, "-d", "-c", confPath)
}

// start runs a daemon, stops it when the test ends, and waits until it
// answers a question over UDP.
func start(t testing.TB, name, path, dir string, port int, args ...string) *Server {
	t.Helper()
	s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), Dir: dir, log: &syncBuffer{}}
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = s.log, s.log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("integration: starting %s: %v", name, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	for {
		select {
		case err := <-exited:
			t.Fatalf("integration: %s exited: %v\n%s", name, err, s.Log())
		case <-ctx.Done():
			t.Fatalf("integration: %s does not answer on %s\n%s", name, s.Addr, s.Log())
		case <-time.After(100 * time.Millisecond):
		}
		m := new(dns.Msg)
		m.SetQuestion(".", dns.TypeSOA)
		c := &dns.Client{Timeout: 300 * time.Millisecond}
		if _, _, err := c.ExchangeContext(ctx, m, s.Addr); err == nil {
			return s // any answer, even REFUSED: it is up
		}
	}
}

// freePort returns a loopback port free for UDP and TCP at the time of the
// call.
func freePort(t testing.TB) int {
	t.Helper()
	for range 20 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("integration: %v", err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		pc.Close()
		if err == nil {
			ln.Close()
			return port
		}
	}
	t.Fatal("integration: no free port")
	return 0
}

// Run runs a command in dir and returns its standard output, failing the
// test (with its standard error) when it fails.
func Run(t testing.TB, dir, path string, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(path, args...)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("integration: %s %s: %v\n%s", path, strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}

// syncBuffer is a bytes.Buffer safe for a daemon's output and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
