package mxroute

import (
	"fmt"
	"net/netip"
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
		{"order of publication kept", []string{"20 b.d.test.", "10 a.d.test."}, []host{{"b.d.test", 20, false}, {"a.d.test", 10, false}}, nil, "sorting happens later"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hs, err := mxHosts("d.test", mxRRs(t, tt.mx...))
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
