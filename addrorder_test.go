package mxroute

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func mustAddrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

func TestOrderAddrs(t *testing.T) {
	v6 := mustAddrs("2001:db8::2", "2001:db8::1")
	v4 := mustAddrs("192.0.2.3", "192.0.2.1", "192.0.2.2")
	tests := []struct {
		family Family
		want   []netip.Addr
		reason string
	}{
		{AnyFamily, mustAddrs("2001:db8::2", "2001:db8::1", "192.0.2.3", "192.0.2.1", "192.0.2.2"), "RFC 6724: IPv6 first, each family in resolver order"},
		{IPv4Only, v4, "only A records, in resolver order"},
		{IPv6Only, v6, "only AAAA records, in resolver order"},
		{PreferIPv4, mustAddrs("192.0.2.3", "192.0.2.1", "192.0.2.2", "2001:db8::2", "2001:db8::1"), "IPv4 first"},
		{Interleave, mustAddrs("2001:db8::2", "192.0.2.3", "2001:db8::1", "192.0.2.1", "192.0.2.2"), "RFC 8305, Section 4: alternate, IPv6 first"},
	}
	for _, tt := range tests {
		t.Run(tt.family.String(), func(t *testing.T) {
			assert.Equal(t, tt.want, orderAddrs(nil, v6, v4, tt.family), tt.reason)
		})
	}
	assert.Equal(t, mustAddrs("192.0.2.3", "192.0.2.1", "192.0.2.2"), orderAddrs(nil, nil, v4, Interleave), "one family only")
	assert.Empty(t, orderAddrs(nil, v6, nil, IPv4Only), "the family policy leaves nothing")
	assert.Equal(t, "Family(9)", Family(9).String())
}

func TestDedupeAddrs(t *testing.T) {
	bad := &Error{Err: ErrNoAddress}
	hs := []*mxHost{
		{name: "a", addrs: mustAddrs("192.0.2.1", "192.0.2.1", "2001:db8::1")},
		{name: "broken", err: bad},
		{name: "b", addrs: mustAddrs("::ffff:192.0.2.1", "2001:db8::1")},
		{name: "c", addrs: mustAddrs("192.0.2.1", "192.0.2.9")},
	}
	ro := &routing{r: &Router{}}
	var seen addrSet
	var got []*mxHost
	for _, h := range hs {
		if ro.dedupe(t.Context(), &seen, h, got) {
			got = append(got, h)
		}
	}
	assert.Equal(t, []string{"a", "broken", "c"}, names(got), "b has nothing new and goes; an erring host stays")
	assert.Equal(t, mustAddrs("192.0.2.1", "2001:db8::1"), got[0].addrs, "a duplicate within a host goes too")
	assert.Equal(t, mustAddrs("192.0.2.9"), got[2].addrs)
}

func TestLimitAddrs(t *testing.T) {
	mk := func() []*mxHost {
		return []*mxHost{
			{name: "a", addrs: mustAddrs("192.0.2.1", "192.0.2.2")},
			{name: "err", err: &Error{}},
			{name: "b", addrs: mustAddrs("192.0.2.3", "192.0.2.4")},
			{name: "c", addrs: mustAddrs("192.0.2.5")},
		}
	}
	tests := []struct {
		max       int
		wantHosts []string
		wantLast  int
		reason    string
	}{
		{0, []string{"a", "err", "b", "c"}, 1, "0 is no limit"},
		{1, []string{"a"}, 1, "cut inside the first host"},
		{2, []string{"a"}, 2, "the limit reached at the end of a host drops the rest"},
		{3, []string{"a", "err", "b"}, 1, "an erring host before the cut stays"},
		{5, []string{"a", "err", "b", "c"}, 1, "exactly all"},
		{9, []string{"a", "err", "b", "c"}, 1, "more than all"},
	}
	for _, tt := range tests {
		ro := &routing{r: &Router{MaxAddrs: tt.max}}
		var got []*mxHost
		listed := 0
		for _, h := range mk() {
			got = append(got, h)
			if ro.limit(t.Context(), h, &listed) {
				break // the hosts after it go (see walk)
			}
		}
		assert.Equal(t, tt.wantHosts, names(got), "max %d: %s", tt.max, tt.reason)
		assert.Len(t, got[len(got)-1].addrs, tt.wantLast, "max %d", tt.max)
	}
}
