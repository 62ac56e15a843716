package main

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute"
)

// --connect-to values: curl's rule, "=" between its halves; a bad one is
// a usage error quoting it.
func TestParseConnectTo(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in      string
		want    connectRule
		wantErr string
		reason  string
	}{
		{"mta-sts.example.com:443=127.0.0.1:8443", connectRule{host: "mta-sts.example.com", port: "443", to: "127.0.0.1:8443"}, "", "a name and a port"},
		{"MTA-STS.Example.COM.:443=127.0.0.1:8443", connectRule{host: "mta-sts.example.com", port: "443", to: "127.0.0.1:8443"}, "", "case and a trailing dot do not matter"},
		{":443=127.0.0.1:8443", connectRule{port: "443", to: "127.0.0.1:8443"}, "", "any host on port 443"},
		{"192.0.2.25:=127.0.0.1:2525", connectRule{host: "192.0.2.25", addr: netip.MustParseAddr("192.0.2.25"), to: "127.0.0.1:2525"}, "", "any port of an address"},
		{"[2001:db8::25]:25=[::1]:2525", connectRule{host: "2001:db8::25", addr: netip.MustParseAddr("2001:db8::25"), port: "25", to: "[::1]:2525"}, "", "IPv6 in brackets"},
		{"mx.example:25=lab.test:2525", connectRule{host: "mx.example", port: "25", to: "lab.test:2525"}, "", "a name as destination"},
		{"mx.example:25", connectRule{}, `--connect-to "mx.example:25": want HOST:PORT=HOST:PORT`, "no destination"},
		{"a:1=b:2=c:3", connectRule{}, `--connect-to "a:1=b:2=c:3": want HOST:PORT=HOST:PORT`, "two equals signs"},
		{"mx.example=127.0.0.1:2525", connectRule{}, `--connect-to "mx.example=127.0.0.1:2525": missing port in address`, "the left half needs its colon"},
		{"mx.example:25=127.0.0.1", connectRule{}, `--connect-to "mx.example:25=127.0.0.1": missing port in address`, "the destination needs a port"},
		{"mx.example:25=:2525", connectRule{}, `--connect-to "mx.example:25=:2525": the destination needs a host and a port`, "the destination needs a host"},
		{"mx.example:99999=127.0.0.1:25", connectRule{}, `--connect-to "mx.example:99999=127.0.0.1:25": port "99999": want a number in 1..65535`, "a port out of range"},
		{"mx example:25=127.0.0.1:25", connectRule{}, `--connect-to "mx example:25=127.0.0.1:25": host "mx example": not an IP address or host name`, "no spaces in a host"},
		{"[::1:25=127.0.0.1:25", connectRule{}, `--connect-to "[::1:25=127.0.0.1:25": missing ']' in address`, "brackets"},
	}
	for _, tt := range tests {
		got, err := parseConnectTo(tt.in)
		if tt.wantErr != "" {
			var ue *usageError
			require.ErrorAs(t, err, &ue, tt.reason)
			assert.Equal(t, tt.wantErr, err.Error(), tt.reason)
			continue
		}
		require.NoError(t, err, tt.reason)
		assert.Equal(t, tt.want, got, tt.reason)
	}
}

// The first rule that matches decides; names match by name, addresses as
// addresses, whatever their spelling.
func TestConnectRulesLookup(t *testing.T) {
	t.Parallel()
	var rules connectRules
	for _, s := range []string{"mta-sts.a.example:443=127.0.0.1:1", "[2001:db8::25]:25=127.0.0.1:2", ":443=127.0.0.1:3", "192.0.2.25:=127.0.0.1:4"} {
		r, err := parseConnectTo(s)
		require.NoError(t, err)
		rules = append(rules, r)
	}
	tests := []struct {
		host, port, want string
		reason           string
	}{
		{"mta-sts.a.example", "443", "127.0.0.1:1", "the named rule, before the any-host one"},
		{"MTA-STS.A.EXAMPLE.", "443", "127.0.0.1:1", "case and a trailing dot"},
		{"mta-sts.b.example", "443", "127.0.0.1:3", "any host on 443"},
		{"2001:db8:0::25", "25", "127.0.0.1:2", "an IPv6 address however spelt"},
		{"[2001:db8::25]", "25", "127.0.0.1:2", "in brackets too"},
		{"192.0.2.25", "25", "127.0.0.1:4", "any port of the address"},
		{"::ffff:192.0.2.25", "587", "127.0.0.1:4", "an IPv4-mapped spelling is the address"},
		{"192.0.2.26", "25", "", "no rule"},
		{"mta-sts.a.example", "80", "", "another port"},
	}
	for _, tt := range tests {
		got, ok := rules.lookup(tt.host, tt.port)
		assert.Equal(t, tt.want != "", ok, tt.reason)
		assert.Equal(t, tt.want, got, tt.reason)
	}
}

// The dialer reaches a name's addresses through the run's Resolver, maps
// each by --connect-to, and never dials an address no remote host has
// (loopback only with --allow-loopback): no DNS answer makes the command
// connect to itself.
func TestDialer(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	z, err := mxroute.NewZoneResolver(strings.NewReader(`$TTL 60
@        IN SOA ns hostmaster 1 7200 3600 1209600 300
         IN NS ns
ns       IN A 192.0.2.53
lab      IN A 192.0.2.80
self     IN A 127.0.0.1
         IN AAAA ::1
mapped   IN AAAA ::ffff:192.0.2.80
linklocal IN A 169.254.1.1
alias    IN CNAME lab
`), "dial.test")
	require.NoError(t, err)
	lab, err := parseConnectTo("192.0.2.80:443=" + ln.Addr().String())
	require.NoError(t, err)
	self, err := parseConnectTo("127.0.0.1:443=" + ln.Addr().String())
	require.NoError(t, err)
	tests := []struct {
		host          string
		allowLoopback bool
		wantErr       string
		reason        string
	}{
		{"lab.dial.test", false, "", "its A record, mapped by address"},
		{"alias.dial.test", false, "", "through a CNAME"},
		{"self.dial.test", false, "self.dial.test has only ::1 (loopback: this host (--allow-loopback allows it)), 127.0.0.1 (loopback: this host (--allow-loopback allows it)): not connected", "loopback from DNS: refused"},
		{"self.dial.test", true, "", "--allow-loopback: 127.0.0.1, mapped (::1:443 has no rule and no listener: the next address is tried)"},
		{"mapped.dial.test", false, "mapped.dial.test has only ::ffff:192.0.2.80 (an IPv4-mapped IPv6 address): not connected", "an IPv4 address in disguise"},
		{"linklocal.dial.test", false, "linklocal.dial.test has only 169.254.1.1 (no remote host (unspecified, link-local, multicast, broadcast or reserved)): not connected", "link-local"},
		{"nothere.dial.test", false, "nothere.dial.test has no A or AAAA records", "NXDOMAIN"},
		{"0.0.0.0", false, "0.0.0.0: no remote host (unspecified, link-local, multicast, broadcast or reserved): not connected", "an address given as the host is checked too"},
	}
	for _, tt := range tests {
		d := &dialer{rules: connectRules{lab, self}, resolver: z, allowLoopback: tt.allowLoopback}
		c, err := d.DialContext(context.Background(), "tcp", net.JoinHostPort(tt.host, "443"))
		if tt.wantErr != "" {
			assert.EqualError(t, err, tt.wantErr, tt.reason)
			continue
		}
		if assert.NoError(t, err, tt.reason) {
			c.Close()
		}
	}
	// A rule for the name itself is the operator's word: no lookup, no check.
	byName, err := parseConnectTo("nothere.dial.test:443=" + ln.Addr().String())
	require.NoError(t, err)
	c, err := (&dialer{rules: connectRules{byName}, resolver: z}).DialContext(context.Background(), "tcp", "nothere.dial.test:443")
	require.NoError(t, err)
	c.Close()
}
