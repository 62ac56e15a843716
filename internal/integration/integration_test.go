package integration

import (
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/internal/rfcvectors"
)

// intZone holds what the RFC vectors cannot inject on a real server: a
// delegation to a server that does not exist, and RRsets too large for a
// 1232-byte UDP reply.
func intZone() string {
	var b strings.Builder
	b.WriteString(`$TTL 60
$ORIGIN int.
@        IN SOA ns.int. hostmaster.int. ( 1 3600 600 86400 60 )
         IN NS  ns.int.
ns       IN A   127.0.0.1
; A delegation to a server nobody runs (127.0.0.254, loopback: no packet
; leaves the machine): a resolver can only answer SERVFAIL below it.
dead     IN NS  ns.dead.int.
ns.dead  IN A   127.0.0.254
deadmx   IN MX  10 mx.dead.int.
         IN MX  20 mx.ok.int.
mx.ok    IN A   192.0.2.200
; 100 A records (1,600 bytes compressed) do not fit in 1232 bytes: TC, then TCP.
big      IN MX  10 mx.big.int.
`)
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(&b, "mx.big   IN A   10.0.%d.%d\n", i/256, i%256)
	}
	for i := range 100 { // BIND 9.18.28+ refuses more (max-records-per-type)
		fmt.Fprintf(&b, "bigmx    IN MX  %d m%d.bigmx.int.\n", 10+i%3, i)
	}
	return b.String()
}

// secZone is signed in the test. mx.bogus is changed after signing: its
// signature no longer matches, as if an attacker had forged it.
var secZone = `$TTL 60
$ORIGIN sec.
@         IN SOA ns.sec. hostmaster.sec. ( 1 3600 600 86400 60 )
          IN NS  ns.sec.
          IN MX  10 mx.sec.
ns        IN A   127.0.0.1
mx        IN A   192.0.2.77
          IN AAAA 2001:db8::77
implicit  IN A   192.0.2.78
bogus     IN MX  10 mx.bogus.sec.
mx.bogus  IN A   192.0.2.79
` + daneZone

// env is the pair of servers every test here shares.
type env struct {
	bind, unbound *Server
}

// TestRealServers starts BIND and Unbound once and runs every real-server
// test against them, as subtests, so that the daemons stop when it ends.
func TestRealServers(t *testing.T) {
	e := startEnv(t)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("named:\n%s\nunbound:\n%s", e.bind.Log(), e.unbound.Log())
		}
	})
	t.Run("vectors", func(t *testing.T) { testVectors(t, e) })
	t.Run("servfail from a dead delegation", func(t *testing.T) { testServfailFromDeadDelegation(t, e) })
	t.Run("truncation and TCP retry", func(t *testing.T) { testTruncationTCPRetry(t, e) })
	t.Run("DNSSEC", func(t *testing.T) { testDNSSEC(t, e) })
	t.Run("command with --dnssec", func(t *testing.T) { testCommandDNSSEC(t, e) })
	t.Run("DANE", func(t *testing.T) { testDANE(t, e) })
}

// startEnv signs the sec. zone, then starts BIND with every zone and Unbound
// in front of it, trusting the sec. key.
func startEnv(t *testing.T) *env {
	bins := Need(t, "named", "unbound", "dnssec-keygen", "dnssec-signzone")
	dir := t.TempDir()

	// Sign sec.: a key-signing key (the trust anchor) and a zone-signing key.
	ksk := strings.TrimSpace(Run(t, dir, bins["dnssec-keygen"], "-q", "-K", dir, "-a", "ECDSAP256SHA256", "-f", "KSK", "sec."))
	zsk := strings.TrimSpace(Run(t, dir, bins["dnssec-keygen"], "-q", "-K", dir, "-a", "ECDSAP256SHA256", "sec."))
	var keys, anchor string
	for _, k := range []string{ksk, zsk} {
		b, err := os.ReadFile(filepath.Join(dir, k+".key"))
		require.NoError(t, err)
		for _, line := range strings.Split(string(b), "\n") {
			if line != "" && !strings.HasPrefix(line, ";") {
				keys += line + "\n"
				if k == ksk {
					anchor = line
				}
			}
		}
	}
	require.NotEmpty(t, anchor)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "sec.unsigned"), []byte(secZone+keys), 0o644))
	Run(t, dir, bins["dnssec-signzone"], "-q", "-K", dir, "-o", "sec.", "-f", "sec.signed", "-k", ksk, "sec.unsigned", zsk)
	signed, err := os.ReadFile(filepath.Join(dir, "sec.signed"))
	require.NoError(t, err)
	require.Contains(t, string(signed), "192.0.2.79")
	forged := strings.Replace(string(signed), "192.0.2.79", "203.0.113.66", 1)
	forged = forgeTLSA(t, forged)

	zones := []Zone{{Origin: "int.", Data: intZone()}, {Origin: "sec.", Data: forged}}
	stubs := []string{"int.", "sec."}
	for _, z := range rfcvectors.Zones() {
		zones = append(zones, Zone{Origin: z.Origin, Data: z.Data})
		stubs = append(stubs, z.Origin)
	}
	bdir, udir := filepath.Join(dir, "bind"), filepath.Join(dir, "unbound")
	require.NoError(t, os.Mkdir(bdir, 0o755))
	require.NoError(t, os.Mkdir(udir, 0o755))
	e := &env{}
	e.bind = StartBIND(t, bins["named"], bdir, zones)
	e.unbound = StartUnbound(t, bins["unbound"], udir, e.bind.Addr, stubs, []string{anchor})
	return e
}

// viaUnbound is a DNSResolver asking Unbound, with DNSSEC on.
func (e *env) viaUnbound() *mxroute.DNSResolver {
	return &mxroute.DNSResolver{Servers: []string{e.unbound.Addr}, Timeout: 3 * time.Second, Attempts: 1, DNSSEC: true}
}

// direct is a DNSResolver asking BIND itself, which does not recurse.
func (e *env) direct() *mxroute.DNSResolver {
	return &mxroute.DNSResolver{Servers: []string{e.bind.Addr}, Timeout: 3 * time.Second, Attempts: 1, DNSSEC: true}
}

// testVectors runs every RFC vector that needs no injected fault through
// DNSResolver, against Unbound (recursive, in front of BIND) and against
// BIND directly. The faults (SERVFAIL, timeouts, truncation) are covered by
// real configurations in the tests below.
func testVectors(t *testing.T, e *env) {
	for _, via := range []struct {
		name string
		res  *mxroute.DNSResolver
	}{{"unbound", e.viaUnbound()}, {"bind", e.direct()}} {
		t.Run(via.name, func(t *testing.T) {
			n := 0
			for _, v := range rfcvectors.All {
				if len(v.Faults) > 0 {
					continue
				}
				n++
				t.Run(v.Name, func(t *testing.T) {
					t.Parallel()
					rt, err := v.Router(via.res).Route(t.Context(), v.Domain)
					// Real servers rotate or randomise the order of an
					// RRset between answers (BIND's rrset-order, Unbound's
					// rrset-roundrobin), where the zone-file runs keep
					// file order. The router sorts mail hosts by
					// (preference, name) before its seeded shuffle, so host
					// order does not depend on it; but within a host each
					// family's addresses come in the server's order, which
					// RFC 5321 says to keep. So addresses are compared with
					// each family's addresses sorted in place: which
					// family comes where (IPv6 first, interleaved ...) and
					// which addresses each holds are still checked exactly.
					rfcvectors.Check(t, sortWithinFamilies(realServer(v)), sortRouteWithinFamilies(rt), err)
				})
			}
			require.Greater(t, n, 40, "most vectors run against real servers")
		})
	}
}

// testServfailFromDeadDelegation: below a delegation to a server that does
// not answer, Unbound says SERVFAIL: the mail is deferred, never bounced;
// a mail host under it is unusable for now and the next one is used. BIND's
// REFUSED for a zone it does not serve is deferred too.
func testServfailFromDeadDelegation(t *testing.T, e *env) {
	res := e.viaUnbound()
	res.Timeout = 10 * time.Second // Unbound gives up on the dead server on its own clock
	start := time.Now()
	m, err := res.Resolve(t.Context(), "x.dead.int.", dns.TypeMX)
	t.Logf("SERVFAIL after %v", time.Since(start))
	require.NoError(t, err)
	assert.Equal(t, dns.RcodeServerFailure, m.Rcode, "Unbound cannot reach the delegated server")

	rt, err := (&mxroute.Router{Resolver: res}).Route(t.Context(), "x.dead.int")
	assert.Nil(t, rt)
	require.ErrorIs(t, err, mxroute.ErrTemporary)
	assert.True(t, mxroute.IsTemporary(err), "RFC 5321, Section 5.1: a temporary failure is retried later")

	// REFUSED, from a server asked about a zone it does not serve, is no
	// answer either.
	rt, err = (&mxroute.Router{Resolver: e.direct()}).Route(t.Context(), "not-served.example")
	assert.Nil(t, rt)
	require.ErrorIs(t, err, mxroute.ErrTemporary, "REFUSED says nothing about the domain: defer")
	assert.Contains(t, err.Error(), "REFUSED")

	rt, err = (&mxroute.Router{Resolver: res}).Route(t.Context(), "deadmx.int")
	require.NoError(t, err)
	require.Len(t, rt.Hosts, 2)
	assert.ErrorIs(t, rt.Hosts[0].Err, mxroute.ErrTemporary, "the host under the dead delegation")
	assert.True(t, mxroute.IsTemporary(rt.Hosts[0].Err))
	assert.Equal(t, []netip.Addr{netip.MustParseAddr("192.0.2.200")}, rt.Hosts[1].Addrs)
}

// testTruncationTCPRetry: 100 A records and 100 MX records do not fit in a
// 1232-byte UDP reply; the server truncates, DNSResolver asks again over
// TCP and gets them all; the router then applies its caps.
func testTruncationTCPRetry(t *testing.T, e *env) {
	for _, res := range []*mxroute.DNSResolver{e.viaUnbound(), e.direct()} {
		t.Run(res.Servers[0], func(t *testing.T) {
			t.Parallel()
			// Over UDP alone the answer is truncated.
			q := new(dns.Msg)
			q.SetQuestion("mx.big.int.", dns.TypeA)
			q.SetEdns0(1232, false)
			udp, _, err := (&dns.Client{Net: "udp", UDPSize: 1232, Timeout: 3 * time.Second}).Exchange(q, res.Servers[0])
			require.NoError(t, err)
			assert.True(t, udp.Truncated, "the RRset does not fit in 1232 bytes")

			m, err := res.Resolve(t.Context(), "mx.big.int.", dns.TypeA)
			require.NoError(t, err)
			assert.False(t, m.Truncated)
			assert.Len(t, m.Answer, 100, "the whole RRset, over TCP")
			m, err = res.Resolve(t.Context(), "bigmx.int.", dns.TypeMX)
			require.NoError(t, err)
			assert.Len(t, m.Answer, 100)

			rt, err := (&mxroute.Router{Resolver: res}).Route(t.Context(), "big.int")
			require.NoError(t, err)
			require.Len(t, rt.Hosts, 1)
			assert.Len(t, rt.Hosts[0].Addrs, 64, "MaxAddrsPerHost's default caps the 100 addresses")

			rt, err = (&mxroute.Router{Resolver: res, MaxMX: 5, Family: mxroute.IPv4Only}).Route(t.Context(), "bigmx.int")
			require.ErrorIs(t, err, mxroute.ErrNoAddress, "the MX targets do not exist")
			require.NotNil(t, rt)
			assert.Len(t, rt.Hosts, 5, "MaxMX caps the 100 MX records")
		})
	}
}

// testDNSSEC: a signed zone, validated by Unbound with the zone's key as
// trust anchor, comes back with AD, and the Route says so; unsigned zones,
// DNSSEC off and the authoritative server itself do not; a record whose
// signature fails validation is SERVFAIL, never the forged address.
func testDNSSEC(t *testing.T, e *env) {
	tests := []struct {
		name          string
		res           *mxroute.DNSResolver
		domain        string
		wantAuthentic bool
		wantHost      bool
		reason        string
	}{
		{"signed, via Unbound", e.viaUnbound(), "sec", true, true, "validated by Unbound: AD on the MX and the address answers"},
		{"signed implicit MX, via Unbound", e.viaUnbound(), "implicit.sec", true, true,
			"the NODATA for MX is proven by NSEC records, so the implicit MX is authentic"},
		{"unsigned, via Unbound", e.viaUnbound(), "basic.t", false, false, "t. has no trust anchor: insecure, no AD"},
		{"signed, DNSSEC off", &mxroute.DNSResolver{Servers: []string{e.unbound.Addr}, Timeout: 3 * time.Second, Attempts: 1},
			"sec", false, false, "without DNSSEC the AD bit is not asked for and never reported"},
		{"signed, BIND directly", e.direct(), "sec", false, false, "an authoritative server does not validate: no AD"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			rt, err := (&mxroute.Router{Resolver: tt.res}).Route(t.Context(), tt.domain)
			require.NoError(t, err)
			assert.Equal(t, tt.wantAuthentic, rt.Authentic, "Route.Authentic: %s", tt.reason)
			require.NotEmpty(t, rt.Hosts)
			assert.Equal(t, tt.wantHost, rt.Hosts[0].Authentic, "Host.Authentic: %s", tt.reason)
			assert.NotEmpty(t, rt.Targets())
		})
	}

	t.Run("bogus address", func(t *testing.T) {
		t.Parallel()
		rt, err := (&mxroute.Router{Resolver: e.viaUnbound(), Family: mxroute.IPv4Only}).Route(t.Context(), "bogus.sec")
		require.ErrorIs(t, err, mxroute.ErrNoAddress)
		assert.True(t, mxroute.IsTemporary(err), "validation failure is SERVFAIL: defer, never deliver to the forged address")
		require.NotNil(t, rt)
		assert.True(t, rt.Authentic, "the MX RRset itself validated")
		assert.Empty(t, rt.Targets())
		m, err := e.direct().Resolve(t.Context(), "mx.bogus.sec.", dns.TypeA)
		require.NoError(t, err)
		require.NotEmpty(t, m.Answer)
		assert.Contains(t, m.Answer[0].String(), "203.0.113.66", "BIND serves the forged record; only validation stops it")
	})
}

// testCommandDNSSEC: the mxroute command, asking Unbound with --dnssec,
// shows the signed zone authenticated and the unsigned one not, and lint
// reports only the unsigned one.
func testCommandDNSSEC(t *testing.T, e *env) {
	bin := filepath.Join(t.TempDir(), "mxroute")
	Run(t, ".", "go", "build", "-o", bin, "../../cmd/mxroute")
	out := Run(t, ".", bin, "route", "--dnssec", "--server", e.unbound.Addr, "sec")
	assert.Contains(t, out, "sec\nMX RRset: authenticated (AD)\nPREF  HOST    AD   ADDRESS", "validated by Unbound:\n%s", out)
	assert.Regexp(t, `(?m)^10 +mx\.sec +yes +`, out)
	out = Run(t, ".", bin, "route", "--dnssec", "--server", e.unbound.Addr, "basic.t")
	assert.Contains(t, out, "MX RRset: not authenticated\n", "t. has no trust anchor:\n%s", out)
	// lint exits 1 or 2 for the zones' other findings (short TTLs): read
	// its output whatever the status. Unbound is a cache (no AA), so lint
	// asks for the published MX TTL authoritatively: --auth-server points
	// it at BIND, so that no question goes to the zones' NS addresses
	// (ns.t is 192.0.2.253, off this machine).
	lint, _ := exec.Command(bin, "lint", "--dnssec", "--server", e.unbound.Addr, "--auth-server", e.bind.Addr, "sec", "basic.t").Output()
	assert.NotContains(t, string(lint), "mx-ttl-unchecked", "BIND answers with AA:\n%s", lint)
	assert.NotContains(t, string(lint), "sec: info", "the signed zone is authenticated:\n%s", lint)
	assert.Contains(t, string(lint), "basic.t: info: mx-not-authenticated: neither the MX RRset nor the addresses of any mail host are DNSSEC-authenticated")
}

// realServer adjusts what v expects to what real servers do. BIND and
// Unbound detect CNAME loops and over-long chains themselves and answer
// SERVFAIL (BIND 9.18 and Unbound 1.17 both do, authoritative or recursive),
// so the router sees a temporary failure (ErrTemporary) where the zone-file
// runs, which hand it the chain, see the loop (ErrCNAME). The verdict is the
// same: defer, 4.4.3, temporary; only the sentinel differs.
func realServer(v rfcvectors.Vector) rfcvectors.Vector {
	if v.WantErr == mxroute.ErrCNAME {
		v.WantErr = mxroute.ErrTemporary
	}
	if v.Want != nil {
		want := *v.Want
		want.Hosts = slices.Clone(want.Hosts)
		for i, h := range want.Hosts {
			if h.Err == mxroute.ErrCNAME {
				want.Hosts[i].Err = mxroute.ErrTemporary
			}
		}
		v.Want = &want
	}
	return v
}

// sortWithinFamilies returns v with each expected host's addresses sorted
// within their family, in place (see testVectors).
func sortWithinFamilies(v rfcvectors.Vector) rfcvectors.Vector {
	if v.Want == nil {
		return v
	}
	want := *v.Want
	want.Hosts = slices.Clone(want.Hosts)
	for i, h := range want.Hosts {
		addrs := make([]netip.Addr, len(h.Addrs))
		for j, a := range h.Addrs {
			addrs[j] = netip.MustParseAddr(a)
		}
		sortFamilies(addrs)
		h.Addrs = nil
		for _, a := range addrs {
			h.Addrs = append(h.Addrs, a.String())
		}
		want.Hosts[i] = h
	}
	v.Want = &want
	return v
}

func sortRouteWithinFamilies(rt *mxroute.Route) *mxroute.Route {
	if rt == nil {
		return nil
	}
	out := *rt
	out.Hosts = slices.Clone(rt.Hosts)
	for i := range out.Hosts {
		out.Hosts[i].Addrs = slices.Clone(out.Hosts[i].Addrs)
		sortFamilies(out.Hosts[i].Addrs)
	}
	return &out
}

// sortFamilies sorts the IPv4 and the IPv6 addresses among themselves,
// leaving each family in the positions it held.
func sortFamilies(addrs []netip.Addr) {
	var v4, v6 []netip.Addr
	for _, a := range addrs {
		if a.Is4() {
			v4 = append(v4, a)
		} else {
			v6 = append(v6, a)
		}
	}
	slices.SortFunc(v4, netip.Addr.Compare)
	slices.SortFunc(v6, netip.Addr.Compare)
	for i, a := range addrs {
		if a.Is4() {
			addrs[i], v4 = v4[0], v4[1:]
		} else {
			addrs[i], v6 = v6[0], v6[1:]
		}
	}
}
