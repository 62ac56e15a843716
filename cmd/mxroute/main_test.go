package main

import (
	"context"
	"errors"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mxroute-go/mxroute/internal/dnstest"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/ with the current output")

// binary is the command, built once for the tests.
var binary string

func TestMain(m *testing.M) {
	flag.Parse()
	dir, err := os.MkdirTemp("", "mxroute-cmd")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mxroute")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	// The binary reads the zone files, not this process: read them here so
	// that go test's cache knows the results depend on them.
	zoneFiles, _ := filepath.Glob(filepath.Join(zonesDir, "*"))
	for _, f := range zoneFiles {
		_, _ = os.ReadFile(f)
	}
	code := m.Run()
	os.RemoveAll(dir)
	// The loopback DNS servers of the tests must all be gone (README: every
	// test package checks with goleak that no goroutine outlives it).
	if err := goleak.Find(); code == 0 && err != nil {
		os.Stderr.WriteString("goleak: " + err.Error() + "\n")
		code = 1
	}
	os.Exit(code)
}

// result is one run of the binary.
type result struct {
	stdout, stderr string
	status         int
}

// runStdin runs the built command with stdin and returns what it wrote and
// its exit status.
func runStdin(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr strings.Builder
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	res := result{stdout: stdout.String(), stderr: stderr.String()}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		res.status = exit.ExitCode()
		return res
	}
	require.NoError(t, err)
	return res
}

func runBinary(t *testing.T, args ...string) result {
	t.Helper()
	return runStdin(t, "", args...)
}

// golden compares got with testdata/name.golden, or rewrites it with -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	file := filepath.Join("testdata", name+".golden")
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(file, []byte(got), 0o644))
		return
	}
	want, err := os.ReadFile(file)
	require.NoError(t, err, "run go test ./cmd/mxroute -update to create it")
	assert.Equal(t, string(want), got, "golden file %s (go test ./cmd/mxroute -update rewrites it)", file)
}

// goldenCase is one run of the binary whose status is checked and whose
// stdout is compared with testdata/name.golden.
type goldenCase struct {
	name       string
	args       []string
	wantStatus int
	reason     string
}

// runGolden runs each case in parallel: the exit status, nothing on stderr
// (no progress, no noise), and stdout against its golden file.
func runGolden(t *testing.T, cases []goldenCase) {
	t.Helper()
	for _, tt := range cases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, tt.args...)
			assert.Equal(t, tt.wantStatus, res.status, "%s\nstderr: %s", tt.reason, res.stderr)
			assert.Empty(t, res.stderr, "no progress or noise on stderr")
			golden(t, tt.name, res.stdout)
		})
	}
}

const zonesDir = "../../testdata/zones/"

var (
	vegaZones  = []string{"--zone", zonesDir + "vega.ru.zone", "--zone", zonesDir + "relarn.ru.zone"}
	lintZone   = []string{"--zone", zonesDir + "lint.example.zone", "--zone", zonesDir + "gone-provider.example.zone"}
	cleanZone  = []string{"--zone", zonesDir + "clean.example.zone"}
	lintDomain = zonesDir + "lint.example.domains"
)

func args(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

func list(s ...string) []string { return s }

// zoneServer serves zone files on a loopback DNS server, the way an
// authoritative server for them would, and returns its address.
func zoneServer(t *testing.T, files ...string) string {
	t.Helper()
	return dnstest.Serve(t, zoneHandler(t, files...))
}

// zoneHandler answers from zone files.
func zoneHandler(t *testing.T, files ...string) dns.Handler {
	t.Helper()
	z, _, err := loadZones(files)
	require.NoError(t, err)
	return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		m, err := z.Resolve(context.Background(), q.Name, q.Qtype)
		if err != nil {
			m = new(dns.Msg)
			m.SetRcode(req, dns.RcodeServerFailure)
		}
		m.Id, m.Question = req.Id, req.Question
		_ = w.WriteMsg(m)
	})
}

// rcodeServer answers every question with rcode.
func rcodeServer(t *testing.T, rcode int) string {
	return dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetRcode(req, rcode)
		_ = w.WriteMsg(m)
	}))
}

// silentServer never answers.
func silentServer(t *testing.T) string {
	return dnstest.Serve(t, dns.HandlerFunc(func(dns.ResponseWriter, *dns.Msg) {}))
}

// writeFile writes a file in a fresh temporary directory and returns its path.
func writeFile(t *testing.T, name, data string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(file, []byte(data), 0o644))
	return file
}
