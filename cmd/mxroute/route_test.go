package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRouteGolden(t *testing.T) {
	t.Parallel()
	runGolden(t, []goldenCase{
		{"route_table", args(list("route", "--seed", "1"), vegaZones, list("VEGA.RU.", "vega-gw.vega.ru", "www.vega.ru")), 0,
			"the README's example: three MX levels, an MX of its own, a CNAME"},
		{"route_relay", args(list("route", "--seed", "1", "--local-name", "ns.relarn.ru"), vegaZones, list("vega.ru", "vega-gw.vega.ru")), 0,
			"the loop guard as ns.relarn.ru: dropped hosts are listed with the reason"},
		{"route_failures", args(list("route", "--seed", "1"), lintZone, list("nomail.lint.example", "nullpref.lint.example", "iplit.lint.example", "noaddress.lint.example", "bad..example")), 69,
			"bounces with status codes, and unusable hosts with their reason"},
		{"route_limits", args(list("route", "--seed", "3", "--max-hosts", "2", "--max-addrs", "3"), cleanZone, list("clean.example")), 0,
			"--max-hosts cuts the backup, --max-addrs the last address"},
		{"route_json", args(list("route", "--seed", "1", "--json", "--local-name", "ns.relarn.ru"), vegaZones, list("vega.ru", "nowhere.vega.ru", "example.org")), 75,
			"JSON Lines, schema_version 1: routed, bounce and defer"},
	})
}

func TestRouteExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantOut    string
		reason     string
	}{
		{"routed", list("vega.ru"), 0, "vega-gw.vega.ru", "EX_OK"},
		{"loop guard as relay", list("--local-name", "ns.relarn.ru", "vega-gw.vega.ru"), 0,
			"vega-gw.vega.ru\nPREF  HOST             ADDRESS       FAMILY\n0     vega-gw.vega.ru  194.226.43.1  IPv4\n10    ns.relarn.ru     -             dropped: loop guard: this host\n",
			"ns.relarn.ru keeps only vega-gw"},
		{"loop", list("--local-addr", "194.226.43.1", "vega.ru"), 69, "vega.ru: bounce 5.4.6", "EX_UNAVAILABLE: mail would loop"},
		{"no such domain", list("nowhere.vega.ru"), 69, "nowhere.vega.ru: bounce 5.1.2", "EX_UNAVAILABLE"},
		{"outside the zones", list("example.org"), 75, "example.org: defer 4.4.3", "EX_TEMPFAIL: REFUSED is temporary"},
		{"temporary beats permanent", list("nowhere.vega.ru", "example.org"), 75, "defer", "one deferral makes the run a deferral"},
		{"IPv6 only", list("--family", "6", "vega.ru"), 0,
			"10    vega-gw.vega.ru  -                unusable: no AAAA records (permanent 5.4.4)\n20    ns.relarn.ru     2001:db8:10::10  IPv6\n",
			"only AAAA; IPv4-only hosts are shown unusable, with the reason"},
		{"IPv4 only", list("--family", "4", "vega.ru"), 0, "20    ns.relarn.ru     198.51.100.10  IPv4\n30", "no AAAA"},
		{"prefer IPv4", list("--family", "prefer4", "vega.ru"), 0, "20    ns.relarn.ru     198.51.100.10    IPv4\n20    ns.relarn.ru     2001:db8:10::10  IPv6\n", "IPv4 first within a host"},
		{"interleave", list("--family", "interleave", "vega.ru"), 0, "20    ns.relarn.ru     2001:db8:10::10  IPv6\n20    ns.relarn.ru     198.51.100.10    IPv4\n", "IPv6 first, then alternate"},
		{"any family", list("--family", "any", "vega.ru"), 0, "20    ns.relarn.ru     2001:db8:10::10  IPv6\n20    ns.relarn.ru     198.51.100.10    IPv4\n", "the default"},
		{"max hosts", list("--max-hosts", "1", "vega.ru"), 0, "10    vega-gw.vega.ru  194.226.43.1  IPv4\n20    ns.relarn.ru     -             dropped: beyond --max-hosts\n", "one host"},
		{"max addrs", list("--max-addrs", "1", "vega.ru"), 0, "10    vega-gw.vega.ru  194.226.43.1  IPv4\n", "one address"},
		{"address literal", list("[192.0.2.1]"), 0, "[192.0.2.1]\nPREF  HOST         ADDRESS    FAMILY\n0     [192.0.2.1]  192.0.2.1  IPv4\n", "no DNS"},
		{"timeout flag", list("--timeout", "5s", "vega.ru"), 0, "vega-gw", "a valid duration"},
		{"bad domain", list("bad..ru"), 69, "bad..ru: bounce 5.1.3", "malformed"},
		{"bad family", list("--family", "7", "vega.ru"), 64, "", "EX_USAGE"},
		{"bad local addr", list("--local-addr", "vega", "vega.ru"), 64, "", "EX_USAGE"},
		{"negative max", list("--max-hosts", "-1", "vega.ru"), 64, "", "EX_USAGE"},
		{"seed below -1", list("--seed", "-2", "vega.ru"), 64, "", "-1 means random; anything below is a mistake, not another random"},
		{"zero timeout", list("--timeout", "0s", "vega.ru"), 64, "", "EX_USAGE"},
		{"bad timeout", list("--timeout", "soon", "vega.ru"), 64, "", "EX_USAGE from the flag package"},
		{"zero workers", list("--workers", "0", "vega.ru"), 64, "", "EX_USAGE"},
		{"bad progress", list("--progress", "maybe", "vega.ru"), 64, "", "EX_USAGE"},
		{"zone and server", list("--server", "127.0.0.1:53", "vega.ru"), 64, "", "offline or online, not both"},
		{"unknown flag", list("--colour", "vega.ru"), 64, "", "EX_USAGE"},
		{"no domain", list(), 64, "", "EX_USAGE"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, args(list("route", "--seed", "1"), vegaZones, tt.args)...)
			assert.Equal(t, tt.wantStatus, res.status, "%s\nstdout: %s\nstderr: %s", tt.reason, res.stdout, res.stderr)
			assert.Contains(t, res.stdout, tt.wantOut, tt.reason)
			if tt.wantStatus == 64 {
				assert.Empty(t, res.stdout)
				assert.Contains(t, res.stderr, "mxroute route", "a usage error says which command")
				assert.NotContains(t, res.stderr, "goroutine", "no stack trace")
			}
		})
	}
}

// Bad flags and unreadable inputs get one clear line (the flag package adds
// the usage after its own line); never a stack trace.
func TestUsageErrors(t *testing.T) {
	t.Parallel()
	bad := writeFile(t, "bad.test.zone", "@ IN MX ten mx\n")
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantErr    string
	}{
		{"no command", list(), 64, "usage: mxroute COMMAND"},
		{"unknown command", list("deliver", "x"), 64, `mxroute: unknown command "deliver" (want route, explain, lint, probe, report, version or help)` + "\n"},
		{"bad zone", list("route", "--zone", bad, "bad.test"), 66, "mxroute route: " + bad + `: mxroute: zone "bad.test.": dns: bad MX Pref: "ten" at line: 1:12` + "\n"},
		{"missing zone", list("lint", "--zone", bad+".missing", "bad.test"), 66, "mxroute lint: open " + bad + ".missing: no such file or directory\n"},
		{"missing from", list("explain", "--from", bad+".missing"), 66, "mxroute explain: open " + bad + ".missing: no such file or directory\n"},
		{"zone and server", list("lint", "--zone", bad, "--server", "127.0.0.1:53", "x.test"), 64, "mxroute lint: --zone and --server cannot be used together\n"},
		{"unknown flag", list("route", "--colour", "x.test"), 64, "mxroute route: flag provided but not defined: -colour (see mxroute route -h)\n"},
		{"bad flag value", list("explain", "--max-hosts", "many", "x.test"), 64, `mxroute explain: invalid value "many" for flag -max-hosts: parse error (see mxroute explain -h)` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, tt.args...)
			assert.Equal(t, tt.wantStatus, res.status)
			assert.Empty(t, res.stdout)
			if strings.HasSuffix(tt.wantErr, "\n") {
				assert.Equal(t, tt.wantErr, res.stderr, "exactly one line")
			} else {
				assert.Contains(t, res.stderr, tt.wantErr)
			}
		})
	}
}

func TestHelp(t *testing.T) {
	t.Parallel()
	for _, cmd := range []string{"route", "explain", "lint", "probe"} {
		res := runBinary(t, cmd, "-h")
		assert.Equal(t, 0, res.status, "-h is not an error")
		assert.Empty(t, res.stderr, "asked-for help goes to stdout")
		assert.Contains(t, res.stdout, "usage: mxroute "+cmd)
		assert.Contains(t, res.stdout, "Exit status")
		assert.Contains(t, res.stdout, "-zone file")
	}
	res := runBinary(t, "help")
	assert.Equal(t, 0, res.status)
	assert.Contains(t, res.stdout, "Commands:")
	for cmd, checks := range map[string][]check{"lint": allChecks, "probe": probeChecks} {
		res = runBinary(t, cmd, "-h")
		for _, c := range checks {
			assert.Contains(t, res.stdout, c.id, "%s -h lists every check", cmd)
		}
		for _, line := range strings.Split(res.stdout, "\n") {
			if !strings.HasPrefix(line, "    \t") { // the flag package's own indentation
				assert.LessOrEqual(t, len(line), 80, "%s -h fits 80 columns: %q", cmd, line)
			}
		}
	}
}

// --seed makes the order of equal preferences reproducible, and a domain's
// order does not depend on the other domains of the run.
func TestRouteSeed(t *testing.T) {
	t.Parallel()
	orders := map[string]bool{}
	for seed := range 8 {
		s := fmt.Sprint(seed)
		alone := runBinary(t, args(list("route", "--seed", s), cleanZone, list("clean.example"))...)
		again := runBinary(t, args(list("route", "--seed", s), cleanZone, list("clean.example"))...)
		require.Equal(t, alone.stdout, again.stdout, "seed %d twice", seed)
		among := runBinary(t, args(list("route", "--seed", s, "--workers", "3"), cleanZone, list("nomail.clean.example", "clean.example", "clean.example"))...)
		assert.Contains(t, among.stdout, alone.stdout, "seed %d: same order among other domains", seed)
		orders[alone.stdout] = true
	}
	assert.Len(t, orders, 2, "mx1 and mx2 share preference 10: both orders appear over 8 seeds")
}

// route --json writes one object per domain with every documented field.
func TestRouteJSONSchema(t *testing.T) {
	t.Parallel()
	res := runBinary(t, args(list("route", "--json", "--seed", "1"), vegaZones, list("vega.ru", "nowhere.vega.ru"))...)
	require.Equal(t, 69, res.status)
	lines := strings.Split(strings.TrimSpace(res.stdout), "\n")
	require.Len(t, lines, 2, "JSON Lines: one object per domain")
	for _, line := range lines {
		var obj map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &obj))
		for _, k := range []string{"schema_version", "query", "domain", "canonical", "implicit_mx", "result", "error", "targets", "hosts", "dropped"} {
			assert.Contains(t, obj, k, "every field is always present")
		}
		assert.EqualValues(t, 1, obj["schema_version"])
	}
	var bounced jsonRoute
	require.NoError(t, json.Unmarshal([]byte(lines[1]), &bounced))
	assert.Equal(t, "bounce", bounced.Result)
	assert.Equal(t, &jsonError{Reason: "no-such-domain", Status: "5.1.2", Temporary: false,
		Message: `mxroute: "nowhere.vega.ru": no such domain: NXDOMAIN for nowhere.vega.ru (5.1.2)`}, bounced.Error)
	assert.Empty(t, bounced.Targets)
}

// Against a DNS server on loopback, the same answers as from the zone files;
// failures of the server are deferrals.
func TestRouteServer(t *testing.T) {
	t.Parallel()
	good := zoneServer(t, zonesDir+"vega.ru.zone", zonesDir+"relarn.ru.zone")
	offline := runBinary(t, args(list("route", "--seed", "1"), vegaZones, list("vega.ru", "www.vega.ru", "nowhere.vega.ru"))...)
	tests := []struct {
		name       string
		servers    []string
		extra      []string
		wantStatus int
		wantOut    string
		reason     string
	}{
		{"same as offline", list(good), nil, 69, offline.stdout, "the wire gives what the zone files give"},
		{"failover", list(rcodeServer(t, 2), good), nil, 69, offline.stdout, "a SERVFAIL server is skipped for the next"},
		{"SERVFAIL", list(rcodeServer(t, 2)), nil, 75, "vega.ru: defer 4.4.3", "EX_TEMPFAIL"},
		{"REFUSED", list(rcodeServer(t, 5)), nil, 75, "defer 4.4.3", "EX_TEMPFAIL"},
		{"timeout", list(silentServer(t)), list("--timeout", "300ms"), 75, "vega.ru: defer 4.4.3", "a server that never answers: --timeout ends the wait"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := list("route", "--seed", "1")
			for _, s := range tt.servers {
				a = append(a, "--server", s)
			}
			a = append(append(a, tt.extra...), "vega.ru", "www.vega.ru", "nowhere.vega.ru")
			res := runBinary(t, a...)
			assert.Equal(t, tt.wantStatus, res.status, "%s\n%s%s", tt.reason, res.stdout, res.stderr)
			assert.Contains(t, res.stdout, tt.wantOut, tt.reason)
		})
	}
}

func TestWrap(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		in    string
		width int
		want  []string
	}{
		{"fits", "a b c", 10, []string{"a b c"}},
		{"wraps at spaces", "aaa bbb ccc", 7, []string{"aaa bbb", "ccc"}},
		{"long word alone", "a verylongword b", 4, []string{"a", "verylongword", "b"}},
		{"runes, not bytes", "→→→ →→→", 7, []string{"→→→ →→→"}},
		{"empty", "", 5, []string{""}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, wrap(tt.in, tt.width), tt.name)
	}
}

// --max-addrs cuts every host after the one that fills the budget, the
// unusable ones too: each is listed as dropped, with the reason, in the
// table and in the JSON.
func TestRouteMaxAddrsDropsUnusable(t *testing.T) {
	t.Parallel()
	zone := writeFile(t, "t.example.zone", `$TTL 3600
$ORIGIN t.example.
@      IN SOA ns.t.example. hostmaster.t.example. ( 1 7200 3600 1209600 300 )
       IN NS  ns.t.example.
ns     IN A   192.0.2.53
@      IN MX  10 mx1.t.example.
       IN MX  20 noaddr.t.example.
       IN MX  30 mx3.t.example.
mx1    IN A   192.0.2.10
       IN AAAA 2001:db8::10
noaddr IN TXT "no address"
mx3    IN A   192.0.2.30
`)
	res := runBinary(t, "route", "--zone", zone, "--seed", "1", "--max-addrs", "2", "t.example")
	assert.Equal(t, 0, res.status, res.stderr)
	assert.Equal(t, `t.example
PREF  HOST              ADDRESS       FAMILY
10    mx1.t.example     2001:db8::10  IPv6
10    mx1.t.example     192.0.2.10    IPv4
20    noaddr.t.example  -             dropped: beyond --max-addrs
30    mx3.t.example     -             dropped: beyond --max-addrs
`, res.stdout, "every host after the cut is listed, in preference order")

	res = runBinary(t, "route", "--zone", zone, "--seed", "1", "--max-addrs", "2", "--json", "t.example")
	var out jsonRoute
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &out), res.stdout)
	var hosts, dropped []string
	for _, h := range out.Hosts {
		hosts = append(hosts, h.Name)
	}
	for _, d := range out.Dropped {
		dropped = append(dropped, d.Name+" "+d.Reason)
	}
	assert.Equal(t, []string{"mx1.t.example"}, hosts)
	assert.Equal(t, []string{"noaddr.t.example max-addrs", "mx3.t.example max-addrs"}, dropped,
		"no host of the MX RRset vanishes without a reason")
}
