package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
)

// vegaSigned serves the vega zones on loopback as a validating resolver
// would if vega.ru were signed and relarn.ru not: AD on the replies for
// names under vega.ru only. DNSResolver believes AD from loopback.
func vegaSigned(t *testing.T, zones ...string) string {
	t.Helper()
	return dnstest.Serve(t, dnstest.WithAD(zoneHandler(t, zonesDir+"vega.ru.zone", zonesDir+"relarn.ru.zone"), zones...))
}

// --dnssec shows what the resolver authenticated: the MX RRset on a line of
// its own, each host in the AD column; explain adds it to the MX and
// address decisions; JSON has the authentic fields.
func TestDNSSECGolden(t *testing.T) {
	t.Parallel()
	server := vegaSigned(t, "vega.ru")
	domains := list("vega.ru", "www.vega.ru", "nowhere.vega.ru")
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		reason     string
	}{
		{"route_dnssec", args(list("route", "--dnssec", "--seed", "1", "--server", server, "--local-name", "relay.relarn.ru"), domains, list("[192.0.2.1]")), 69,
			"vega.ru signed, relarn.ru not: the MX RRset and vega-gw are authenticated, ns.relarn.ru is not; dropped rows and an address literal have no status"},
		{"explain_dnssec", args(list("explain", "--dnssec", "--seed", "1", "--server", server), domains, list("relay.relarn.ru")), 69,
			"each MX RRset (or an implicit MX's NODATA) and each host's addresses say whether they were authenticated"},
		{"route_json_dnssec", args(list("route", "--dnssec", "--json", "--seed", "1", "--server", server), domains), 69,
			"dnssec true; authentic for the route and each host"},
		{"explain_json_dnssec", args(list("explain", "--dnssec", "--json", "--seed", "1", "--server", server), list("www.vega.ru")), 0,
			"the MX and address decisions' messages say the status too"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, tt.args...)
			assert.Equal(t, tt.wantStatus, res.status, "%s\nstderr: %s", tt.reason, res.stderr)
			assert.Empty(t, res.stderr)
			golden(t, tt.name, res.stdout)
			for _, line := range strings.Split(res.stdout, "\n") {
				if !strings.Contains(line, "bounce") && !strings.HasPrefix(line, "{") {
					assert.LessOrEqual(t, len([]rune(line)), 80, "fits 80 columns: %q", line)
				}
			}
		})
	}
}

// What the AD bit says, and what nothing says: without --dnssec the same
// server's AD is ignored and the output is the offline one; with --dnssec
// a server that signs everything, nothing, or part gives each status.
func TestDNSSECStatus(t *testing.T) {
	t.Parallel()
	type status struct {
		Route bool
		Hosts map[string]bool
	}
	tests := []struct {
		name   string
		zones  []string // signed zones; nil: all; "none": none
		dnssec bool
		want   status
		reason string
	}{
		{"all signed", nil, true, status{true, map[string]bool{"vega-gw.vega.ru": true, "ns.relarn.ru": true, "relay.relarn.ru": true}},
			"AD on every reply"},
		{"vega.ru signed", list("vega.ru"), true, status{true, map[string]bool{"vega-gw.vega.ru": true, "ns.relarn.ru": false, "relay.relarn.ru": false}},
			"hosts in the unsigned zone are not authenticated"},
		{"relarn.ru signed", list("relarn.ru"), true, status{false, map[string]bool{"vega-gw.vega.ru": false, "ns.relarn.ru": true, "relay.relarn.ru": true}},
			"the MX RRset and the host status are apart"},
		{"nothing signed", list("none.invalid"), true, status{false, map[string]bool{"vega-gw.vega.ru": false, "ns.relarn.ru": false, "relay.relarn.ru": false}},
			"no AD anywhere"},
		{"all signed, no --dnssec", nil, false, status{false, map[string]bool{"vega-gw.vega.ru": false, "ns.relarn.ru": false, "relay.relarn.ru": false}},
			"without --dnssec the resolver does not ask for AD and believes none: unknown is false"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			server := vegaSigned(t, tt.zones...)
			a := list("route", "--json", "--seed", "1", "--server", server)
			if tt.dnssec {
				a = append(a, "--dnssec")
			}
			res := runBinary(t, append(a, "vega.ru")...)
			require.Equal(t, 0, res.status, res.stderr)
			var got jsonRoute
			require.NoError(t, json.Unmarshal([]byte(res.stdout), &got))
			assert.Equal(t, tt.dnssec, got.DNSSEC, "dnssec says whether the status was asked for")
			have := status{got.Authentic, map[string]bool{}}
			for _, h := range got.Hosts {
				have.Hosts[h.Name] = h.Authentic
			}
			assert.Equal(t, tt.want, have, tt.reason)
		})
	}
}

// Without --dnssec, a server that sets AD changes nothing: the table and
// explain are the offline ones, with no DNSSEC line or column.
func TestDNSSECOff(t *testing.T) {
	t.Parallel()
	server := vegaSigned(t)
	domains := list("vega.ru", "www.vega.ru")
	for _, cmd := range []string{"route", "explain"} {
		offline := runBinary(t, args(list(cmd, "--seed", "1"), vegaZones, domains)...)
		online := runBinary(t, args(list(cmd, "--seed", "1", "--server", server), domains)...)
		require.Equal(t, 0, online.status, online.stderr)
		assert.Equal(t, offline.stdout, online.stdout, cmd)
		assert.NotContains(t, online.stdout, "authenticated", cmd)
	}
}

// --dnssec is meaningless with --zone (zone files carry no DNSSEC status)
// and --trust-ad without --dnssec: usage errors, one line each.
func TestDNSSECUsage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"dnssec with zone", args(list("route", "--dnssec"), vegaZones, list("vega.ru")),
			"mxroute route: --dnssec needs DNS servers (--server or /etc/resolv.conf): zone files carry no DNSSEC status\n"},
		{"lint dnssec with zone", args(list("lint", "--dnssec"), vegaZones, list("vega.ru")),
			"mxroute lint: --dnssec needs DNS servers (--server or /etc/resolv.conf): zone files carry no DNSSEC status\n"},
		{"trust-ad alone", list("explain", "--trust-ad", "--server", "127.0.0.1:53", "vega.ru"), "mxroute explain: --trust-ad needs --dnssec or --dane\n"},
	}
	for _, tt := range tests {
		res := runBinary(t, tt.args...)
		assert.Equal(t, 64, res.status, tt.name)
		assert.Empty(t, res.stdout, tt.name)
		assert.Equal(t, tt.wantErr, res.stderr, tt.name)
	}
	// --trust-ad with --dnssec is accepted; over loopback AD is believed anyway.
	res := runBinary(t, "route", "--dnssec", "--trust-ad", "--server", vegaSigned(t), "vega.ru")
	assert.Equal(t, 0, res.status, res.stderr)
	assert.Contains(t, res.stdout, "MX RRset: authenticated (AD)\n")
}

// lint --dnssec reports, as info, what DANE could not use: one finding when
// nothing of a domain is authenticated, else the MX RRset and each host
// apart. Info leaves the exit status 0.
func TestLintDNSSEC(t *testing.T) {
	t.Parallel()
	type finding struct{ Host, Severity string }
	notAuth := func(hosts ...string) []finding {
		out := []finding{}
		for _, h := range hosts {
			out = append(out, finding{h, "info"})
		}
		return out
	}
	tests := []struct {
		name   string
		server string
		dnssec bool
		want   map[string][]finding
		reason string
	}{
		{"all signed", vegaSigned(t), true, map[string][]finding{"vega.ru": notAuth(), "relay.relarn.ru": notAuth()},
			"everything authenticated: nothing to say"},
		{"vega.ru signed", vegaSigned(t, "vega.ru"), true,
			map[string][]finding{"vega.ru": notAuth("ns.relarn.ru", "relay.relarn.ru"), "relay.relarn.ru": notAuth("")},
			"the hosts in the unsigned zone, each; the unsigned implicit-MX domain once"},
		{"relarn.ru signed", vegaSigned(t, "relarn.ru"), true,
			map[string][]finding{"vega.ru": notAuth("", "vega-gw.vega.ru"), "relay.relarn.ru": notAuth()},
			"the MX RRset, and the one host not authenticated"},
		{"nothing signed", zoneServer(t, zonesDir+"vega.ru.zone", zonesDir+"relarn.ru.zone"), true,
			map[string][]finding{"vega.ru": notAuth(""), "relay.relarn.ru": notAuth("")},
			"an unsigned domain: one finding, not one per host"},
		{"no --dnssec", zoneServer(t, zonesDir+"vega.ru.zone", zonesDir+"relarn.ru.zone"), false,
			map[string][]finding{"vega.ru": notAuth(), "relay.relarn.ru": notAuth()},
			"the check runs only with --dnssec"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := list("lint", "--json", "--server", tt.server)
			if tt.dnssec {
				a = append(a, "--dnssec")
			}
			res := runBinary(t, append(a, "vega.ru", "relay.relarn.ru")...)
			got := map[string][]finding{}
			for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
				var l jsonLint
				require.NoError(t, json.Unmarshal([]byte(line), &l), res.stdout+res.stderr)
				got[l.Domain] = []finding{}
				for _, f := range l.Findings {
					if f.Check == "implicit-mx" {
						continue // relay.relarn.ru has no MX: planted elsewhere
					}
					require.Equal(t, "mx-not-authenticated", f.Check, f.Message)
					assert.Equal(t, "RFC 7672, Section 2.2", f.Rule)
					got[l.Domain] = append(got[l.Domain], finding{f.Host, f.Severity})
				}
			}
			assert.Equal(t, tt.want, got, tt.reason)
			assert.Equal(t, 1, res.status, "implicit-mx of relay.relarn.ru is a warning; info adds nothing")
		})
	}
	res := runBinary(t, "lint", "--dnssec", "--server", vegaSigned(t), "[192.0.2.1]")
	assert.Equal(t, "[192.0.2.1]: ok\n0 errors, 0 warnings in 1 domain\n", res.stdout, "an address literal has no DNS to authenticate")
	res = runBinary(t, "lint", "--dnssec", "--server", vegaSigned(t, "relarn.ru"), "vega.ru")
	assert.Equal(t, 0, res.status, "info only: exit 0\n%s", res.stdout)
	assert.Equal(t, "vega.ru: info: mx-not-authenticated: the MX RRset is not DNSSEC-authenticated (no AD from the resolver): DANE cannot apply to its hosts\n"+
		"vega.ru: info: mx-not-authenticated: MX 10 vega-gw.vega.ru: addresses not DNSSEC-authenticated (no AD from the resolver): DANE cannot apply to this host\n"+
		"0 errors, 0 warnings, 2 info in 1 domain\n", res.stdout)
}
