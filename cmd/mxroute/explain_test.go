package main

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestExplainGolden(t *testing.T) {
	t.Parallel()
	runGolden(t, []goldenCase{
		{"explain_relay", args(list("explain", "--seed", "1", "--local-name", "ns.relarn.ru"), vegaZones, list("vega-gw.vega.ru", "www.vega.ru")), 0,
			"the loop guard and the CNAME, each with its rule"},
		{"explain_faults", args(list("explain", "--seed", "1", "--family", "4"), lintZone, list("cname.lint.example", "iplit.lint.example", "dup.lint.example", "nullmixed.lint.example", "nullpref.lint.example", "family.lint.example")), 69,
			"MX → CNAME, IP target, duplicate, null MX mixed and alone, shuffled ties"},
		{"explain_json", args(list("explain", "--seed", "1", "--json", "--max-addrs", "1"), cleanZone, list("clean.example")), 0,
			"decisions in JSON"},
	})
}

// explain exits as route does, and its route is route's.
func TestExplainMatchesRoute(t *testing.T) {
	t.Parallel()
	for _, domain := range []string{"vega.ru", "nowhere.vega.ru", "example.org"} {
		route := runBinary(t, args(list("route", "--seed", "2"), vegaZones, list(domain))...)
		explain := runBinary(t, args(list("explain", "--seed", "2"), vegaZones, list(domain))...)
		assert.Equal(t, route.status, explain.status, domain)
		assert.True(t, strings.HasSuffix(explain.stdout, "\n\n"+route.stdout), "%s: explain ends with the route\n%s", domain, explain.stdout)
	}
	res := runBinary(t, args(list("explain", "--json", "--seed", "1"), vegaZones, list("vega.ru"))...)
	var obj jsonRoute
	require.NoError(t, json.Unmarshal([]byte(res.stdout), &obj))
	require.NotEmpty(t, obj.Decisions)
	assert.Equal(t, "mx", obj.Decisions[0].Step)
	assert.Equal(t, "RFC 5321, Section 5.1", obj.Decisions[0].Rule)
}

// Over the wire, from a loopback server, explain reports the decisions it
// reports offline.
func TestExplainServer(t *testing.T) {
	t.Parallel()
	server := zoneServer(t, zonesDir+"vega.ru.zone", zonesDir+"relarn.ru.zone")
	domains := list("www.vega.ru", "vega-gw.vega.ru", "nowhere.vega.ru")
	offline := runBinary(t, args(list("explain", "--seed", "1", "--local-name", "ns.relarn.ru"), vegaZones, domains)...)
	online := runBinary(t, args(list("explain", "--seed", "1", "--local-name", "ns.relarn.ru", "--server", server), domains)...)
	assert.Equal(t, 69, online.status, online.stderr)
	assert.Equal(t, offline.status, online.status)
	assert.Equal(t, offline.stdout, online.stdout)
}
