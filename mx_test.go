package mxroute

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func mxRRs(t *testing.T, lines ...string) []dns.RR {
	t.Helper()
	var rrs []dns.RR
	for _, l := range lines {
		rr, err := dns.NewRR("d.test. 60 IN MX " + l)
		require.NoError(t, err)
		rrs = append(rrs, rr)
	}
	return rrs
}

func TestMXHosts(t *testing.T) {
	type host struct {
		name   string
		pref   uint16
		hasErr bool
	}
	tests := []struct {
		name    string
		mx      []string
		want    []host
		wantErr error
		reason  string
	}{
		{"null MX", []string{"0 ."}, nil, ErrNullMX, "RFC 7505, Section 3: a lone '.' means no mail"},
		{"null MX any preference", []string{"50 ."}, nil, ErrNullMX, "deployed MTAs read any preference so"},
		{"only null targets", []string{"0 .", "10 ."}, nil, ErrNullMX, "nothing but '.' is still no mail"},
		{"null mixed", []string{"0 .", "10 mx.d.test."}, []host{{"mx.d.test", 10, false}}, nil, "the '.' is ignored, the real host used"},
		{"duplicate keeps lowest", []string{"20 MX.d.test.", "10 mx.d.test", "30 mx.d.test."}, []host{{"mx.d.test", 10, false}}, nil, "one host, best preference"},
		{"IP target", []string{"10 192.0.2.1.", "20 mx.d.test."}, []host{{"192.0.2.1", 10, true}, {"mx.d.test", 20, false}}, nil, "RFC 5321, Section 5.1: MX data MUST be a domain name"},
		{"not a host name", []string{"10 <html>.d.test.", "20 bad\\.dot.d.test.", "30 1.2.3.4.5.", "40 mx.d.test."},
			[]host{{"<html>.d.test", 10, true}, {"bad\\.dot.d.test", 20, true}, {"1.2.3.4.5", 30, true}, {"mx.d.test", 40, false}}, nil,
			"RFC 1123, Section 2.1: MX data must be a host name; the real one is used"},
		{"underscore accepted", []string{"10 mail_gw.d.test."}, []host{{"mail_gw.d.test", 10, false}}, nil, "as Go, Postfix and mox accept it"},
		{"order of publication kept", []string{"20 b.d.test.", "10 a.d.test."}, []host{{"b.d.test", 20, false}, {"a.d.test", 10, false}}, nil, "sorting happens later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, err := mxHosts(t.Context(), tracer{}, "d.test", mxRRs(t, tt.mx...))
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr, tt.reason)
				assert.Equal(t, "5.1.10", err.Status)
				assert.False(t, err.Temporary)
				return
			}
			require.Nil(t, err)
			var got []host
			for _, h := range hs {
				got = append(got, host{h.name, h.pref, h.err != nil})
			}
			assert.Equal(t, tt.want, got, tt.reason)
		})
	}
}

func TestIsIPName(t *testing.T) {
	for name, want := range map[string]bool{
		"192.0.2.1": true, "[192.0.2.1]": true, "2001:db8::1": true,
		"mx.example": false, "192.0.2.1.example": false, "1.2.3": false,
	} {
		assert.Equal(t, want, isIPName(name), name)
	}
}

// TestIsHostName: RFC 1123, Section 2.1 host names, underscores accepted
// (issue 9, item 6).
func TestIsHostName(t *testing.T) {
	tests := []struct {
		name   string
		want   bool
		reason string
	}{
		{"mx.example", true, "plain"},
		{"mx-1.example", true, "hyphen inside"},
		{"_dmarc.mail_gw.example", true, "underscores occur in deployed names: accepted"},
		{"3com.com", true, "a label may start with a digit (RFC 1123, Section 2.1)"},
		{"mx.123example", true, "a top-level label with a letter"},
		{"xn--bcher-kva.example", true, "an A-label"},
		{"localhost", true, "one label"},
		{"<html>.example", false, "not letters, digits, hyphens"},
		{"bad..name", false, "an empty label"},
		{"1.2.3.4.5", false, "an all-numeric last label: RFC 1123, Section 2.1 / RFC 3696, Section 2"},
		{"mx.example.123", false, "all-numeric top-level label"},
		{"-mx.example", false, "leading hyphen"},
		{"mx-.example", false, "trailing hyphen"},
		{"mx\\046.example", false, "an escaped byte from the wire"},
		{"mx example", false, "a space"},
		{"", false, "empty"},
		{strings.Repeat("a", 64) + ".example", false, "label longer than 63"},
		{strings.Repeat("a.", 126) + "aa", false, "longer than 253"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, isHostName(tt.name), "%q: %s", tt.name, tt.reason)
	}
}

// TestRouteBadNames: an MX target or a mail host's CNAME target that is
// not a host name makes that host unusable (permanent, like an IP-address
// target), reported with its own trace Step; a bad CNAME for the domain
// itself defers (issue 9, item 6).
func TestRouteBadNames(t *testing.T) {
	z := testZone(t, "bad.test.", `$TTL 300
@            IN SOA ns hostmaster 1 3600 600 86400 300
@            IN NS  ns
ns           IN A   192.0.2.53
one          IN MX  10 <html>.bad.test.
             IN MX  20 1.2.3.4.5.
             IN MX  30 alias.bad.test.
             IN MX  40 mx_1.bad.test.
alias        IN CNAME bad\\.label.bad.test.
mx_1         IN A   192.0.2.25
only         IN MX  10 <html>.bad.test.
dom          IN CNAME <x>.bad.test.
`)
	var steps []string
	r := &Router{Resolver: z, Trace: func(_ context.Context, e Event) {
		if e.Step == StepBadTarget {
			steps = append(steps, e.Host)
		}
	}}
	rt, err := r.Route(t.Context(), "one.bad.test")
	require.NoError(t, err)
	assert.Equal(t, []string{"192.0.2.25"}, targetAddrs(rt))
	require.Len(t, rt.Hosts, 4)
	for _, h := range rt.Hosts[:3] {
		require.Error(t, h.Err, h.Name)
		assert.ErrorIs(t, h.Err, ErrNoAddress, h.Name)
		assert.False(t, IsTemporary(h.Err), h.Name)
	}
	assert.Contains(t, rt.Hosts[2].Err.Error(), "not a host name", "the CNAME target")
	assert.Equal(t, []string{"<html>.bad.test", "1.2.3.4.5"}, steps)

	_, err = r.Route(t.Context(), "only.bad.test")
	require.ErrorIs(t, err, ErrNoAddress)
	assert.False(t, IsTemporary(err), "like an MX that names an IP address: 5.4.4")

	_, err = r.Route(t.Context(), "dom.bad.test")
	require.ErrorIs(t, err, ErrCNAME)
	assert.True(t, IsTemporary(err), "the domain's own CNAME is malformed: the zone may be mended, defer")
}

// TestImplicitMXFamily: an IPv6-only sender meeting an IPv4-only domain
// without MX is told there is no usable address (5.4.4), not that the domain
// has no mail host; one extra question settles it, on the failure path only.
func TestImplicitMXFamily(t *testing.T) {
	z := testZone(t, "i.test.", `
$ORIGIN i.test.
@ 3600 IN SOA ns hostmaster 1 3600 600 86400 300
v4 IN A 192.0.2.1
v6 IN AAAA 2001:db8::1
none IN TXT "x"
`)
	v4Local, v6Local := mustAddrs("198.51.100.9"), mustAddrs("2001:db8:ff::9")
	tests := []struct {
		domain     string
		family     Family
		localAddrs []netip.Addr
		wantErr    error
		wantState  string
		reason     string
	}{
		{"v4.i.test", IPv6Only, nil, ErrNoAddress, "5.4.4", "the domain has an address, just not of the family allowed"},
		{"v6.i.test", IPv4Only, nil, ErrNoAddress, "5.4.4", "the same, the other way round"},
		{"none.i.test", IPv6Only, nil, ErrNoMailHost, "5.1.2", "no address of either family"},
		{"none.i.test", AnyFamily, nil, ErrNoMailHost, "5.1.2", "RFC 5321, Section 5.1: the implicit MX is unusable"},
		{"v4.i.test", IPv6Only, v4Local, ErrNoAddress, "5.4.4", "LocalAddrs had the A records asked already: they still count"},
		{"v6.i.test", IPv4Only, v6Local, ErrNoAddress, "5.4.4", "the same, the other way round"},
		{"none.i.test", IPv6Only, v4Local, ErrNoMailHost, "5.1.2", "the A lookup LocalAddrs asked for found nothing either"},
	}
	for _, tt := range tests {
		t.Run(tt.domain+"/"+tt.family.String()+fmt.Sprint("/local", len(tt.localAddrs)), func(t *testing.T) {
			_, err := (&Router{Resolver: z, Family: tt.family, LocalAddrs: tt.localAddrs}).Route(t.Context(), tt.domain)
			require.ErrorIs(t, err, tt.wantErr, tt.reason)
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, tt.wantState, e.Status)
			assert.False(t, e.Temporary)
		})
	}
}
