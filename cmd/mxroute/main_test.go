package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// binary is the command built once for the tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "mxroute-cmd")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "mxroute")
	if out, err := exec.Command("go", "build", "-o", binary, ".").CombinedOutput(); err != nil {
		panic("go build: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// runBinary runs the built command and returns stdout, stderr and the exit status.
func runBinary(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return stdout.String(), stderr.String(), exit.ExitCode()
	}
	require.NoError(t, err)
	return stdout.String(), stderr.String(), 0
}

var zones = []string{"--zone", "../../testdata/zones/vega.ru.zone", "--zone", "../../testdata/zones/relarn.ru.zone"}

func TestRouteTable(t *testing.T) {
	_, _, status := runBinary(t)
	assert.Equal(t, 64, status, "no command is a usage error")

	out, errOut, status := runBinary(t, append([]string{"route"}, append(zones, "VEGA.RU.")...)...)
	require.Equal(t, 0, status, errOut)
	assert.Equal(t, `vega.ru
PREF  HOST             ADDRESS          FAMILY
10    vega-gw.vega.ru  194.226.43.1     IPv4
20    ns.relarn.ru     2001:db8:10::10  IPv6
20    ns.relarn.ru     198.51.100.10    IPv4
30    relay.relarn.ru  198.51.100.20    IPv4
`, out)
	assert.Empty(t, errOut)
}

func TestRouteExitStatus(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    string
		reason     string
	}{
		{"routed", []string{"vega.ru"}, 0, "vega-gw.vega.ru", "EX_OK"},
		{"loop guard as relay", []string{"--local-name", "ns.relarn.ru", "vega-gw.vega.ru"}, 0,
			"vega-gw.vega.ru\nPREF  HOST             ADDRESS       FAMILY\n0     vega-gw.vega.ru  194.226.43.1  IPv4\n",
			"ns.relarn.ru keeps only vega-gw"},
		{"loop", []string{"--local-addr", "194.226.43.1", "vega.ru"}, 69, "vega.ru: bounce 5.4.6", "EX_UNAVAILABLE: mail would loop"},
		{"no such domain", []string{"nowhere.vega.ru"}, 69, "nowhere.vega.ru: bounce 5.1.2", "EX_UNAVAILABLE"},
		{"outside the zones", []string{"example.org"}, 75, "example.org: defer 4.4.3", "EX_TEMPFAIL: REFUSED is temporary"},
		{"temporary beats permanent", []string{"nowhere.vega.ru", "example.org"}, 75, "defer", "one deferral makes the run a deferral"},
		{"IPv6 only", []string{"--family", "6", "vega.ru"}, 0,
			"10    vega-gw.vega.ru  -                unusable: no AAAA records (permanent 5.4.4)\n20    ns.relarn.ru     2001:db8:10::10  IPv6\n",
			"only AAAA; IPv4-only hosts are shown unusable, with the reason"},
		{"max addrs", []string{"--max-addrs", "1", "vega.ru"}, 0, "10    vega-gw.vega.ru  194.226.43.1  IPv4\n", "one address"},
		{"bad domain", []string{"bad..ru"}, 69, "bad..ru: bounce 5.1.3", "malformed"},
		{"bad family", []string{"--family", "7", "vega.ru"}, 64, "", "EX_USAGE"},
		{"bad local addr", []string{"--local-addr", "vega", "vega.ru"}, 64, "", "EX_USAGE"},
		{"no domain", []string{}, 64, "", "EX_USAGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, status := runBinary(t, append(append([]string{"route", "--seed", "1"}, zones...), tt.args...)...)
			assert.Equal(t, tt.wantStatus, status, "%s\nstdout: %s\nstderr: %s", tt.reason, out, errOut)
			assert.Contains(t, out, tt.wantOut, tt.reason)
			if tt.wantStatus == 64 {
				assert.NotEmpty(t, errOut, "a usage error says what is wrong")
				assert.LessOrEqual(t, strings.Count(strings.TrimSpace(errOut), "\n"), 20, "no stack trace")
			}
		})
	}
}

func TestRouteBadZone(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.test.zone")
	require.NoError(t, os.WriteFile(bad, []byte("@ IN MX ten mx\n"), 0o644))
	for _, file := range []string{bad, filepath.Join(dir, "missing.zone")} {
		out, errOut, status := runBinary(t, "route", "--zone", file, "bad.test")
		assert.Equal(t, 66, status, "EX_NOINPUT")
		assert.Empty(t, out)
		assert.Equal(t, 1, strings.Count(errOut, "\n"), "one clear line: %s", errOut)
		assert.Contains(t, errOut, file)
	}
}
