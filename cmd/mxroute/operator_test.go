package main

import (
	"encoding/json"
	"errors"
	"net"
	"os"
	"os/exec"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
)

// The command as operators type it (issue 10): each test runs the built
// binary.

// --server is checked when the flags are read: a typo is a usage error
// quoting the value, never a deferral of every domain.
func TestServerFlag(t *testing.T) {
	t.Parallel()
	tests := []struct {
		value, wantErr, reason string
	}{
		{"192.0.2.53:0", `--server "192.0.2.53:0": port "0": want a number in 1..65535`, "port 0 does not exist"},
		{"192.0.2.53:65536", `--server "192.0.2.53:65536": port "65536": want a number in 1..65535`, "above 65535"},
		{"192.0.2.53:dns", `--server "192.0.2.53:dns": port "dns": want a number in 1..65535`, "a service name is not a port here"},
		{"192.0.2.53:", `--server "192.0.2.53:": port "": want a number in 1..65535`, "empty port"},
		{":53", `--server ":53": empty host`, "empty host"},
		{"", `--server "": want host:port or a host (port 53)`, "empty value"},
		{"[::1", `--server "[::1": missing ']' in address`, "not [::1]:53 by accident"},
		{"[::1]x", `--server "[::1]x": missing port in address`, "garbage after the bracket"},
		{"[192.0.2.1]:53", `--server "[192.0.2.1]:53": not an IPv6 address in brackets`, "brackets are for IPv6"},
		{"ns..example:53", `--server "ns..example:53": not an IP address or host name`, "not a host name"},
		{"a b", `--server "a b": want host:port or a host (port 53)`, "a space"},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, "route", "--server", tt.value, "vega.ru")
			assert.Equal(t, 64, res.status, tt.reason)
			assert.Empty(t, res.stdout)
			assert.Equal(t, "mxroute route: "+tt.wantErr+"\n", res.stderr, tt.reason)
		})
	}
	good := []struct{ value, want string }{
		{"192.0.2.53", "192.0.2.53:53"}, {"192.0.2.53:5353", "192.0.2.53:5353"},
		{"2001:db8::53", "[2001:db8::53]:53"}, {"[2001:db8::53]", "[2001:db8::53]:53"},
		{"[2001:db8::53]:5353", "[2001:db8::53]:5353"}, {"ns.example.com", "ns.example.com:53"},
		{"localhost:53", "localhost:53"},
	}
	for _, g := range good {
		got, err := serverAddr(g.value)
		require.NoError(t, err, g.value)
		assert.Equal(t, g.want, got, g.value)
	}
	// A valid value reaches the server: a bare loopback server address
	// with its port works as before.
	server := zoneServer(t, zonesDir+"vega.ru.zone", zonesDir+"relarn.ru.zone")
	res := runBinary(t, "route", "--server", server, "--seed", "1", "vega.ru")
	assert.Equal(t, 0, res.status, res.stderr)
}

// Flags may follow the domains; "--" ends them for a domain that starts
// with "-".
func TestFlagsAnywhere(t *testing.T) {
	t.Parallel()
	first := runBinary(t, args(list("route", "--seed", "1", "--json"), vegaZones, list("vega.ru", "nowhere.vega.ru"))...)
	require.Equal(t, 69, first.status)
	for _, order := range [][]string{
		args(list("route", "vega.ru"), vegaZones, list("--json", "nowhere.vega.ru", "--seed", "1")),
		args(list("route", "vega.ru", "nowhere.vega.ru"), vegaZones, list("--json=true", "--seed=1")),
		args(list("route", "vega.ru", "nowhere.vega.ru", "--json", "--seed", "1"), vegaZones),
	} {
		res := runBinary(t, order...)
		assert.Equal(t, first.status, res.status, "%q", order)
		assert.Equal(t, first.stdout, res.stdout, "%q: the same as with the flags first", order)
	}
	dash := runBinary(t, args(list("route"), vegaZones, list("--", "-x.vega.ru", "--json"))...)
	assert.Equal(t, 69, dash.status, dash.stderr)
	assert.Equal(t, "-x.vega.ru: bounce 5.1.3: mxroute: \"-x.vega.ru\": malformed domain: label starts or ends with a hyphen (5.1.3)\n\n"+
		"--json: bounce 5.1.3: mxroute: \"--json\": malformed domain: label starts or ends with a hyphen (5.1.3)\n", dash.stdout,
		"after --, everything is a domain")
	unknown := runBinary(t, args(list("route", "vega.ru"), vegaZones, list("--colour"))...)
	assert.Equal(t, 64, unknown.status)
	assert.Equal(t, "mxroute route: flag provided but not defined: -colour (see mxroute route -h)\n", unknown.stderr)
	missing := runBinary(t, args(list("route", "vega.ru"), vegaZones, list("--seed"))...)
	assert.Equal(t, 64, missing.status, "a flag at the end still needs its value")
	assert.Equal(t, "mxroute route: flag needs an argument: -seed (see mxroute route -h)\n", missing.stderr)
}

// An address routes its domain, in every subcommand and in --from; the
// output names both.
func TestAddresses(t *testing.T) {
	t.Parallel()
	from := writeFile(t, "addresses", "postmaster@vega.ru\n<abuse@www.vega.ru>\n\"odd@local\"@nowhere.vega.ru\n")
	runGolden(t, []goldenCase{
		{"route_address", args(list("route", "--seed", "1", "--local-name", "ns.relarn.ru", "--from", from), vegaZones), 69,
			"the part after the last @, angle brackets dropped: the table names the domain and the address"},
		{"explain_address", args(list("explain", "--seed", "1"), vegaZones, list("postmaster@vega-gw.vega.ru")), 0,
			"explain names both too"},
		{"lint_address", args(list("lint"), lintZone, list("postmaster@dup.lint.example", "<hostmaster@family.lint.example>")), 1,
			"lint: the domain's findings, under the domain and the address"},
	})
	res := runBinary(t, args(list("route", "--json", "--seed", "1"), vegaZones, list("postmaster@vega.ru"))...)
	var r jsonRoute
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &r))
	assert.Equal(t, "postmaster@vega.ru", r.Query, "JSON keeps what was given")
	assert.Equal(t, "vega.ru", r.Domain)
	lint := runBinary(t, args(list("lint", "--json"), lintZone, list("postmaster@dup.lint.example"))...)
	var l jsonLint
	require.NoError(t, json.Unmarshal([]byte(lint.stdout), &l))
	assert.Equal(t, "postmaster@dup.lint.example", l.Query)
	assert.Equal(t, "dup.lint.example", l.Domain)
	empty := runBinary(t, args(list("route"), vegaZones, list("postmaster@"))...)
	assert.Equal(t, 69, empty.status, "an address without a domain is a bad domain")
	assert.Contains(t, empty.stdout, `(for postmaster@): bounce 5.1.3`)
}

// No raw control byte from input or DNS reaches text output; JSON stays
// valid and decodes to what was given.
func TestControlBytes(t *testing.T) {
	t.Parallel()
	evil := []string{
		"\x1b]0;pwned\x07evil.example", // sets the terminal's title
		"\x1b[2J\x1b[31mred.example",   // clears the screen, turns red
		"bad\xffutf8.example",          // not UTF-8
		"rtl\u202eelpmaxe.example",     // right-to-left override
		"tab\there.example\r",          // a tab, a carriage return
		"user\x1b[8m@vega.ru",          // an address whose local part hides text
	}
	from := writeFile(t, "evil", strings.Join(evil, "\n")+"\n")
	runGolden(t, []goldenCase{
		{"route_escaped", args(list("route", "--seed", "1", "--from", from), vegaZones), 69,
			"every name and message escaped: \\x1b, \\a, \\xff, \\u202e, \\t, \\r"},
		{"lint_escaped", args(list("lint", "--from", from), vegaZones), 2, "lint's lines too"},
		{"explain_escaped", args(list("explain", "--seed", "1"), vegaZones, list(evil[0], evil[5])), 69, "and explain's"},
	})
	// In a zone, a name with an escaped byte (\027 is ESC) stays escaped.
	// Such an MX target is no host name (RFC 1123, Section 2.1), so the
	// route bounces (5.4.4), but the name is shown, escaped.
	zone := writeFile(t, "esc.example.zone", "$TTL 3600\n$ORIGIN esc.example.\n@ IN SOA ns hostmaster 1 7200 3600 1209600 300\n"+
		"  IN NS ns\n  IN MX 10 mx\\027[31m\nns IN A 192.0.2.53\nmx\\027[31m IN A 192.0.2.25\n")
	res := runBinary(t, "route", "--zone", zone, "esc.example")
	assert.Equal(t, 69, res.status, res.stderr)
	assert.Contains(t, res.stdout, `mx\027[31m.esc.example`)
	assert.Contains(t, res.stdout, "not a host name")
	for _, out := range []string{res.stdout} {
		assert.NotRegexp(t, "[\x00-\x09\x0b-\x1f\x7f]", out)
	}
	for _, cmd := range []string{"route", "explain", "lint"} {
		res := runBinary(t, args(list(cmd), vegaZones, evil)...)
		assert.NotRegexp(t, "[\x00-\x09\x0b-\x1f\x7f]", res.stdout, "%s: no control byte but newlines", cmd)
		assert.NotContains(t, res.stdout, "\u202e", cmd)
		assert.True(t, strings.ToValidUTF8(res.stdout, "?") == res.stdout, "%s: valid UTF-8", cmd)
	}
	for _, cmd := range []string{"route", "lint"} {
		res := runBinary(t, args(list(cmd, "--json"), vegaZones, evil)...)
		lines := strings.Split(strings.TrimSuffix(res.stdout, "\n"), "\n")
		require.Len(t, lines, len(evil), cmd)
		for i, line := range lines {
			var v struct {
				Query string `json:"query"`
			}
			require.NoError(t, json.Unmarshal([]byte(line), &v), "%s: valid JSON: %s", cmd, line)
			want := strings.ToValidUTF8(evil[i], "\ufffd") // JSON strings are UTF-8: an invalid byte is U+FFFD
			assert.Equal(t, want, v.Query, "%s: the query as given", cmd)
		}
	}
	// An argument's bytes in a usage error on stderr are escaped too.
	bad := runBinary(t, "route", "--family", "\x1b[31m", "vega.ru")
	assert.Equal(t, 64, bad.status)
	assert.Equal(t, "mxroute route: --family \"\\x1b[31m\": want any, 4, 6, prefer4 or interleave\n", bad.stderr)
}

func TestEsc(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, reason string }{
		{"example.com", "example.com", "plain ASCII is left alone"},
		{"bücher.example", "bücher.example", "printable Unicode is left alone"},
		{`mx\027.example`, `mx\027.example`, "DNS's own escapes stay as they are"},
		{"a\x1bb", `a\x1bb`, "ESC"},
		{"a\x07b\x00", `a\ab\x00`, "BEL and NUL"},
		{"a\tb\nc\r", `a\tb\nc\r`, "whitespace controls"},
		{"a\x7fb", `a\x7fb`, "DEL"},
		{"a\u0085b", `a\u0085b`, "a C1 control"},
		{"a\u202eb\u200bc", `a\u202eb\u200bc`, "bidi override, zero-width space"},
		{"a\xffb\xc3", `a\xffb\xc3`, "bytes that are not UTF-8"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, esc(tt.in), tt.reason)
	}
}

// mxroute --version and mxroute version: the module version and Go's.
func TestVersion(t *testing.T) {
	t.Parallel()
	want := regexp.MustCompile(`^mxroute (\(devel\)|v[0-9][^ ]*)( \([0-9a-f]{12}\))?, ` + regexp.QuoteMeta(runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) + "\n$")
	for _, a := range [][]string{{"version"}, {"--version"}, {"-version"}} {
		res := runBinary(t, a...)
		assert.Equal(t, 0, res.status, a)
		assert.Empty(t, res.stderr)
		assert.Regexp(t, want, res.stdout, a)
	}
	res := runBinary(t, "version", "extra")
	assert.Equal(t, 64, res.status)
}

// mxroute help COMMAND prints what mxroute COMMAND --help prints.
func TestHelpCommand(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"route", "explain", "lint", "probe"} {
		help := runBinary(t, "help", cmd)
		flag := runBinary(t, cmd, "--help")
		assert.Equal(t, 0, help.status, cmd)
		assert.Equal(t, flag.stdout, help.stdout, cmd)
		assert.Equal(t, flag.stdout, runBinary(t, cmd, "-h").stdout, cmd)
		assert.Equal(t, flag.stdout, runBinary(t, cmd, "vega.ru", "--help").stdout, "%s: --help after a domain", cmd)
	}
	top := runBinary(t, "help")
	assert.Equal(t, 0, top.status)
	assert.Equal(t, top.stdout, runBinary(t, "--help").stdout)
	assert.Equal(t, top.stdout, runBinary(t, "help", "version").stdout)
	for _, line := range strings.Split(top.stdout, "\n") {
		assert.LessOrEqual(t, len(line), 80, line)
	}
	bad := runBinary(t, "help", "deliver")
	assert.Equal(t, 64, bad.status)
	assert.Equal(t, "mxroute help: unknown command \"deliver\" (want route, explain, lint, probe, report or version)\n", bad.stderr)
}

// Every failed route shows its table when hosts are known: a loop bounce
// names this host and the hosts dropped with it.
func TestFailedRouteTable(t *testing.T) {
	t.Parallel()
	runGolden(t, []goldenCase{
		{"route_loop", args(list("route", "--seed", "1", "--local-addr", "194.226.43.1"), vegaZones, list("vega.ru", "vega-gw.vega.ru", "[194.226.43.1]")), 69,
			"this host is vega-gw (by address), the most preferred: every host dropped, and the table says which was this host"},
		{"route_loop_json", args(list("route", "--json", "--seed", "1", "--local-name", "vega-gw.vega.ru"), vegaZones, list("vega.ru")), 69,
			"JSON lists the dropped hosts of the loop too"},
	})
}

// A --from line over the scanner's limit is a usage error with its line
// number, not an unreadable file.
func TestFromLongLine(t *testing.T) {
	t.Parallel()
	file := writeFile(t, "domains", "vega.ru\n# fine\n"+strings.Repeat("a", maxLine+1)+"\n")
	res := runBinary(t, args(list("route", "--from", file), vegaZones)...)
	assert.Equal(t, 64, res.status)
	assert.Empty(t, res.stdout)
	assert.Equal(t, "mxroute route: --from "+file+": line 3 is longer than 65536 bytes: not a domain or address per line\n", res.stderr)
	ok := writeFile(t, "domains", strings.Repeat("a", maxLine-1)+"\n")
	res = runBinary(t, args(list("route", "--from", ok), vegaZones)...)
	assert.Equal(t, 69, res.status, "a line within the limit is read (and is a bad domain)")
}

// On a real pseudo-terminal (script(1)), with stdout and stderr the same
// terminal, the count stays one rewritten line: cleared before each record,
// so no record shares a line with it.
func TestProgressPTY(t *testing.T) {
	t.Parallel()
	script, err := exec.LookPath("script")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("script(1) (Debian bsdutils) is missing; .ci/run installs it")
		}
		t.Skip("script(1) is not installed (Debian package bsdutils)")
	}
	domains := manyDomains(12)
	file := writeFile(t, "domains", strings.Join(domains, "\n"))
	for _, cmd := range []string{"route", "lint"} {
		t.Run(cmd, func(t *testing.T) {
			t.Parallel()
			a := args(list(binary, cmd, "--seed", "1", "--from", file), vegaZones)
			if cmd == "lint" {
				a = args(list(binary, cmd, "--from", file), vegaZones)
			}
			plain := runBinary(t, a[1:]...)
			out, err := exec.Command(script, "-qec", shellJoin(a), "/dev/null").Output()
			status := 0
			var exit *exec.ExitError
			switch {
			case errors.As(err, &exit):
				status = exit.ExitCode() // script -e: the command's status
			case err != nil:
				t.Fatalf("script: %v", err)
			}
			if status != plain.status {
				// script itself failed, e.g. no pseudo-terminal to be had.
				if os.Getenv("CI") == "true" {
					t.Fatalf("script exited %d, the command %d: %q", status, plain.status, out)
				}
				t.Skipf("script could not run the command on a pseudo-terminal (exit %d): %q", status, out)
			}
			assert.Contains(t, string(out), "\x1b[K", "the count is erased before a record")
			screen := render(string(out))
			want := plain.stdout
			if cmd == "route" {
				want += "mxroute: 12/12 domains\n"
			} else { // the summary line comes after the last count
				i := strings.LastIndex(strings.TrimSuffix(want, "\n"), "\n")
				want = want[:i+1] + "mxroute: 12/12 domains\n" + want[i+1:]
			}
			assert.Equal(t, want, screen, "the terminal shows the records as without a terminal, and the count once, at the end")
		})
	}
}

// render is what a terminal shows for out: \r returns to the line's start,
// CSI K erases to its end, \n (with the pty's \r) starts a new line.
func render(out string) string {
	var lines []string
	var line []rune
	col := 0
	for i := 0; i < len(out); i++ {
		switch {
		case out[i] == '\r':
			col = 0
		case out[i] == '\n':
			lines = append(lines, string(line))
			line, col = nil, 0
		case strings.HasPrefix(out[i:], "\x1b[K"):
			line = line[:col]
			i += 2
		default:
			r := []rune(out[i:])[0]
			i += len(string(r)) - 1
			if col < len(line) {
				line[col] = r
			} else {
				line = append(line, r)
			}
			col++
		}
	}
	if len(line) > 0 {
		lines = append(lines, string(line))
	}
	return strings.Join(lines, "\n") + "\n"
}

func shellJoin(a []string) string {
	q := make([]string, len(a))
	for i, s := range a {
		q[i] = "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
	}
	return strings.Join(q, " ")
}

// lint judges the MX TTL the zone publishes. Through a cache (AA clear,
// the TTL counting down) it asks the zone's authoritative server, found by
// NS, with RD=0; when no authoritative server answers, it says so and
// checks no TTL.
func TestLintPublishedTTL(t *testing.T) {
	t.Parallel()
	// ns.ttl.example is 127.0.0.1: the authoritative server below listens
	// there, on the port given with --auth-port. It is lint's own DNS
	// question, not a mail target.
	zone := writeFile(t, "ttl.example.zone", `$TTL 3600
$ORIGIN ttl.example.
@     IN SOA ns.ttl.example. hostmaster.ttl.example. ( 1 7200 3600 1209600 300 )
      IN NS  ns.ttl.example.
ns    IN A   127.0.0.1
long  IN MX  10 mx.ttl.example.
short 60 IN MX 10 mx.ttl.example.
www   IN CNAME long.ttl.example.
mx    IN A   192.0.2.25
      IN AAAA 2001:db8::25
`)
	zh := zoneHandler(t, zone)
	var mu sync.Mutex
	var authRD []bool // the RD bit of each question the authoritative server got
	auth := dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		mu.Lock()
		authRD = append(authRD, req.RecursionDesired)
		mu.Unlock()
		zh.ServeDNS(w, req)
	}))
	start := time.Now()
	cache := dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		zh.ServeDNS(cacheWriter{w, start}, req)
	}))
	_, authPort, err := net.SplitHostPort(auth)
	require.NoError(t, err)
	closed := closedPort(t)
	_, closedP, err := net.SplitHostPort(closed)
	require.NoError(t, err)
	domains := list("long.ttl.example", "short.ttl.example", "www.ttl.example")

	naive := runBinary(t, args(list("lint", "--server", cache, "--auth-port", authPort), domains)...)
	assert.Equal(t, 1, naive.status, naive.stdout+naive.stderr)
	assert.Equal(t, "long.ttl.example: ok\n"+
		"short.ttl.example: warning: mx-ttl-short: MX TTL 1m0s is below 5m0s: every sender asks again that often, and a DNS outage hits mail at once\n"+
		"www.ttl.example: ok\n"+
		"0 errors, 1 warning in 3 domains\n", naive.stdout,
		"the cache's 200 s left of 3600 is no short TTL; the published 60 s is")
	mu.Lock()
	assert.NotEmpty(t, authRD, "the authoritative server was asked")
	for _, rd := range authRD {
		assert.False(t, rd, "asked with RD=0")
	}
	mu.Unlock()

	unreachable := runBinary(t, args(list("lint", "--server", cache, "--auth-port", closedP, "--timeout", "10s"), domains)...)
	assert.Equal(t, 0, unreachable.status, "an unknown TTL is info: %s", unreachable.stdout)
	out := strings.ReplaceAll(unreachable.stdout, closedP, "PORT")
	out = regexp.MustCompile(`127\.0\.0\.1:[0-9]+->127\.0\.0\.1:PORT`).ReplaceAllString(out, "127.0.0.1:EPHEMERAL->127.0.0.1:PORT")
	golden(t, "lint_ttl_unchecked", out)
	assert.NotContains(t, unreachable.stdout, "mx-ttl-short", "no warning from a cache's TTL")

	named := runBinary(t, args(list("lint", "--server", cache, "--auth-server", auth), domains)...)
	assert.Equal(t, naive.stdout, named.stdout, "--auth-server is asked instead of the zone's NS")
	direct := runBinary(t, args(list("lint", "--server", auth), domains)...)
	assert.Equal(t, naive.stdout, direct.stdout, "asked directly, the authoritative server's AA answer is the published TTL")
	offline := runBinary(t, args(list("lint", "--zone", zone), domains)...)
	assert.Equal(t, naive.stdout, offline.stdout, "a zone file is the published TTL")

	j := runBinary(t, args(list("lint", "--json", "--server", cache, "--auth-port", closedP), list("long.ttl.example"))...)
	var l jsonLint
	require.NoError(t, json.Unmarshal([]byte(j.stdout), &l))
	require.Len(t, l.Findings, 1)
	assert.Equal(t, "mx-ttl-unchecked", l.Findings[0].Check)
	assert.Equal(t, "info", l.Findings[0].Severity)

	bad := runBinary(t, "lint", "--server", cache, "--auth-port", "0", "long.ttl.example")
	assert.Equal(t, 64, bad.status)
	assert.Equal(t, "mxroute lint: --auth-port 0: want a number in 1..65535\n", bad.stderr)
	bad = runBinary(t, "lint", "--server", cache, "--auth-server", "[::1", "long.ttl.example")
	assert.Equal(t, 64, bad.status)
	assert.Equal(t, "mxroute lint: --auth-server \"[::1\": missing ']' in address\n", bad.stderr)
}

// cacheWriter makes a zone server's replies a cache's: no AA, every TTL
// with only an 18th left and counting down from start.
type cacheWriter struct {
	dns.ResponseWriter
	start time.Time
}

func (w cacheWriter) WriteMsg(m *dns.Msg) error {
	m.Authoritative, m.RecursionAvailable = false, true
	elapsed := uint32(time.Since(w.start) / time.Second)
	for _, rr := range append(m.Answer, m.Ns...) {
		h := rr.Header()
		h.Ttl = max(1, h.Ttl/18-min(elapsed, h.Ttl/18))
	}
	return w.ResponseWriter.WriteMsg(m)
}

// A "#" inside an address is part of it (RFC 5321, Section 4.1.2: atext
// includes "#"), not a comment: a --from line "a#b@vega.ru" routes
// vega.ru, as the argument does. A comment starts at a "#" that begins
// the line or follows a space, as in Postfix's table files.
func TestFromHashInAddress(t *testing.T) {
	t.Parallel()
	from := writeFile(t, "addresses", "ops#oncall@vega.ru\nvega.ru#not-a-comment-here\nvega.ru # a comment\n")
	res := runBinary(t, args(list("route", "--json", "--from", from), vegaZones)...)
	var got []string
	for line := range strings.Lines(res.stdout) {
		var r jsonRoute
		require.NoError(t, json.Unmarshal([]byte(line), &r))
		got = append(got, r.Query)
	}
	assert.Equal(t, []string{"ops#oncall@vega.ru", "vega.ru#not-a-comment-here", "vega.ru"}, got,
		"a # inside a word is kept; a # after a space starts a comment")
}
