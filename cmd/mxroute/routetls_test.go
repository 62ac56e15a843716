package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute"
)

// route and explain with --mta-sts and --dane: each host's TLS mode in a
// column (and in JSON), the domain's TLS decisions as lines; explain adds
// the _mta-sts record, the policy, the TLSA records and each host's TLS
// decisions.
func TestTLSGolden(t *testing.T) {
	t.Parallel()
	ps := servePolicies(t, stsPolicies)
	server := tlsDNS(t)
	on := args(list("--mta-sts", "--dane", "--seed", "1", "--server", server), ps.flags)
	runGolden(t, []goldenCase{
		{"route_tls", args(list("route"), on, list("good.tls.example", "mismatch.tls.example", "pkix.tls.example", "unsigned.tls.example")), 75,
			"mta-sts and dane hosts; a domain whose only MX the policy excludes defers; dane (encrypt); DANE not applying to an insecure host"},
		{"explain_tls", args(list("explain"), on, list("good.tls.example", "mismatch.tls.example")), 75,
			"the record, the policy, the TLSA records, each host's decisions"},
		{"route_json_tls", args(list("route", "--json"), on, list("good.tls.example", "pkix.tls.example")), 0,
			"mta_sts, dane, tls; each host's and target's tls"},
		{"explain_json_tls", args(list("explain", "--json"), on, list("good.tls.example")), 0,
			"the decisions, TLS ones included"},
		{"route_mta_sts_zone", args(list("route", "--mta-sts", "--seed", "1", "--zone", tlsZone), servePolicies(t, stsPolicies, "nopolicy.tls.example").flags, list("good.tls.example", "nopolicy.tls.example")), 0,
			"--mta-sts offline: the zone's records, the policies over HTTPS; a failed fetch is opportunistic TLS, never a bounce"},
	})
}

// DANE that cannot apply is said where the route is shown: under the
// domain with a table, or naming the domain when the route failed before
// one (the Router decides it before the MX question). No test server can
// show it through the binary (every loopback server's AD is believed), so
// the route is made here.
func TestRouteDANEUnavailable(t *testing.T) {
	t.Parallel()
	unavailable := mxroute.Event{Step: mxroute.StepDANEUnavailable, Rule: "RFC 7672, Section 2.2; RFC 4035, Section 4.9.3",
		Message: "Router.DANE is on, but a DNSResolver believes the AD bit of none of its servers (192.0.2.53:53): DANE can never apply, no TLSA question is asked"}
	failed := routed{err: &mxroute.Error{Domain: "x.example", Status: "4.4.3", Temporary: true, Err: mxroute.ErrTemporary, Detail: "MX lookup: timeout"},
		events: []mxroute.Event{unavailable}}
	var b strings.Builder
	printRoute(&b, "x.example", failed, show{tls: true, dane: true})
	assert.Equal(t, "x.example: Router.DANE is on, but a DNSResolver believes the AD bit of none of its\n"+
		"  servers (192.0.2.53:53): DANE can never apply, no TLSA question is asked\n"+
		`x.example: defer 4.4.3: mxroute: "x.example": temporary DNS failure: MX lookup: timeout (4.4.3)`+"\n", b.String())
	b.Reset()
	printRoute(&b, "x.example", failed, show{})
	assert.NotContains(t, b.String(), "DANE", "without --mta-sts or --dane no TLS line")

	addr := netip.MustParseAddr("192.0.2.25")
	routedOK := routed{rt: &mxroute.Route{Domain: "x.example", Canonical: "x.example", Hosts: []mxroute.Host{{Name: "mx.x.example", Preference: 10, Addrs: []netip.Addr{addr}, Canonical: "mx.x.example"}}},
		events: []mxroute.Event{unavailable}}
	b.Reset()
	printRoute(&b, "x.example", routedOK, show{tls: true, dane: true})
	assert.Equal(t, "x.example\n"+
		"Router.DANE is on, but a DNSResolver believes the AD bit of none of its\n"+
		"  servers (192.0.2.53:53): DANE can never apply, no TLSA question is asked\n"+
		"PREF  HOST          TLS            ADDRESS     FAMILY\n"+
		"10    mx.x.example  opportunistic  192.0.2.25  IPv4\n", b.String())
	j := jsonRouteOf("x.example", routedOK, show{tls: true, dane: true})
	require.NotNil(t, j.TLS)
	require.Len(t, j.TLS.Decisions, 1)
	assert.Equal(t, "dane-unavailable", j.TLS.Decisions[0].Step)
	assert.Equal(t, "opportunistic", *j.Targets[0].TLS)
	assert.Equal(t, "opportunistic", j.Hosts[0].TLS.Mode)
}

// What a policy host or a TXT record says reaches the terminal escaped: a
// policy's extension may hold any printable UTF-8 and more (RFC 8461,
// Section 3.2), a record any byte.
func TestTLSEscaped(t *testing.T) {
	t.Parallel()
	ps := servePolicies(t, map[string]string{"a.sts.test": "version: STSv1\nmode: testing\nmx: mx.sts.test\nmax_age: 604800\nnote: \u202eevil\u202c\n"})
	zone := stsTestZone(t, `"v=STSv1; id=1"`, `"x=\027[31m"`)
	res := runBinary(t, args(list("explain", "--mta-sts", "--zone", zone), ps.flags, list("a.sts.test"))...)
	require.Equal(t, 0, res.status, res.stderr)
	assert.NotContains(t, res.stdout, "\u202e", "no bidi override reaches the terminal")
	assert.NotContains(t, res.stdout, "\x1b", "no escape byte reaches the terminal")
	assert.Contains(t, res.stdout, `note: \u202eevil\u202c`)
	assert.Contains(t, res.stdout, `_mta-sts.a.sts.test TXT "x=\x1b[31m"`, "every record at the name is shown, quoted")
}

// A policy host that never answers costs the route half of --timeout: the
// fetch fails, and the route goes on as without MTA-STS (RFC 8461, Section
// 3.3), instead of waiting for the policy until the domain's time is up
// and deferring it.
func TestRouteSTSStalled(t *testing.T) {
	t.Parallel()
	ps := servePolicies(t, map[string]string{"a.sts.test": "hang"})
	zone := stsTestZone(t, `"v=STSv1; id=1"`)
	res := runBinary(t, args(list("route", "--mta-sts", "--timeout", "2s", "--zone", zone), ps.flags, list("a.sts.test"))...)
	assert.Equal(t, 0, res.status, "routed, not deferred\n%s", res.stdout)
	assert.Contains(t, res.stdout, "no MTA-STS policy applies: delivery goes on as without MTA-STS")
	assert.Contains(t, res.stdout, "10    mx.sts.test  opportunistic  192.0.2.25  IPv4\n")
}
