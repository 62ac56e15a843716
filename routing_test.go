package mxroute

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRouteLiteral(t *testing.T) {
	never := ResolverFunc(func(context.Context, string, uint16) (*dns.Msg, error) {
		t.Error("an address literal must not cause a DNS question")
		return nil, errors.New("no")
	})
	tests := []struct {
		name, domain string
		router       Router
		wantErr      error
		wantHost     string
		reason       string
	}{
		{"IPv4", "[192.0.2.1]", Router{}, nil, "[192.0.2.1]", "routes to the address"},
		{"IPv6", "[IPv6:2001:DB8::1]", Router{}, nil, "[IPv6:2001:db8::1]", "written in canonical form"},
		{"family excludes it", "[192.0.2.1]", Router{Family: IPv6Only}, ErrNoAddress, "", "IPv6Only cannot reach an IPv4 literal"},
		{"to this host", "[192.0.2.1]", Router{LocalAddrs: mustAddrs("192.0.2.1")}, ErrLoop, "", "mail to our own address would loop"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.router.Resolver = never
			rt, err := tt.router.Route(t.Context(), tt.domain)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr, tt.reason)
				assert.False(t, IsTemporary(err))
				return
			}
			require.NoError(t, err, tt.reason)
			assert.Equal(t, tt.wantHost, rt.Domain)
			assert.Equal(t, []string{tt.wantHost}, hostNames(rt))
			assert.False(t, rt.Implicit)
		})
	}
}

// TestMaxHostsRoundsGrow: with MaxHosts, hosts found unusable send the
// route further down the list, each round taking at least twice the hosts
// of the one before, so a long list of unusable hosts costs a few rounds,
// never one round-trip per host (RFC 5321, Section 5.1 lets a sender
// limit its work; the limit must not multiply it).
func TestMaxHostsRoundsGrow(t *testing.T) {
	var zone strings.Builder
	zone.WriteString("$ORIGIN many.test.\n@ 3600 IN SOA ns hostmaster 1 3600 600 86400 300\n")
	for i := range 60 {
		fmt.Fprintf(&zone, "@ IN MX %d gone%03d\n", i, i) // no such host: each unusable once looked up
	}
	zone.WriteString("@ IN MX 200 live\nlive IN A 192.0.2.1\n")
	z := testZone(t, "many.test.", zone.String())
	tests := []struct {
		maxHosts   int
		wantRounds int
		reason     string
	}{
		{1, 6, "1, 2, 4, 8, 16 take 31 hosts, the 6th round (32) the rest: 29 unusable and live"},
		{3, 5, "3, 6, 12, 24 take 45 hosts, the 5th round (48) the rest"},
		{0, 1, "no MaxHosts: every host in the first round"},
	}
	for _, tt := range tests {
		r := &Router{Resolver: z, Family: IPv4Only, MaxHosts: tt.maxHosts}
		ro, err := r.begin(t.Context(), "many.test")
		require.Nil(t, err)
		ro.startLookups(t.Context(), ro.hosts)
		rt, ferr := ro.finish(t.Context())
		require.NoError(t, ferr)
		assert.Equal(t, tt.wantRounds, 1+len(ro.more), "MaxHosts %d: %s", tt.maxHosts, tt.reason)
		tg := rt.Targets()
		require.Len(t, tg, 1)
		assert.Equal(t, "live.many.test", tg[0].Host)
	}
}
