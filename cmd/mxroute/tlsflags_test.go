package main

import (
	"crypto/tls"
	"encoding/pem"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
	"github.com/mxroute-go/mxroute/internal/testpki"
)

var tlsZone = zonesDir + "tls.example.zone"

// stsPolicies are the MTA-STS policies the tests' HTTPS server gives the
// domains of tls.example.zone; nopolicy.tls.example, not listed, gets 404.
var stsPolicies = map[string]string{
	"good.tls.example":      "version: STSv1\nmode: enforce\nmx: *.tls.example\nmax_age: 604800\n",
	"badrecord.tls.example": "version: STSv1\nmode: enforce\nmx: *.tls.example\nmax_age: 604800\n",
	"mismatch.tls.example":  "version: STSv1\nmode: enforce\nmx: mx.old-provider.example\nmax_age: 604800\n",
	"shortage.tls.example":  "version: STSv1\nmode: enforce\nmx: mx1.tls.example\nmax_age: 3600\n",
	"norpt.tls.example":     "version: STSv1\nmode: enforce\nmx: *.tls.example\nmax_age: 604800\n",
}

// policyServer is an HTTPS server on loopback that serves MTA-STS policies
// by the host asked for (mta-sts.<domain>), with a certificate for every
// name it is given from a CA of the test's. The command reaches it with
// flags: --ca-file (the CA) and --connect-to (every :443 to it).
type policyServer struct {
	flags    []string
	requests atomic.Int64
	mu       sync.Mutex
	bodies   map[string]string // domain → body; special bodies: see servePolicies
}

// servePolicies starts a policy server for bodies (domain → policy). A
// domain not in bodies gets 404; the body "hang" gets no answer until the
// request ends, "trickle" a byte every 50 ms, "html" a policy as text/html,
// "bigheader" a policy after a 100 KiB header.
// names are further domains the certificate names (the bodies' domains
// always are).
func servePolicies(t *testing.T, bodies map[string]string, names ...string) *policyServer {
	t.Helper()
	ps := &policyServer{bodies: map[string]string{}}
	for d, b := range bodies {
		ps.bodies[d] = b
		names = append(names, d)
	}
	slices.Sort(names) // the certificate's names, as errors quote them, in a stable order
	ca := testpki.NewRoot(t, "mxroute test CA")
	var dnsNames []string
	for _, d := range names {
		dnsNames = append(dnsNames, "mta-sts."+d)
	}
	cert := ca.Issue(t, testpki.Template{CommonName: "mta-sts test server", DNSNames: dnsNames})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.requests.Add(1)
		host, _, _ := strings.Cut(r.Host, ":")
		ps.mu.Lock()
		body, ok := ps.bodies[strings.TrimPrefix(host, "mta-sts.")]
		ps.mu.Unlock()
		switch {
		case !ok || r.URL.Path != "/.well-known/mta-sts.txt":
			http.NotFound(w, r)
		case body == "hang":
			<-r.Context().Done()
		case body == "trickle":
			w.Header().Set("Content-Type", "text/plain")
			for {
				if _, err := io.WriteString(w, "v"); err != nil {
					return
				}
				w.(http.Flusher).Flush()
				select {
				case <-r.Context().Done():
					return
				case <-time.After(50 * time.Millisecond):
				}
			}
		case body == "bigheader":
			w.Header().Set("X-Banner", strings.Repeat("a", 100<<10))
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, stsPolicies["good.tls.example"])
		case body == "html":
			w.Header().Set("Content-Type", "text/html")
			_, _ = io.WriteString(w, stsPolicies["good.tls.example"])
		default:
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, body)
		}
	})
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS()}}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of some tests
	srv.StartTLS()
	t.Cleanup(srv.Close)
	ps.flags = list("--ca-file", writePEM(t, ca), "--connect-to", ":443="+srv.Listener.Addr().String())
	return ps
}

// writePEM writes c's certificate to a PEM file and returns its path.
func writePEM(t *testing.T, c *testpki.Cert) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "ca.pem")
	require.NoError(t, os.WriteFile(file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Cert.Raw}), 0o644))
	return file
}

// tlsDNS serves tls.example.zone on loopback as a validating resolver
// would if tls.example were signed and insecure.tls.example an insecure
// delegation: AD on every reply but those for names under it. DNSResolver
// believes AD from loopback.
func tlsDNS(t *testing.T, files ...string) string {
	t.Helper()
	h := zoneHandler(t, append(list(tlsZone), files...)...)
	return dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		insecure := len(req.Question) == 1 && dns.IsSubDomain("insecure.tls.example.", req.Question[0].Name)
		h.ServeDNS(adSetter{w, !insecure}, req)
	}))
}

// adSetter sets or clears the AD bit of every message written.
type adSetter struct {
	dns.ResponseWriter
	ad bool
}

func (w adSetter) WriteMsg(m *dns.Msg) error {
	m.AuthenticatedData = w.ad
	return w.ResponseWriter.WriteMsg(m)
}

// stsTestZone writes sts.test.zone: a.sts.test with one MX, mx.sts.test,
// a TLSRPT record (stsTestTLSRPT), and the TXT records given at
// _mta-sts.a.sts.test (each a record: its strings in presentation form,
// quotes included).
func stsTestZone(t *testing.T, txts ...string) string {
	t.Helper()
	zone := `$TTL 3600
$ORIGIN sts.test.
@          IN SOA ns.sts.test. hostmaster.sts.test. ( 1 7200 3600 1209600 300 )
           IN NS  ns.sts.test.
ns         IN A   192.0.2.53
a          IN MX  10 mx.sts.test.
mx         IN A   192.0.2.25
mta-sts.a  IN A   192.0.2.80
` + stsTestTLSRPT
	for _, txt := range txts {
		zone += "_mta-sts.a IN TXT " + txt + "\n"
	}
	return writeFile(t, "sts.test.zone", zone)
}

// stsTestTLSRPT is the TLSRPT record of stsTestZone: a.sts.test reports,
// so that its MTA-STS record is no tlsrpt-missing.
const stsTestTLSRPT = "_smtp._tls.a IN TXT \"v=TLSRPTv1; rua=mailto:tlsrpt@sts.test\"\n"

// Bad TLS flags are usage errors (64), unreadable --ca-file files input
// errors (66); one line each.
func TestTLSUsage(t *testing.T) {
	t.Parallel()
	notPEM := writeFile(t, "ca.pem", "not a certificate\n")
	tests := []struct {
		name       string
		args       []string
		wantStatus int
		wantErr    string
	}{
		{"dane with zone", args(list("route", "--dane"), vegaZones, list("vega.ru")), 64,
			"mxroute route: --dane needs DNS servers (--server or /etc/resolv.conf): zone files carry no DNSSEC status\n"},
		{"lint dane with zone", args(list("lint", "--dane"), vegaZones, list("vega.ru")), 64,
			"mxroute lint: --dane needs DNS servers (--server or /etc/resolv.conf): zone files carry no DNSSEC status\n"},
		{"port 0", args(list("route", "--port", "0"), vegaZones, list("vega.ru")), 64, "mxroute route: --port 0: want a number in 1..65535\n"},
		{"port too big", args(list("explain", "--port", "65536"), vegaZones, list("vega.ru")), 64, "mxroute explain: --port 65536: want a number in 1..65535\n"},
		{"connect-to", args(list("lint", "--connect-to", "mx.example:25"), vegaZones, list("vega.ru")), 64,
			"mxroute lint: --connect-to \"mx.example:25\": want HOST:PORT=HOST:PORT\n"},
		{"connect-to escaped", args(list("route", "--connect-to", "\x1b:25=a:1"), vegaZones, list("vega.ru")), 64,
			"mxroute route: --connect-to \"\\x1b:25=a:1\": host \"\\x1b\": not an IP address or host name\n"},
		{"missing ca-file", args(list("route", "--ca-file", notPEM+".missing"), vegaZones, list("vega.ru")), 66,
			"mxroute route: open " + notPEM + ".missing: no such file or directory\n"},
		{"ca-file not PEM", args(list("route", "--ca-file", notPEM), vegaZones, list("vega.ru")), 66,
			"mxroute route: " + notPEM + ": no PEM certificate in it\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, tt.args...)
			assert.Equal(t, tt.wantStatus, res.status)
			assert.Empty(t, res.stdout)
			assert.Equal(t, tt.wantErr, res.stderr)
		})
	}
	// --port and --trust-ad with --dane are accepted.
	res := runBinary(t, "route", "--dane", "--trust-ad", "--port", "2525", "--server", tlsDNS(t), "pkix.tls.example")
	assert.Equal(t, 0, res.status, res.stderr)
	assert.Contains(t, res.stdout, "dane (encrypt)")
}

// --allow-loopback lets a mail host on loopback be a target (a lab on this
// machine); without it the route drops the address (RFC 6890).
func TestAllowLoopback(t *testing.T) {
	t.Parallel()
	zone := writeFile(t, "lab.test.zone", `$TTL 60
@   IN SOA ns hostmaster 1 7200 3600 1209600 300
    IN NS ns
ns  IN A 192.0.2.53
@   IN MX 10 mx
mx  IN A 127.0.0.1
`)
	res := runBinary(t, "route", "--zone", zone, "lab.test")
	assert.Equal(t, 69, res.status, res.stdout)
	assert.Contains(t, res.stdout, "unusable: ")
	res = runBinary(t, "route", "--zone", zone, "--allow-loopback", "lab.test")
	assert.Equal(t, 0, res.status, res.stdout)
	assert.Equal(t, "lab.test\nPREF  HOST         ADDRESS    FAMILY\n10    mx.lab.test  127.0.0.1  IPv4\n", res.stdout)
}

// TXT strings come from miekg/dns in presentation form: \DDD is a byte,
// \X is X. MTA-STS parses the record's bytes.
func TestUnescapeTXT(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want, reason string }{
		{`v=STSv1; id=1`, `v=STSv1; id=1`, "nothing to unescape"},
		{`a\"b`, `a"b`, "a quote"},
		{`a\\b`, `a\b`, "a backslash"},
		{`\009x`, "\tx", "a byte in decimal"},
		{`\255`, "\xff", "the largest byte"},
		{`\256`, `256`, "not a byte: the escaped character itself"},
		{`a\`, `a\`, "a trailing backslash stays"},
		{`\12`, `12`, "two digits: an escaped 1, then 2"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, unescapeTXT(tt.in), tt.reason)
	}
}

// stalledListener accepts connections on loopback and never writes to
// them: a TLS server that stalls in the handshake. It returns its address.
func stalledListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}
