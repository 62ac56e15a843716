package main

import (
	"encoding/json"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
)

// lintJSON runs lint --json and returns the checks found per domain.
func lintJSON(t *testing.T, a ...string) (map[string][]string, int) {
	t.Helper()
	res := runBinary(t, append(list("lint", "--json"), a...)...)
	found := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		var l jsonLint
		require.NoError(t, json.Unmarshal([]byte(line), &l), res.stdout+res.stderr)
		require.Equal(t, 1, l.SchemaVersion)
		found[l.Domain] = []string{}
		for _, f := range l.Findings {
			found[l.Domain] = append(found[l.Domain], f.Check)
			require.NotEmpty(t, f.Rule, "every finding cites its rule")
		}
	}
	return found, res.status
}

// Each domain of the lint zone plants one fault: lint finds it and nothing
// else.
func TestLintZone(t *testing.T) {
	t.Parallel()
	found, status := lintJSON(t, args(lintZone, list("--from", lintDomain))...)
	assert.Equal(t, 2, status, "errors found: exit 2")
	assert.Equal(t, map[string][]string{
		"cname.lint.example":     {"mx-cname"},
		"iplit.lint.example":     {"mx-ip-literal"},
		"noaddress.lint.example": {"mx-no-address"},
		"external.lint.example":  {"mx-external-unresolved"},
		"lame.lint.example":      {"mx-lookup-failed"},
		"nullmixed.lint.example": {"null-mx-mixed"},
		"nullpref.lint.example":  {"null-mx-preference"},
		"implicit.lint.example":  {"implicit-mx"},
		"dup.lint.example":       {"mx-duplicate"},
		"family.lint.example":    {"mx-family-mismatch"},
		"shortttl.lint.example":  {"mx-ttl-short"},
		"longttl.lint.example":   {"mx-ttl-long"},
		"nomail.lint.example":    {"route-failed"},
	}, found)
}

// Over the wire, from a loopback server for the lint zone, lint finds what
// it finds offline.
func TestLintZoneServer(t *testing.T) {
	t.Parallel()
	server := zoneServer(t, zonesDir+"lint.example.zone", zonesDir+"gone-provider.example.zone")
	offline, offStatus := lintJSON(t, args(lintZone, list("--from", lintDomain))...)
	online, onStatus := lintJSON(t, "--server", server, "--from", lintDomain)
	assert.Equal(t, offStatus, onStatus)
	assert.Equal(t, offline, online)
}

func TestLintClean(t *testing.T) {
	t.Parallel()
	res := runBinary(t, args(list("lint"), cleanZone, list("clean.example", "nomail.clean.example"))...)
	assert.Equal(t, 0, res.status, res.stdout)
	assert.Equal(t, "clean.example: ok\nnomail.clean.example: ok\n0 errors, 0 warnings in 2 domains\n", res.stdout)
	vega := runBinary(t, args(list("lint"), vegaZones, list("vega.ru", "vega-gw.vega.ru"))...)
	assert.Equal(t, 0, vega.status, "the classic zone is clean: %s", vega.stdout)
}

func TestLintExitStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		zone       []string
		domains    []string
		wantStatus int
		reason     string
	}{
		{"clean", cleanZone, list("clean.example"), 0, "nothing found: exit 0"},
		{"warnings only", lintZone, list("dup.lint.example", "family.lint.example"), 1, "warnings: exit 1"},
		{"an error", lintZone, list("dup.lint.example", "cname.lint.example"), 2, "any error: exit 2"},
		{"bad domain", lintZone, list("bad..example"), 2, "a malformed domain cannot be routed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, args(list("lint"), tt.zone, tt.domains)...)
			assert.Equal(t, tt.wantStatus, res.status, "%s\n%s", tt.reason, res.stdout)
		})
	}
	res := runBinary(t, "lint", "--server", silentServer(t), "--timeout", "300ms", "clean.example")
	assert.Equal(t, 2, res.status, "a domain no server answers for cannot be routed")
	assert.Contains(t, res.stdout, "clean.example: error: route-failed: senders defer:")
	res = runBinary(t, args(list("lint", "--min-ttl", "2h", "--max-ttl", "1h"), cleanZone, list("clean.example"))...)
	assert.Equal(t, 64, res.status, "min above max")
	res = runBinary(t, args(list("lint", "--max-ttl", "30m"), cleanZone, list("clean.example"))...)
	assert.Equal(t, 1, res.status, "3600s is above a 30m limit")
	assert.Contains(t, res.stdout, "mx-ttl-long")
	res = runBinary(t, args(list("lint", "--min-ttl", "2h"), cleanZone, list("clean.example"))...)
	assert.Contains(t, res.stdout, "mx-ttl-short")
}

func TestLintGolden(t *testing.T) {
	t.Parallel()
	res := runBinary(t, args(list("lint"), lintZone, list("--from", lintDomain))...)
	assert.Equal(t, 2, res.status)
	golden(t, "lint_table", res.stdout)
}

// With several servers, lint compares their MX answers: a migration still
// propagating shows as servers-disagree, differing authoritative TTLs as
// servers-disagree-ttl.
func TestLintServers(t *testing.T) {
	t.Parallel()
	orig, err := os.ReadFile(zonesDir + "clean.example.zone")
	require.NoError(t, err)
	changed := strings.Replace(string(orig), "IN MX 20 backup.clean.example.", "IN MX 20 mx1.clean.example.", 1)
	changed = strings.Replace(changed, "nomail     IN MX 0 .", "nomail 600 IN MX 0 .", 1)
	require.NotEqual(t, string(orig), changed)
	old := zoneServer(t, zonesDir+"clean.example.zone")
	migrated := zoneServer(t, writeFile(t, "clean.example.zone", changed))
	found, status := lintJSON(t, "--server", old, "--server", migrated, "clean.example", "nomail.clean.example")
	assert.Equal(t, 1, status, "disagreement is a warning")
	assert.Equal(t, map[string][]string{
		"clean.example":        {"servers-disagree"},
		"nomail.clean.example": {"servers-disagree-ttl"},
	}, found)

	same, status := lintJSON(t, "--server", old, "--server", old, "clean.example")
	assert.Equal(t, 0, status)
	assert.Equal(t, map[string][]string{"clean.example": {}}, same, "two servers that agree: nothing")

	res := runBinary(t, "lint", "--server", old, "--server", rcodeServer(t, 2), "clean.example")
	assert.Equal(t, 1, res.status, res.stdout)
	assert.Contains(t, res.stdout, `answers "10 mx1.clean.example., 10 mx2.clean.example., 20 backup.clean.example." but`)
	assert.Contains(t, res.stdout, `answers "SERVFAIL"`, "a failing server disagrees too")
}

// Every check lint knows is found by some test zone or server setup above
// (mx-not-authenticated by TestLintDNSSEC, mx-ttl-unchecked by
// TestLintPublishedTTL, the TLS checks by TestLintTLSZone).
func TestLintChecksAllPlanted(t *testing.T) {
	t.Parallel()
	planted := []string{"route-failed", "mx-cname", "mx-ip-literal", "mx-no-address", "mx-external-unresolved",
		"mx-lookup-failed", "null-mx-mixed", "null-mx-preference", "implicit-mx", "mx-duplicate",
		"mx-family-mismatch", "mx-ttl-short", "mx-ttl-long", "servers-disagree", "servers-disagree-ttl",
		"mx-not-authenticated", "mx-ttl-unchecked",
		"sts-record-invalid", "sts-policy-unavailable", "sts-mx-mismatch", "sts-max-age-short", "tlsa-unsigned", "tlsa-unusable",
		"tlsrpt-missing", "tlsrpt-invalid"}
	var ids []string
	for _, c := range allChecks {
		ids = append(ids, c.id)
		assert.NotEmpty(t, c.rule, c.id)
	}
	slices.Sort(ids)
	slices.Sort(planted)
	assert.Equal(t, planted, ids, "a new check needs a planted fault in TestLintZone, TestLintServers, TestLintDNSSEC, TestLintPublishedTTL or TestLintTLSZone")
}

func TestSameOrganization(t *testing.T) {
	t.Parallel()
	tests := []struct {
		domain, host string
		want         bool
		reason       string
	}{
		{"example.com", "mx.example.com", true, "under the domain"},
		{"example.com", "example.com", true, "the domain itself"},
		{"shop.example.com", "mx.example.com", true, "under the domain's parent"},
		{"example.com", "mx.example.net", false, "another domain"},
		{"example.com", "mx.com", false, "the parent is a TLD: not the same organization"},
		{"a.b.example.com", "mx.example.com", false, "only one level up"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, sameOrganization(tt.domain, tt.host), "%s in %s: %s", tt.host, tt.domain, tt.reason)
	}
}

// failServer serves the zone files, but answers rcode for the questions in
// fail ("name. TYPE").
func failServer(t *testing.T, rcode int, fail []string, files ...string) string {
	t.Helper()
	zone := zoneHandler(t, files...)
	return dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		if slices.Contains(fail, q.Name+" "+dns.TypeToString[q.Qtype]) {
			m := new(dns.Msg)
			m.SetRcode(req, rcode)
			_ = w.WriteMsg(m)
			return
		}
		zone.ServeDNS(w, req)
	}))
}

// closedPort returns a loopback UDP address nothing listens on: queries to
// it fail at once (connection refused), each with its own ephemeral port in
// the error.
func closedPort(t *testing.T) string {
	t.Helper()
	c, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := c.LocalAddr().String()
	require.NoError(t, c.Close())
	return addr
}

// A temporary failure at a mail host is mx-lookup-failed (a warning)
// wherever the host is; mx-external-unresolved (an error) is for a host
// that permanently does not exist in another domain.
func TestLintExternalTemporary(t *testing.T) {
	t.Parallel()
	lint := zonesDir + "lint.example.zone"
	gone := zonesDir + "gone-provider.example.zone"
	tests := []struct {
		name       string
		args       []string
		want       []string
		wantStatus int
		reason     string
	}{
		{"NXDOMAIN", args(lintZone, list("external.lint.example")), list("mx-external-unresolved"), 2,
			"the provider's zone says the host does not exist: permanent, an error"},
		{"REFUSED", list("--zone", lint, "external.lint.example"), list("mx-lookup-failed"), 1,
			"no zone for the provider: REFUSED is temporary, a warning as it is in-house"},
		{"SERVFAIL", list("--server", failServer(t, dns.RcodeServerFailure,
			list("mx.gone-provider.example. A", "mx.gone-provider.example. AAAA"), lint, gone), "external.lint.example"),
			list("mx-lookup-failed"), 1, "the provider's server fails: senders retry, the domain still routes"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			found, status := lintJSON(t, tt.args...)
			assert.Equal(t, map[string][]string{"external.lint.example": tt.want}, found, tt.reason)
			assert.Equal(t, tt.wantStatus, status, tt.reason)
		})
	}
}

// An implicit-MX domain whose own address lookup fails temporarily has no
// MX host to blame: route-failed says it, not a made-up "MX 0" finding.
func TestLintImplicitTemporary(t *testing.T) {
	t.Parallel()
	server := failServer(t, dns.RcodeServerFailure, list("implicit.lint.example. A", "implicit.lint.example. AAAA"),
		zonesDir+"lint.example.zone")
	res := runBinary(t, "lint", "--json", "--server", server, "implicit.lint.example")
	assert.Equal(t, 2, res.status, res.stdout)
	assert.NotContains(t, res.stdout, "mx-lookup-failed", "no MX record exists to fail")
	assert.NotContains(t, res.stdout, "MX 0 implicit.lint.example")
	found, _ := lintJSON(t, "--server", server, "implicit.lint.example")
	assert.Equal(t, map[string][]string{"implicit.lint.example": {"route-failed", "implicit-mx"}}, found,
		"the route fails (temporarily) and the domain has no MX")
}

// Servers that all fail to answer do not disagree, however their errors
// read: each error names the server and an ephemeral port.
func TestLintServersAllFail(t *testing.T) {
	t.Parallel()
	a, b := closedPort(t), closedPort(t)
	tests := []struct {
		name    string
		servers []string
		reason  string
	}{
		{"two servers", list(a, b), "two dead servers fail alike"},
		{"the same server twice", list(a, a), "a server does not disagree with itself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var flags []string
			for _, s := range tt.servers {
				flags = append(flags, "--server", s)
			}
			found, status := lintJSON(t, args(flags, list("--timeout", "5s", "clean.example"))...)
			assert.Equal(t, map[string][]string{"clean.example": {"route-failed"}}, found, tt.reason)
			assert.Equal(t, 2, status, tt.reason)
		})
	}
}

// The --server comparison asks for the name Route asks for: an
// internationalized domain in its A-label form.
func TestLintServersIDN(t *testing.T) {
	t.Parallel()
	zone := writeFile(t, "d.example.zone", `$TTL 3600
$ORIGIN d.example.
@             IN SOA ns.d.example. hostmaster.d.example. ( 1 7200 3600 1209600 300 )
              IN NS  ns.d.example.
ns            IN A   192.0.2.53
xn--bcher-kva IN MX  10 mx.d.example.
mx            IN A   192.0.2.25
              IN AAAA 2001:db8::25
`)
	var mu sync.Mutex
	var asked []string // the MX questions the server got
	handler := zoneHandler(t, zone)
	server := dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		if q := req.Question[0]; q.Qtype == dns.TypeMX {
			mu.Lock()
			asked = append(asked, q.Name)
			mu.Unlock()
		}
		handler.ServeDNS(w, req)
	}))
	found, status := lintJSON(t, "--server", server, "--server", server, "--no-cache", "--timeout", "5s", "bücher.d.example", "BÜCHER.d.example.")
	assert.Equal(t, map[string][]string{"bücher.d.example": {}, "BÜCHER.d.example.": {}}, found,
		"both servers are asked for xn--bcher-kva.d.example and agree")
	assert.Equal(t, 0, status)
	mu.Lock()
	defer mu.Unlock()
	require.NotEmpty(t, asked)
	for _, q := range asked {
		assert.Equal(t, "xn--bcher-kva.d.example.", q, "every MX question, Route's and the comparison's, is for the A-label")
	}
}

// A host whose AAAA (or A) lookup failed is not a host without AAAA: lint
// reports the failed lookup, not a family mismatch it cannot know.
func TestLintFamilyLookupFailed(t *testing.T) {
	t.Parallel()
	lint := zonesDir + "lint.example.zone"
	tests := []struct {
		name   string
		fail   []string
		want   []string
		reason string
	}{
		{"AAAA answered", nil, list("mx-family-mismatch"), "mx2 has no AAAA: a real mismatch"},
		{"AAAA fails", list("mx2.lint.example. AAAA"), list("mx-lookup-failed"),
			"mx2's AAAA lookup failed: whether it has AAAA is unknown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			server := failServer(t, dns.RcodeServerFailure, tt.fail, lint)
			found, status := lintJSON(t, "--server", server, "family.lint.example")
			assert.Equal(t, map[string][]string{"family.lint.example": tt.want}, found, tt.reason)
			assert.Equal(t, 1, status, "a warning either way")
			if len(tt.fail) > 0 {
				res := runBinary(t, "lint", "--server", server, "family.lint.example")
				assert.Contains(t, res.stdout, "family.lint.example: warning: mx-lookup-failed: MX 10 mx2.lint.example: AAAA lookup for mx2.lint.example: SERVFAIL (only its other addresses are used)\n")
			}
		})
	}
}

// orderZone plants many faults in each domain, so that the findings of
// different checks interleave.
const orderZone = `$TTL 60
$ORIGIN order.example.
@       IN SOA ns hostmaster 1 7200 3600 1209600 300
        IN NS ns
ns      IN A 192.0.2.53
@       IN MX 10 alias
@       IN MX 10 mx1
@       IN MX 10 mx2
@       IN MX 20 192.0.2.9.
@       IN MX 20 noaddr
@       IN MX 30 gone.other.example.
@       IN MX 30 alias2
@       IN MX 5 mx3
@       IN MX 40 mx4
@       IN MX 40 mx5
@       IN MX 40 mx1
alias   IN CNAME mx1
alias2  IN CNAME mx2
mx1     IN A 192.0.2.1
mx1     IN AAAA 2001:db8::1
mx2     IN A 192.0.2.2
mx3     IN AAAA 2001:db8::3
mx4     IN A 192.0.2.4
mx5     IN AAAA 2001:db8::5
y       IN MX 10 alias
y       IN MX 10 alias
y       IN MX 20 192.0.2.7.
y       IN MX 30 noaddr
y       IN MX 5 nothere
`

// A domain's findings come in the order a route meets what they are
// about: the route's decisions in the order it made them, then each
// preference's families, the DNSSEC status, the TTL and the --server
// answers; not grouped by check, nor in allChecks' order.
func TestLintOrder(t *testing.T) {
	t.Parallel()
	zone := writeFile(t, "order.example.zone", orderZone)
	res := runBinary(t, "lint", "--zone", zone, "--min-ttl", "2m", "order.example", "y.order.example")
	assert.Equal(t, 2, res.status, res.stderr)
	golden(t, "lint_order", res.stdout)

	changed := writeFile(t, "order.example.zone", strings.Replace(orderZone, "y       IN MX 5 nothere", "y       IN MX 5 mx1", 1))
	found, status := lintJSON(t, "--server", zoneServer(t, zone), "--server", zoneServer(t, changed), "--dnssec", "--min-ttl", "2m", "y.order.example")
	assert.Equal(t, 2, status)
	assert.Equal(t, map[string][]string{"y.order.example": {"mx-duplicate", "mx-ip-literal", "mx-no-address", "mx-cname", "mx-no-address",
		"mx-not-authenticated", "mx-ttl-short", "servers-disagree"}}, found,
		"the route's decisions, then DNSSEC, the TTL and the servers")
}
