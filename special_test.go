package mxroute

import (
	"context"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestSpecialBlocks: every special-purpose block is caught at its edges,
// its neighbours are not, and the private and documentation ranges stay
// usable (issue 9, item 5).
func TestSpecialBlocks(t *testing.T) {
	tests := []struct {
		addr   string
		want   string // the block's name, "" for an ordinary address
		reason string
	}{
		{"0.0.0.0", "this network", "connects to this host on Linux"},
		{"0.255.255.255", "this network", "the whole /8"},
		{"1.0.0.0", "", "the next block is ordinary"},
		{"127.0.0.1", "loopback", "this host"},
		{"127.255.255.254", "loopback", "the whole /8"},
		{"128.0.0.1", "", "past loopback"},
		{"169.254.0.1", "link-local", "RFC 3927"},
		{"169.255.0.1", "", "past link-local"},
		{"192.0.0.1", "IPv4 service continuity prefix", "RFC 7335"},
		{"192.0.0.8", "IPv4 dummy address", "RFC 7600"},
		{"192.0.0.9", "", "PCP anycast is forwardable: left alone"},
		{"192.0.0.170", "NAT64/DNS64 discovery", "RFC 8880"},
		{"192.0.0.171", "NAT64/DNS64 discovery", "RFC 8880"},
		{"224.0.0.1", "multicast", "all hosts"},
		{"239.255.255.255", "multicast", "the whole /4"},
		{"240.0.0.1", "reserved", "class E"},
		{"255.255.255.254", "reserved", "still class E"},
		{"255.255.255.255", "limited broadcast", "RFC 8190"},
		{"::", "unspecified", "connects to this host on Linux"},
		{"::1", "loopback", "this host"},
		{"::2", "IPv4-compatible", "not loopback, but in the deprecated ::/96"},
		{"::ffff:192.0.2.1", "IPv4-mapped", "an IPv4 destination in disguise"},
		{"::ffff:127.0.0.1", "IPv4-mapped", "mapped loopback is mapped first"},
		{"100::1", "discard-only", "RFC 6666"},
		{"2001:10::1", "ORCHID", "RFC 4843"},
		{"2001:20::1", "ORCHIDv2", "RFC 7343"},
		{"fe80::1", "link-local", "needs an interface"},
		{"febf::1", "link-local", "the whole /10"},
		{"fec0::1", "", "past link-local"},
		{"ff02::1", "multicast", "all nodes"},
		// Ordinary unicast, usable for internal mail and tests.
		{"10.0.0.25", "", "private"},
		{"172.16.0.25", "", "private"},
		{"192.168.1.25", "", "private"},
		{"100.64.0.25", "", "shared address space"},
		{"198.18.0.25", "", "benchmarking"},
		{"192.0.2.25", "", "documentation"},
		{"198.51.100.25", "", "documentation"},
		{"203.0.113.25", "", "documentation"},
		{"2001:db8::25", "", "documentation"},
		{"fd00::25", "", "unique local"},
		{"64:ff9b::c000:219", "", "NAT64: a real IPv4 host behind a translator"},
		{"64:ff9b::7f00:1", "NAT64 well-known prefix, special-purpose IPv4", "RFC 6052, Section 3.1: no non-global IPv4 behind the well-known prefix"},
		{"64:ff9b::a9fe:1", "NAT64 well-known prefix, special-purpose IPv4", "link-local behind NAT64"},
		{"2002:c000:219::1", "", "6to4 of a documentation address: ordinary"},
		{"2002:7f00:1::1", "6to4, special-purpose IPv4", "6to4 of loopback"},
		{"2002:0:1::1", "6to4, special-purpose IPv4", "6to4 of 0.0.0.1"},
		{"::127.0.0.1", "IPv4-compatible", "deprecated IPv4-compatible form of loopback"},
		{"::192.0.2.1", "IPv4-compatible", "deprecated, whatever it embeds"},
		{"::1:0:0:0", "", "past ::/96"},
		{"2001::1", "", "Teredo is reachable"},
		{"8.8.8.8", "", "a public address"},
	}
	for _, tt := range tests {
		a := netip.MustParseAddr(tt.addr)
		got := ""
		if b := specialBlockOf(a); b != nil {
			got = b.name
			assert.NotEmpty(t, b.reason)
			assert.Contains(t, b.source, "RFC ", "%s: each block cites its registry source", b.prefix)
		}
		assert.Equal(t, tt.want, got, "%s: %s", tt.addr, tt.reason)
	}
	// maybeSpecial, the quick test, never misses a block: the first and
	// the last address of every block pass it (and it is monotone within
	// the leading bytes it reads).
	for _, b := range specialBlocks {
		assert.True(t, maybeSpecial(b.prefix.Masked().Addr()), "%s", b.prefix)
		assert.True(t, maybeSpecial(lastOf(b.prefix)), "%s", lastOf(b.prefix))
	}
	lo := netip.MustParseAddr("127.0.0.1")
	assert.NotNil(t, (&Router{}).special(lo))
	assert.Nil(t, (&Router{AllowLoopback: true}).special(lo), "AllowLoopback")
	assert.Nil(t, (&Router{AllowLoopback: true}).special(netip.MustParseAddr("::1")))
	for _, a := range []string{"0.0.0.0", "::", "::ffff:127.0.0.1", "169.254.0.1"} {
		assert.NotNil(t, (&Router{AllowLoopback: true}).special(netip.MustParseAddr(a)), "%s: only loopback is allowed", a)
	}
}

const specialZone = `$TTL 300
@          IN SOA ns hostmaster 1 3600 600 86400 300
@          IN NS  ns
ns         IN A   192.0.2.53
lo         IN MX 10 mx.lo
mx.lo      IN A   127.0.0.1
zero       IN MX 10 mx.zero
           IN MX 20 mx.good
mx.zero    IN A   0.0.0.0
           IN AAAA ::
mx.good    IN A   192.0.2.25
mixed      IN MX 10 mx.mixed
mx.mixed   IN A   127.0.0.2
           IN A   10.0.0.25
           IN AAAA fe80::1
           IN AAAA 2001:db8::25
mapped     IN MX 10 mx.mapped
mx.mapped  IN AAAA ::ffff:192.0.2.26
           IN AAAA 2001:db8::26
           IN A   192.0.2.26
implicit   IN A   127.0.0.1
multi      IN MX 10 mx.multi
mx.multi   IN A   224.0.0.1
           IN A   255.255.255.255
           IN A   169.254.1.1
`

// TestRouteSpecialAddrs: special-purpose addresses are never targets; a
// host left with none is unusable with a reason that names the address;
// each dropped address has its StepSpecialAddr event; loopback only with
// AllowLoopback; LocalAddrs still makes ErrLoop (issue 9, item 5).
func TestRouteSpecialAddrs(t *testing.T) {
	z := testZone(t, "sp.test.", specialZone)
	tests := []struct {
		name, domain string
		r            Router
		wantAddrs    []string
		wantErr      error
		wantDetail   string
		wantDropped  []string // StepSpecialAddr, in order
		reason       string
	}{
		{"loopback MX", "lo.sp.test", Router{}, nil, ErrNoAddress, "127.0.0.1 is in 127.0.0.0/8 (loopback", []string{"127.0.0.1"},
			"an MX at 127.0.0.1 would deliver to this host: unusable, a bounce naming the address"},
		{"loopback allowed", "lo.sp.test", Router{AllowLoopback: true}, []string{"127.0.0.1"}, nil, "", nil,
			"a test harness or local relay says so explicitly"},
		{"loopback is this host", "lo.sp.test", Router{LocalAddrs: mustAddrs("127.0.0.1")}, nil, ErrLoop, "", nil,
			"an address in LocalAddrs is this host for the loop guard, loopback or not: ErrLoop, not 'no address'"},
		{"unspecified", "zero.sp.test", Router{}, []string{"192.0.2.25"}, nil, "", []string{"::", "0.0.0.0"},
			"0.0.0.0 and :: reach this host on Linux: dropped, the next MX is used"},
		{"mixed", "mixed.sp.test", Router{}, []string{"2001:db8::25", "10.0.0.25"}, nil, "", []string{"fe80::1", "127.0.0.2"},
			"special addresses go, private and documentation ones stay"},
		{"mapped", "mapped.sp.test", Router{}, []string{"2001:db8::26", "192.0.2.26"}, nil, "", []string{"::ffff:192.0.2.26"},
			"an IPv4-mapped address in an AAAA record is never an IPv6 target"},
		{"mapped, IPv6 only", "mapped.sp.test", Router{Family: IPv6Only}, []string{"2001:db8::26"}, nil, "", []string{"::ffff:192.0.2.26"},
			"IPv6Only never returns an IPv4 destination in disguise"},
		{"implicit MX at loopback", "implicit.sp.test", Router{}, nil, ErrNoAddress, "127.0.0.1 is in 127.0.0.0/8 (loopback", []string{"127.0.0.1"},
			"the domain has an address, just none usable: not 'no mail host'"},
		{"multicast, broadcast, link-local", "multi.sp.test", Router{AllowLoopback: true}, nil, ErrNoAddress, "224.0.0.1 is in 224.0.0.0/4 (multicast",
			[]string{"224.0.0.1", "255.255.255.255", "169.254.1.1"}, "AllowLoopback allows loopback only"},
		{"literal loopback", "[127.0.0.1]", Router{}, nil, ErrNoAddress, "127.0.0.1 is in 127.0.0.0/8 (loopback", []string{"127.0.0.1"},
			"an address literal naming this host is an error"},
		{"literal unspecified", "[0.0.0.0]", Router{}, nil, ErrNoAddress, "0.0.0.0 is in 0.0.0.0/8 (this network", []string{"0.0.0.0"}, "as is 0.0.0.0"},
		{"literal IPv6 loopback", "[IPv6:::1]", Router{}, nil, ErrNoAddress, "::1 is in ::1/128 (loopback", []string{"::1"}, "and ::1"},
		{"literal IPv6 mapped", "[IPv6:::ffff:192.0.2.1]", Router{}, nil, ErrNoAddress, "IPv4-mapped", []string{"::ffff:192.0.2.1"}, "and a mapped IPv4 address"},
		{"literal loopback allowed", "[127.0.0.1]", Router{AllowLoopback: true}, []string{"127.0.0.1"}, nil, "", nil, "unless loopback is allowed"},
		{"literal private", "[10.0.0.1]", Router{}, []string{"10.0.0.1"}, nil, "", nil, "private literals route"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := tt.r
			r.Resolver = z
			var dropped []string
			r.Trace = func(_ context.Context, e Event) {
				if e.Step == StepSpecialAddr {
					require.Len(t, e.Addrs, 1)
					assert.Contains(t, e.Rule, "RFC 6890")
					dropped = append(dropped, e.Addrs[0].String())
				}
			}
			rt, err := r.Route(t.Context(), tt.domain)
			assert.Equal(t, tt.wantDropped, dropped, tt.reason)
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr, tt.reason)
				assert.False(t, IsTemporary(err), tt.reason)
				assert.Contains(t, err.Error(), tt.wantDetail, tt.reason)
				assert.Empty(t, rt.Targets())
				return
			}
			require.NoError(t, err, tt.reason)
			assert.Equal(t, tt.wantAddrs, targetAddrs(rt), tt.reason)
			var streamed []string
			for tg, err := range r.Targets(t.Context(), tt.domain) {
				require.NoError(t, err)
				streamed = append(streamed, tg.Addr.String())
			}
			assert.Equal(t, tt.wantAddrs, streamed, "Targets drops them too")
		})
	}
}

// lastOf returns the last address of p.
func lastOf(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 0x80 >> (i % 8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}
