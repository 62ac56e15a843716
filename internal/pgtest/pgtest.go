// Package pgtest runs a PostgreSQL server for tests and measurements: a
// fresh cluster made by initdb in a temporary directory, the server on a
// free loopback port with its Unix socket in that directory, stopped and
// removed at the end. It uses Debian's postgresql package (the binaries in
// /usr/lib/postgresql/<version>/bin or on PATH). PostgreSQL refuses to run
// as root, so under root (as CI runs) initdb and the server run as the
// "postgres" user that the package creates.
//
// Start is for tests: without PostgreSQL it skips, except under CI=true,
// where a missing server is a failure (.ci/run installs it). The package
// imports no SQL driver: a Server gives a DSN for the caller's own (the
// tests use pgx's database/sql driver).
package pgtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Config says how to run the server. The zero value is for tests.
type Config struct {
	// Durable keeps PostgreSQL's own defaults of fsync, synchronous_commit
	// and full_page_writes, for measurements that should count what a real
	// server pays per commit. Zero: all off, which is faster and loses
	// nothing a test needs (the data dies with the test anyway).
	Durable bool
}

// Server is a running PostgreSQL.
type Server struct {
	// DSN reaches the server over TCP on loopback as the superuser
	// "postgres" (trust authentication), database "postgres":
	// postgres://postgres@127.0.0.1:PORT/postgres?sslmode=disable.
	DSN  string
	Port int
	// Dir holds the cluster (Dir/data) and the Unix socket.
	Dir string

	cmd    *exec.Cmd
	exited chan struct{}
	log    *syncBuffer
	once   sync.Once
	err    error
}

// Log is what the server has written so far.
func (s *Server) Log() string { return s.log.String() }

// Binaries gives the paths of initdb and postgres: on PATH, else from the
// newest /usr/lib/postgresql/<version>/bin.
func Binaries() (initdb, postgres string, err error) {
	initdb, err1 := exec.LookPath("initdb")
	postgres, err2 := exec.LookPath("postgres")
	if err1 == nil && err2 == nil {
		return initdb, postgres, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	version := func(d string) int {
		v, _ := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		return v
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		i, p := filepath.Join(d, "initdb"), filepath.Join(d, "postgres")
		if isExec(i) && isExec(p) {
			return i, p, nil
		}
	}
	return "", "", fmt.Errorf("pgtest: initdb and postgres not found on PATH nor in /usr/lib/postgresql/*/bin (apt-get install postgresql)")
}

func isExec(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Start starts a server for the test and stops it when the test ends. It
// skips the test when PostgreSQL is not installed, or fails it under
// CI=true.
func Start(tb testing.TB) *Server {
	tb.Helper()
	if _, _, err := Binaries(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("%v: required under CI=true", err)
		}
		tb.Skip(err)
	}
	s, err := Run(Config{})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Error(err)
		}
	})
	return s
}

// Run makes a cluster in a new temporary directory and starts the server
// on a free loopback port. Stop stops it and removes the directory.
func Run(cfg Config) (*Server, error) {
	initdb, postgres, err := Binaries()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pgtest-")
	if err != nil {
		return nil, fmt.Errorf("pgtest: %w", err)
	}
	fail := func(err error) (*Server, error) {
		os.RemoveAll(dir)
		return nil, err
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(fmt.Errorf("pgtest: %w", err))
		}
	}
	data := filepath.Join(dir, "data")
	cmd := exec.Command(initdb, "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	cmd.Env = env()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("pgtest: initdb: %w\n%s", err, out))
	}
	// A port picked free can be taken by another process before the
	// server binds it: try a few.
	for try := 0; ; try++ {
		s, err := start(postgres, dir, cred, cfg)
		if err == nil {
			return s, nil
		}
		if try == 4 || !errors.Is(err, errBind) {
			return fail(err)
		}
	}
}

var errBind = errors.New("pgtest: port taken")

// start runs the server and waits until it accepts connections.
func start(postgres, dir string, cred *syscall.Credential, cfg Config) (*Server, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	args := []string{"-D", filepath.Join(dir, "data"), "-p", strconv.Itoa(port), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "dynamic_shared_memory_type=mmap",
		"-c", "max_connections=200"}
	if !cfg.Durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	s := &Server{
		DSN:    fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port),
		Port:   port,
		Dir:    dir,
		exited: make(chan struct{}),
		log:    &syncBuffer{ready: make(chan struct{})},
	}
	s.cmd = exec.Command(postgres, args...)
	s.cmd.Stdout, s.cmd.Stderr = s.log, s.log
	s.cmd.Env = env()
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("pgtest: starting postgres: %w", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.exited)
	}()
	select {
	case <-s.log.ready:
		return s, nil
	case <-s.exited:
		if strings.Contains(s.Log(), "could not bind") || strings.Contains(s.Log(), "Address already in use") {
			return nil, fmt.Errorf("%w: %d", errBind, port)
		}
		return nil, fmt.Errorf("pgtest: postgres exited: %v\n%s", s.err, s.Log())
	case <-time.After(60 * time.Second):
		s.kill()
		return nil, fmt.Errorf("pgtest: postgres not ready after 60s\n%s", s.Log())
	}
}

// Stop stops the server (a fast shutdown: sessions are ended) and removes
// its directory. It may be called more than once.
func (s *Server) Stop() error {
	var err error
	s.once.Do(func() {
		_ = s.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-s.exited:
		case <-time.After(20 * time.Second):
			s.kill()
			err = fmt.Errorf("pgtest: postgres did not stop in 20s; killed\n%s", s.Log())
		}
		if rerr := os.RemoveAll(s.Dir); rerr != nil && err == nil {
			err = fmt.Errorf("pgtest: %w", rerr)
		}
	})
	return err
}

// kill ends the server's process group at once and waits for it.
func (s *Server) kill() {
	_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.exited
}

// credential gives who the server runs as: nil for the current user, or
// the "postgres" user under root.
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("pgtest: PostgreSQL refuses to run as root and there is no postgres user: %w", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("pgtest: user postgres has uid %q gid %q", u.Uid, u.Gid)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// env is the environment of initdb and postgres: the caller's, with the
// C locale and without PG* variables that would point them elsewhere.
func env() []string {
	var out []string
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "PG") && !strings.HasPrefix(e, "LC_") && !strings.HasPrefix(e, "LANG=") {
			out = append(out, e)
		}
	}
	return append(out, "LC_ALL=C", "LANG=C")
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("pgtest: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// syncBuffer collects the server's output and closes ready when the
// server says it accepts connections.
type syncBuffer struct {
	mu    sync.Mutex
	b     bytes.Buffer
	ready chan struct{}
	seen  bool
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	n, err := b.b.Write(p)
	if !b.seen && bytes.Contains(b.b.Bytes(), []byte("database system is ready to accept connections")) {
		b.seen = true
		close(b.ready)
	}
	return n, err
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
