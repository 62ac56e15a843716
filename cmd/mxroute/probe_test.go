package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/internal/dnstest"
	"github.com/mxroute-go/mxroute/internal/smtptest"
	"github.com/mxroute-go/mxroute/internal/testpki"
)

var (
	probeZones = list("--zone", zonesDir+"probe.example.zone", "--zone", zonesDir+"2.0.192.in-addr.arpa.zone",
		"--zone", zonesDir+"8.b.d.0.1.0.0.2.ip6.arpa.zone")
	probeDomains = zonesDir + "probe.example.domains"
)

// probePolicies are the MTA-STS policies of probe.example.zone's domains.
var probePolicies = map[string]string{
	"good.probe.example": "version: STSv1\nmode: enforce\nmx: mx.good.probe.example\nmax_age: 604800\n",
	"sts.probe.example":  "version: STSv1\nmode: enforce\nmx: mx.sts.probe.example\nmx: mx.good.probe.example\nmax_age: 604800\n",
	"stsx.probe.example": "version: STSv1\nmode: enforce\nmx: mx.good.probe.example\nmax_age: 604800\n",
}

// A probeLab is the loopback lab of probe.example.zone: a server behind
// each address (--connect-to), the zone and its reverse zone on a DNS
// server that answers as a validating resolver would for signed zones (AD
// on every reply; the TLSA record of mx.dane for the key its server got),
// the MTA-STS policies on an HTTPS server, and the CA of the mail servers'
// certificates (--ca-file). flags reach it all; offline gives the zone
// files instead of the DNS server (no DNSSEC: no DANE).
type probeLab struct {
	flags   []string
	offline []string
}

// knownRcpt is the one recipient the lab's servers that check recipients
// know.
func knownRcpt(to string) bool { return strings.HasPrefix(to, "postmaster@") }

func newProbeLab(t *testing.T) *probeLab {
	t.Helper()
	ca := testpki.NewRoot(t, "mxroute probe lab CA")
	untrusted := testpki.NewRoot(t, "a CA no one trusts")
	cert := func(issuer *testpki.Cert, names ...string) *testpki.Cert {
		return issuer.Issue(t, testpki.Template{CommonName: names[0], DNSNames: names,
			NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)})
	}
	tlsCfg := func(c *testpki.Cert) *tls.Config { return &tls.Config{Certificates: []tls.Certificate{c.TLS()}} }
	mail := func(greet string, c *testpki.Cert, known func(string) bool) string {
		var cfg *tls.Config
		if c != nil {
			cfg = tlsCfg(c)
		}
		return smtptest.StartMailRcpt(t, greet, cfg, known).Addr
	}
	good := func(host string) string { return mail(host, cert(ca, host), knownRcpt) }
	daneCert := cert(ca, "mx.dane.probe.example")
	rec, err := dane.NewRecord(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, daneCert.Cert)
	require.NoError(t, err)
	tlsa := dnstest.RRs("_25._tcp.mx.dane.probe.example. 3600 IN TLSA " + rec.String())

	mxb := cert(ca, "mx-b.tie.probe.example")
	servers := map[string]string{
		"192.0.2.40":     good("mx.good.probe.example"),
		"192.0.2.41":     smtptest.ServeBlackhole(t).Addr,
		"192.0.2.42":     smtptest.ClosedPort(t),
		"192.0.2.43":     good("mx.family.probe.example"),
		"[2001:db8::43]": smtptest.ClosedPort(t),
		"192.0.2.44":     smtptest.Serve(t, smtptest.Greet("554 5.3.2 mx.greet554.probe.example no SMTP service here")).Addr,
		"192.0.2.45":     smtptest.Serve(t, smtptest.Silent()).Addr,
		"192.0.2.46":     mail("mail.elsewhere.example", cert(ca, "mx.banner.probe.example"), knownRcpt),
		"192.0.2.47":     mail("mx.nostarttls.probe.example", nil, knownRcpt),
		"192.0.2.48":     scripted(t, "mx.tlsfail.probe.example ESMTP", script("mx.tlsfail.probe.example", "PIPELINING", "STARTTLS"), garbageTLS),
		"192.0.2.49":     mail("mx.badname.probe.example", cert(ca, "other.example"), knownRcpt),
		"192.0.2.50":     mail("mx.expired.probe.example", ca.Issue(t, testpki.Template{CommonName: "mx.expired.probe.example", DNSNames: []string{"mx.expired.probe.example"}, NotBefore: time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)}), knownRcpt),
		"192.0.2.51":     mail("mx.expiring.probe.example", ca.Issue(t, testpki.Template{CommonName: "mx.expiring.probe.example", DNSNames: []string{"mx.expiring.probe.example"}, NotAfter: time.Now().Add(5 * 24 * time.Hour)}), knownRcpt),
		"192.0.2.52":     mail("mx.dane.probe.example", daneCert, knownRcpt),
		"192.0.2.54":     good("mx.danebad.probe.example"),
		"192.0.2.55":     mail("mx.sts.probe.example", cert(untrusted, "mx.sts.probe.example"), knownRcpt),
		"192.0.2.56":     smtptest.ClosedPort(t), // never dialled: the policy excludes its host
		"192.0.2.57":     good("mx.noptr.probe.example"),
		"192.0.2.58":     good("mx.badptr.probe.example"),
		"192.0.2.59":     good("primary.rcpt.probe.example"),
		"192.0.2.60":     mail("backup.rcpt.probe.example", cert(ca, "backup.rcpt.probe.example"), nil),
		"192.0.2.61":     good("mx-a.tie.probe.example"),
		"192.0.2.62":     scripted(t, "mx-b.tie.probe.example ESMTP Exim 4.96", script("mx-b.tie.probe.example", "SIZE 52428800", "8BITMIME", "PIPELINING", "STARTTLS"), converseTLS(mxb, script("mx-b.tie.probe.example", "SIZE 52428800", "8BITMIME", "PIPELINING"))),
	}
	var connect []string
	for addr, to := range servers {
		connect = append(connect, "--connect-to", addr+":25="+to)
	}
	ps := servePolicies(t, probePolicies)
	zone := zoneHandler(t, probeZones[1], probeZones[3], probeZones[5])
	server := dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		if q := req.Question[0]; q.Qtype == dns.TypeTLSA && strings.EqualFold(q.Name, "_25._tcp.mx.dane.probe.example.") {
			m := new(dns.Msg)
			m.SetReply(req)
			m.Authoritative, m.Answer = true, tlsa
			_ = adSetter{w, true}.WriteMsg(m)
			return
		}
		zone.ServeDNS(adSetter{w, true}, req)
	}))
	common := args(list("--ca-file", writePEM(t, ca), "--probe-timeout", "2s", "--hello", "probe.test"), ps.flags, connect)
	return &probeLab{flags: args(list("--server", server), common), offline: args(probeZones, common)}
}

// scripted starts a smtptest.Converse server greeting "220 "+greeting.
func scripted(t *testing.T, greeting string, answer func(string) string, upgrade func(net.Conn, *bufio.Reader)) string {
	return smtptest.Serve(t, smtptest.Converse("220 "+greeting, answer, upgrade)).Addr
}

// script answers as a server named name with the EHLO keywords given, that
// knows no recipient.
func script(name string, ehlo ...string) func(string) string {
	return func(cmd string) string {
		switch strings.ToUpper(strings.Fields(cmd + " x")[0]) {
		case "EHLO":
			lines := append([]string{name}, ehlo...)
			var b strings.Builder
			for i, l := range lines {
				sep := "-"
				if i == len(lines)-1 {
					sep = " "
				}
				b.WriteString("250" + sep + l + "\r\n")
			}
			return b.String()
		case "STARTTLS":
			return "220 2.0.0 ready\r\n"
		case "RCPT":
			return "550 5.1.1 no such user\r\n"
		case "QUIT":
			return "221 2.0.0 bye\r\n"
		}
		return "250 2.0.0 ok\r\n"
	}
}

// garbageTLS answers a ClientHello with what is no TLS, then reads until
// the client leaves.
func garbageTLS(c net.Conn, br *bufio.Reader) {
	if _, err := br.ReadByte(); err != nil {
		return
	}
	_, _ = io.WriteString(c, "500 5.5.1 this is not TLS\r\n")
	_, _ = io.Copy(io.Discard, br)
}

// converseTLS runs a TLS server handshake with cert after the 220 to
// STARTTLS, then answers over TLS.
func converseTLS(cert *testpki.Cert, answer func(string) string) func(net.Conn, *bufio.Reader) {
	return func(c net.Conn, br *bufio.Reader) {
		tc := tls.Server(bufferedConn{c, br}, &tls.Config{Certificates: []tls.Certificate{cert.TLS()}})
		if tc.Handshake() != nil {
			return
		}
		r := bufio.NewReader(tc)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			out := answer(strings.TrimRight(line, "\r\n"))
			if _, err := io.WriteString(tc, out); err != nil || strings.HasPrefix(out, "221") {
				return
			}
		}
	}
}

// bufferedConn is a connection read through a reader that may hold what
// was already received.
type bufferedConn struct {
	net.Conn
	r io.Reader
}

func (c bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// timings are what changes from run to run: the connect's time.
var (
	textTiming = regexp.MustCompile(`(?m)^(    connect   )\d+\.\dms$`)
	jsonTiming = regexp.MustCompile(`"connect_ms":[0-9.]+`)
)

// stable gives the connects of a probe's output 1 ms each.
func stable(s string) string {
	return jsonTiming.ReplaceAllString(textTiming.ReplaceAllString(s, "${1}1.0ms"), `"connect_ms":1`)
}

// probeFindings runs probe --json and returns each domain's findings as
// "check host".
func probeFindings(t *testing.T, a ...string) (map[string][]string, int) {
	t.Helper()
	res := runBinary(t, append(list("probe", "--json"), a...)...)
	found := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		var p jsonProbe
		require.NoError(t, json.Unmarshal([]byte(line), &p), res.stdout+res.stderr)
		found[p.Domain] = []string{}
		for _, f := range p.Findings {
			require.NotEmpty(t, f.Rule, "every finding cites its rule")
			found[p.Domain] = append(found[p.Domain], strings.TrimSpace(f.Check+" "+f.Host))
		}
	}
	return found, res.status
}

// Each domain of the probe zone plants one fault, and probe finds it and
// nothing else: over the wire (DNSSEC status known: DANE applies) and
// offline from the zone files (DANE cannot: danebad's record is not used).
func TestProbeFindings(t *testing.T) {
	t.Parallel()
	lab := newProbeLab(t)
	want := map[string][]string{
		"good.probe.example":       {},
		"timeout.probe.example":    {"addr-timeout mx.timeout.probe.example"},
		"refused.probe.example":    {"addr-refused mx.refused.probe.example"},
		"family.probe.example":     {"addr-refused mx.family.probe.example", "family-broken"},
		"greet554.probe.example":   {"greeting-error mx.greet554.probe.example"},
		"silent.probe.example":     {"greeting-error mx.silent.probe.example"},
		"banner.probe.example":     {"banner-name-mismatch mx.banner.probe.example"},
		"nostarttls.probe.example": {"no-starttls mx.nostarttls.probe.example"},
		"tlsfail.probe.example":    {"tls-failed mx.tlsfail.probe.example"},
		"badname.probe.example":    {"cert-name-mismatch mx.badname.probe.example"},
		"expired.probe.example":    {"cert-expired mx.expired.probe.example"},
		"expiring.probe.example":   {"cert-expiring mx.expiring.probe.example"},
		"dane.probe.example":       {},
		"danebad.probe.example":    {"dane-mismatch mx.danebad.probe.example"},
		"sts.probe.example":        {"sts-mx-mismatch mx.sts.probe.example"},
		"stsx.probe.example":       {"sts-mx-mismatch mx.stsx.probe.example"},
		"noptr.probe.example":      {"ptr-missing mx.noptr.probe.example"},
		"badptr.probe.example":     {"ptr-not-confirmed mx.badptr.probe.example"},
		"rcpt.probe.example":       {"rcpt-accepts-unknown backup.rcpt.probe.example"},
		"tie.probe.example":        {"tie-asymmetry", "tie-asymmetry"},
	}
	offline := map[string][]string{}
	for d, f := range want {
		offline[d] = f
	}
	offline["danebad.probe.example"] = []string{}
	for _, tt := range []struct {
		name  string
		flags []string
		want  map[string][]string
	}{
		{"server", lab.flags, want},
		{"zone", lab.offline, offline},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			found, status := probeFindings(t, args(list("--rcpt", "nobody", "--from", probeDomains), tt.flags)...)
			assert.Equal(t, tt.want, found)
			assert.Equal(t, 2, status)
		})
	}
}

// Every check of probeChecks is planted in the probe zone.
func TestProbeChecksAllPlanted(t *testing.T) {
	t.Parallel()
	planted := []string{"route-failed", "addr-timeout", "addr-refused", "family-broken", "greeting-error", "banner-name-mismatch",
		"no-starttls", "tls-failed", "cert-name-mismatch", "cert-expired", "cert-expiring", "dane-mismatch", "sts-mx-mismatch",
		"ptr-missing", "ptr-not-confirmed", "rcpt-accepts-unknown", "tie-asymmetry"}
	var ids []string
	for _, c := range probeChecks {
		ids = append(ids, c.id)
		assert.NotEmpty(t, c.rule, c.id)
		assert.NotNil(t, c.probe, c.id)
	}
	assert.ElementsMatch(t, planted, ids, "a new check needs a planted fault in probe.example.zone and TestProbeFindings")
}

// The text and JSON of a probe, against the lab; docs/command.md shows the
// docs run.
func TestProbeGolden(t *testing.T) {
	t.Parallel()
	lab := newProbeLab(t)
	domains, err := readDomains(probeDomains, nil)
	require.NoError(t, err)
	domains = slices.DeleteFunc(domains, func(d string) bool { return d == "expiring.probe.example" }) // its date is today's
	for _, tt := range []struct {
		name    string
		args    []string
		domains []string
	}{
		{"probe", list("--rcpt", "nobody"), domains},
		{"probe_docs", list("--rcpt", "nobody"), list("good.probe.example", "family.probe.example", "rcpt.probe.example", "tie.probe.example")},
		{"probe_json", list("--rcpt", "nobody", "--json"), list("good.probe.example", "tlsfail.probe.example", "danebad.probe.example")},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, args(list("probe"), tt.args, lab.flags, tt.domains)...)
			assert.Equal(t, 2, res.status, res.stderr)
			assert.Empty(t, res.stderr)
			golden(t, tt.name, stable(res.stdout))
		})
	}
}
