package main

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/smtptest"
)

// hostileZone is the zone of the tests of probe against bad input: one
// domain per way a server can stall, flood or lie, each host at its own
// documentation address.
const hostileZone = `$TTL 3600
@            IN SOA ns hostmaster ( 1 7200 3600 1209600 300 )
             IN NS  ns
ns           IN A   192.0.2.39
trickle      IN MX 10 mx.trickle
mx.trickle   IN A   192.0.2.1
stall        IN MX 10 mx.stall
mx.stall     IN A   192.0.2.2
huge         IN MX 10 mx.huge
mx.huge      IN A   192.0.2.3
long         IN MX 10 mx.long
mx.long      IN A   192.0.2.4
evil         IN MX 10 mx.evil
mx.evil      IN A   192.0.2.5
flood        IN MX 10 mx.flood
mx.flood     IN A   192.0.2.6
helo         IN MX 10 mx.helo
mx.helo      IN A   192.0.2.7
`

// trickle writes the first line of a multi-line greeting, then a byte
// every 50 ms until the connection is closed.
func trickle(c *net.TCPConn) bool {
	if _, err := io.WriteString(c, "220-mx.trickle.hostile.test"); err != nil {
		return false
	}
	for {
		time.Sleep(50 * time.Millisecond)
		if _, err := c.Write([]byte("a")); err != nil {
			return false
		}
	}
}

// floodEHLO answers the Dialer's EHLO as a server would, and the session's
// EHLO (the second on the connection) with a megabyte of "250-" lines.
func floodEHLO() func(string) string {
	var ehlos atomic.Int32
	normal := script("mx.flood.hostile.test", "PIPELINING")
	return func(cmd string) string {
		if strings.HasPrefix(strings.ToUpper(cmd), "EHLO") && ehlos.Add(1) == 2 {
			return strings.Repeat("250-"+strings.Repeat("x", 1000)+"\r\n", 1024) + "250 END\r\n"
		}
		return normal(cmd)
	}
}

// Bad input is bounded and escaped: a domain list with garbage lines, a
// greeting that trickles, a TLS handshake that stalls, a banner of 100 KiB
// on one line or in 2,000, a banner with terminal controls and a bidi
// override, an EHLO reply of a megabyte, a server that knows no EHLO
// (so no STARTTLS): each is reported within
// --probe-timeout, nothing of it reaches the terminal raw or whole, and the
// JSON stays valid.
func TestProbeHostile(t *testing.T) {
	t.Parallel()
	zone := writeFile(t, "hostile.test.zone", hostileZone)
	servers := map[string]string{
		"192.0.2.1": smtptest.Serve(t, trickle).Addr,
		"192.0.2.2": scripted(t, "mx.stall.hostile.test ESMTP", script("mx.stall.hostile.test", "STARTTLS"), func(_ net.Conn, br *bufio.Reader) {
			_, _ = io.Copy(io.Discard, br) // the handshake never comes
		}),
		"192.0.2.3": smtptest.Serve(t, smtptest.Greet("220 mx.huge.hostile.test "+strings.Repeat("h", 100<<10))).Addr,
		"192.0.2.4": smtptest.Serve(t, smtptest.Greet(append(manyLines("220-mx.long.hostile.test ", 2000), "220 end")...)).Addr,
		"192.0.2.5": scripted(t, "mx.evil.hostile.test \x1b]0;pwned\x07 \u202eevil ESMTP", script("mx.evil.hostile.test\x1b[31m"), nil),
		"192.0.2.6": scripted(t, "mx.flood.hostile.test ESMTP", floodEHLO(), nil),
		"192.0.2.7": scripted(t, "mx.helo.hostile.test SMTP", heloOnly, nil),
	}
	var connect []string
	for addr, to := range servers {
		connect = append(connect, "--connect-to", addr+":25="+to)
	}
	from := writeFile(t, "domains", strings.Join([]string{
		"trickle.hostile.test", "stall.hostile.test", "huge.hostile.test", "long.hostile.test", "evil.hostile.test", "flood.hostile.test", "helo.hostile.test",
		"\x1b]0;pwned\x07evil.example", "a..b", "-x", "@", strings.Repeat("l", 300) + ".example", "# a comment",
	}, "\n")+"\n")
	base := args(list("probe", "--zone", zone, "--probe-timeout", "1s", "--timeout", "20s", "--hello", "probe.test", "--from", from), connect)

	res := runBinary(t, args(base, list("--progress", "on"))...)
	assert.Equal(t, 2, res.status, res.stderr)
	for _, raw := range []string{"\x1b", "\x07", "\u202e"} {
		assert.NotContains(t, res.stdout, raw, "no byte a server or a --from line sent reaches the terminal raw")
	}
	for _, line := range strings.Split(res.stdout, "\n") {
		assert.Less(t, len(line), 1000, "every line is cut: %.80q", line)
	}
	for _, want := range []string{
		"trickle.hostile.test: error: greeting-error: MX 10 mx.trickle.hostile.test [192.0.2.1]: no complete greeting within 1s",
		"stall.hostile.test: error: tls-failed: MX 10 mx.stall.hostile.test [192.0.2.2]: TLS handshake failed: no TLS handshake within 1s",
		"huge.hostile.test: error: greeting-error: MX 10 mx.huge.hostile.test [192.0.2.3]: greeting: malformed SMTP reply: a line longer than 2048 bytes",
		"long.hostile.test: error: greeting-error: MX 10 mx.long.hostile.test [192.0.2.4]: greeting: malformed SMTP reply: longer than 65536 bytes",
		`greeting  220 mx.evil.hostile.test \x1b]0;pwned\a \u202eevil ESMTP`,
		"evil.hostile.test: error: no-starttls: MX 10 mx.evil.hostile.test [192.0.2.5]: offers no STARTTLS",
		"session   EHLO: the server sent more than 262144 bytes",
		"    EHLO      PIPELINING\n", // flood's, from its EHLO before the flood
		`\x1b]0;pwned\aevil.example: error: route-failed: senders bounce`,
		"a..b: error: route-failed: senders bounce",
		"    EHLO      502 5.5.2 command not recognized\n    TLS       not offered: plaintext\n",
		"helo.hostile.test: error: no-starttls: MX 10 mx.helo.hostile.test [192.0.2.7]: offers no STARTTLS",
		" in 12 domains\n",
	} {
		assert.Contains(t, res.stdout, want)
	}
	assert.Contains(t, res.stderr, "mxroute: 12/12 domains\n", "progress, as the other commands give it")

	res = runBinary(t, args(base, list("--json"))...)
	assert.Equal(t, 2, res.status, res.stderr)
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		assert.True(t, json.Valid([]byte(line)), "%.200s", line)
		var p jsonProbe
		require.NoError(t, json.Unmarshal([]byte(line), &p))
		if p.Domain == "evil.hostile.test" {
			require.Len(t, p.Addresses, 1)
			assert.Equal(t, "220 mx.evil.hostile.test \x1b]0;pwned\x07 \u202eevil ESMTP", p.Addresses[0].Greeting.Text, "JSON keeps what was sent, escaped by encoding/json")
		}
	}
}

// heloOnly answers as a server that knows no EHLO: HELO only, no ESMTP.
func heloOnly(cmd string) string {
	switch strings.ToUpper(strings.Fields(cmd + " x")[0]) {
	case "EHLO":
		return "502 5.5.2 command not recognized\r\n"
	case "HELO":
		return "250 mx.helo.hostile.test\r\n"
	case "QUIT":
		return "221 2.0.0 bye\r\n"
	}
	return "250 2.0.0 ok\r\n"
}

// manyLines is n lines of prefix and a number.
func manyLines(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = prefix + strings.Repeat("0123456789", 3)
	}
	return out
}

// A domain whose servers stall in every step is given up at --timeout,
// whatever --probe-timeout allows each step: the addresses still going are
// cancelled, and the domain gets no session.
func TestProbeTimeout(t *testing.T) {
	t.Parallel()
	zone := writeFile(t, "slow.test.zone", `$TTL 3600
@     IN SOA ns hostmaster ( 1 7200 3600 1209600 300 )
      IN NS  ns
ns    IN A   192.0.2.39
a     IN MX 10 mx1.a
      IN MX 20 mx2.a
mx1.a IN A 192.0.2.1
mx2.a IN A 192.0.2.2
`)
	slow := smtptest.Serve(t, trickle).Addr
	res := runBinary(t, "probe", "--zone", zone, "--probe-timeout", "1m", "--timeout", "2s",
		"--connect-to", "192.0.2.1:25="+slow, "--connect-to", "192.0.2.2:25="+slow, "a.slow.test")
	assert.Equal(t, 2, res.status, res.stderr)
	assert.Contains(t, res.stdout, "    --timeout the domain's --timeout ended first\n")
	assert.Contains(t, res.stdout, "a.slow.test: error: route-failed: no address of the 2 gets a session")
	assert.NotContains(t, res.stdout, "greeting-error", "cancelled by --timeout: no fault of the server's found")
}

// --connections bounds the connections of the whole run: six hosts whose
// servers greet after 200 ms are probed two at a time, all of them.
func TestProbeConnections(t *testing.T) {
	t.Parallel()
	var zone strings.Builder
	zone.WriteString("$TTL 3600\n@ IN SOA ns hostmaster ( 1 7200 3600 1209600 300 )\n  IN NS ns\nns IN A 192.0.2.39\n")
	var active, most atomic.Int32
	var mu sync.Mutex
	var connect []string
	var domains []string
	for i := range 6 {
		name := string(rune('a' + i))
		zone.WriteString(name + " IN MX 10 mx." + name + "\nmx." + name + " IN A 192.0.2." + string(rune('1'+i)) + "\n")
		domains = append(domains, name+".many.test")
		addr := smtptest.Serve(t, func(c *net.TCPConn) bool {
			// Counted while the client waits for the greeting, when it
			// surely holds its connection slot (the end of a session is
			// seen here a little after the client let its slot go).
			n := active.Add(1)
			mu.Lock()
			most.Store(max(most.Load(), n))
			mu.Unlock()
			time.Sleep(200 * time.Millisecond)
			active.Add(-1)
			return smtptest.Converse("220 mx."+name+".many.test ESMTP", script("mx."+name+".many.test"), nil)(c)
		}).Addr
		connect = append(connect, "--connect-to", "192.0.2."+string(rune('1'+i))+":25="+addr)
	}
	file := writeFile(t, "many.test.zone", zone.String())
	res := runBinary(t, args(list("probe", "--zone", file, "--connections", "2", "--workers", "6", "--hello", "probe.test"), connect, domains)...)
	assert.Equal(t, 2, res.status, res.stdout+res.stderr) // no STARTTLS, no PTR: errors and warnings
	assert.Equal(t, 6, strings.Count(res.stdout, "    greeting  220 "), "every address probed")
	assert.LessOrEqual(t, most.Load(), int32(2), "at most --connections at once")
	assert.Equal(t, int32(2), most.Load(), "two at once: the bound is used")
}

// Bad flags are usage errors, one line each (64).
func TestProbeUsage(t *testing.T) {
	t.Parallel()
	zone := list("--zone", zonesDir+"clean.example.zone")
	tests := []struct {
		args    []string
		wantErr string
	}{
		{list("--probe-timeout", "0"), "mxroute probe: --probe-timeout must be positive\n"},
		{list("--connections", "0"), "mxroute probe: --connections must be at least 1\n"},
		{list("--cert-days", "-1"), "mxroute probe: --cert-days must not be negative\n"},
		{list("--rcpt", "no body"), "mxroute probe: --rcpt \"no body\": no spaces, control characters or angle brackets\n"},
		{list("--rcpt", "@clean.example"), "mxroute probe: --rcpt \"@clean.example\": want an address or a local part\n"},
		{list("--rcpt", "x@a@b"), "mxroute probe: --rcpt \"x@a@b\": want local@domain\n"},
		{list("--rcpt", "x@other.example"), "mxroute probe: --rcpt x@other.example is no address of clean.example: probe asks only for recipients of the domain it probes (one elsewhere would test relaying); give a local part to ask at each domain\n"},
		{list("--hello", "localhost"), "mxroute probe: --hello \"localhost\": want a fully qualified domain name or an address literal ([192.0.2.1], [IPv6:2001:db8::1])\n"},
		{list("--hello", "[192.0.2]"), "mxroute probe: --hello \"[192.0.2]\": want a fully qualified domain name or an address literal ([192.0.2.1], [IPv6:2001:db8::1])\n"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			t.Parallel()
			res := runBinary(t, args(list("probe"), zone, tt.args, list("clean.example"))...)
			assert.Equal(t, 64, res.status)
			assert.Empty(t, res.stdout)
			assert.Equal(t, tt.wantErr, res.stderr)
		})
	}
	// An address of the domain, a local part, an address literal for
	// --hello are accepted.
	for _, ok := range [][]string{list("--rcpt", "x@CLEAN.example."), list("--rcpt", "x"), list("--hello", "[IPv6:2001:db8::1]")} {
		fs, r := cmdProbe.flagSet()
		require.NoError(t, fs.Parse(ok))
		assert.NoError(t, r.check(list("clean.example"), &env{cmd: cmdProbe}), "%v", ok)
	}
}

// --cert-days: a certificate that expires in 5 days is found with the
// default (14) and not with --cert-days 3.
func TestProbeCertDays(t *testing.T) {
	t.Parallel()
	lab := newProbeLab(t)
	found, status := probeFindings(t, args(lab.flags, list("expiring.probe.example"))...)
	assert.Equal(t, map[string][]string{"expiring.probe.example": {"cert-expiring mx.expiring.probe.example"}}, found)
	assert.Equal(t, 1, status, "a warning")
	found, status = probeFindings(t, args(lab.flags, list("--cert-days", "3", "expiring.probe.example"))...)
	assert.Equal(t, map[string][]string{"expiring.probe.example": {}}, found)
	assert.Equal(t, 0, status)
}
