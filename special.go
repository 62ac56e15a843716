package mxroute

import "net/netip"

// A specialBlock is an address block of the IANA special-purpose registries
// (RFC 6890 and its updates) where no connection can ever reach another
// organisation's SMTP server. An address there, in an A or AAAA record or an
// address literal, is never a target: it is reported (StepSpecialAddr) and
// dropped, and a host left with none is unusable.
//
// The danger is concrete, not hygienic: an MX host at 127.0.0.1 or 0.0.0.0
// hands the message to this host's own listener (on Linux a connect to
// 0.0.0.0 or :: reaches this host too), which usually trusts localhost as
// a relay, an open-relay path (Haraka issue 2809; Exim's default
// configuration ignores such MX hosts for that reason).
//
// Private (10/8, 172.16/12, 192.168/16, fc00::/7), shared (100.64/10),
// benchmarking (198.18/15) and documentation ranges (192.0.2/24,
// 198.51.100/24, 203.0.113/24, 2001:db8::/32) are ordinary unicast: internal
// mail and tests use them, and they stay usable.
type specialBlock struct {
	prefix   netip.Prefix
	name     string // the registry's name for the block, e.g. "loopback"
	reason   string // why no remote mail server can be there
	source   string // the registry entry's RFC
	loopback bool   // allowed as a target by Router.AllowLoopback
}

// specialBlocks is the list, IPv4 then IPv6, each with its registry source.
var specialBlocks = []specialBlock{
	// IANA IPv4 Special-Purpose Address Registry.
	{prefix: netip.MustParsePrefix("0.0.0.0/8"), name: "this network", source: "RFC 791, Section 3.2; RFC 1122, Section 3.2.1.3",
		reason: "never a destination; a connection to 0.0.0.0 reaches this host"},
	{prefix: netip.MustParsePrefix("127.0.0.0/8"), name: "loopback", source: "RFC 1122, Section 3.2.1.3", loopback: true,
		reason: "this host"},
	{prefix: netip.MustParsePrefix("169.254.0.0/16"), name: "link-local", source: "RFC 3927",
		reason: "valid on one link only, never forwarded"},
	{prefix: netip.MustParsePrefix("192.0.0.0/29"), name: "IPv4 service continuity prefix", source: "RFC 7335",
		reason: "DS-Lite tunnel endpoints, never forwarded"},
	{prefix: netip.MustParsePrefix("192.0.0.8/32"), name: "IPv4 dummy address", source: "RFC 7600",
		reason: "a source address only, never a destination"},
	{prefix: netip.MustParsePrefix("192.0.0.170/31"), name: "NAT64/DNS64 discovery", source: "RFC 8880, Section 7.2",
		reason: "the answer for ipv4only.arpa, never forwarded"},
	{prefix: netip.MustParsePrefix("224.0.0.0/4"), name: "multicast", source: "RFC 5771 (IANA IPv4 Multicast Address Space Registry)",
		reason: "a group, not a host: no TCP connection"},
	{prefix: netip.MustParsePrefix("255.255.255.255/32"), name: "limited broadcast", source: "RFC 8190; RFC 919, Section 7",
		reason: "every host on this link, never forwarded"},
	{prefix: netip.MustParsePrefix("240.0.0.0/4"), name: "reserved", source: "RFC 1112, Section 4",
		reason: "reserved for future use, never forwarded"},

	// IANA IPv6 Special-Purpose Address Registry.
	{prefix: netip.MustParsePrefix("::/128"), name: "unspecified", source: "RFC 4291, Section 2.5.2",
		reason: "never a destination; a connection to :: reaches this host"},
	{prefix: netip.MustParsePrefix("::1/128"), name: "loopback", source: "RFC 4291, Section 2.5.3", loopback: true,
		reason: "this host"},
	{prefix: netip.MustParsePrefix("::ffff:0:0/96"), name: "IPv4-mapped", source: "RFC 4291, Section 2.5.5.2",
		reason: "an IPv4 destination in disguise, never an IPv6 target"},
	{prefix: netip.MustParsePrefix("::/96"), name: "IPv4-compatible", source: "RFC 4291, Section 2.5.5.1",
		reason: "deprecated (\"The 'IPv4-Compatible IPv6 address' is now deprecated\"), an IPv4 address in disguise"},
	{prefix: netip.MustParsePrefix("100::/64"), name: "discard-only", source: "RFC 6666",
		reason: "traffic to it is discarded"},
	{prefix: netip.MustParsePrefix("2001:10::/28"), name: "ORCHID", source: "RFC 4843",
		reason: "identifiers, not routable at the IP layer"},
	{prefix: netip.MustParsePrefix("2001:20::/28"), name: "ORCHIDv2", source: "RFC 7343",
		reason: "identifiers, not routable at the IP layer"},
	{prefix: netip.MustParsePrefix("fe80::/10"), name: "link-local", source: "RFC 4291, Section 2.5.6",
		reason: "valid on one link only, needs an interface, never forwarded"},
	{prefix: netip.MustParsePrefix("ff00::/8"), name: "multicast", source: "RFC 4291, Section 2.7",
		reason: "a group, not a host: no TCP connection"},
}

// The IPv6 prefixes that embed an IPv4 address: an address there is special
// when the IPv4 address it embeds is, though the prefix itself is ordinary.
var embeddingBlocks = []struct {
	specialBlock
	at int // the byte where the IPv4 address starts
}{
	{specialBlock{prefix: netip.MustParsePrefix("64:ff9b::/96"), name: "NAT64 well-known prefix, special-purpose IPv4",
		source: "RFC 6052, Section 3.1",
		reason: "the prefix \"MUST NOT be used to represent non-global IPv4 addresses\"; this one embeds one"}, 12},
	{specialBlock{prefix: netip.MustParsePrefix("2002::/16"), name: "6to4, special-purpose IPv4",
		source: "RFC 3056, Section 2",
		reason: "a 6to4 address embeds its site's global IPv4 address; this one embeds a special-purpose one"}, 2},
}

// specialBlockOf returns the block a is in, or nil. An IPv4-mapped IPv6
// address is the IPv4-mapped block whatever IPv4 address it maps.
func specialBlockOf(a netip.Addr) *specialBlock {
	if !maybeSpecial(a) {
		return nil
	}
	a = a.WithZone("")
	for i := range specialBlocks {
		if b := &specialBlocks[i]; b.prefix.Contains(a) {
			return b
		}
	}
	for i := range embeddingBlocks {
		if e := &embeddingBlocks[i]; e.prefix.Contains(a) {
			b := a.As16()
			if specialBlockOf(netip.AddrFrom4([4]byte(b[e.at:e.at+4]))) != nil {
				return &e.specialBlock
			}
		}
	}
	return nil
}

// maybeSpecial is a quick test of the leading bytes: false when a is in
// none of specialBlocks, so that the ordinary address of a route costs a
// few comparisons. TestSpecialBlocks checks it against the list.
func maybeSpecial(a netip.Addr) bool {
	if a.Is4() {
		b := a.As4()
		return b[0] == 0 || b[0] == 127 || b[0] == 169 || b[0] >= 224 || b[0] == 192 && b[1] == 0 && b[2] == 0
	}
	b := a.As16()
	return b[0] == 0 || b[0] == 1 || b[0] >= 0xfe || b[0] == 0x20 && b[1] == 0x01 && b[2] == 0 && b[3] >= 0x10 && b[3] < 0x30 ||
		b[0] == 0x20 && b[1] == 0x02 // 6to4 (see embeddingBlocks)
}

// special returns the block that keeps a from being a target of this
// Router, or nil: loopback is allowed with AllowLoopback.
func (r *Router) special(a netip.Addr) *specialBlock {
	b := specialBlockOf(a)
	if b != nil && b.loopback && r.AllowLoopback {
		return nil
	}
	return b
}

// firstSpecial returns the first address of h, in the families the Router
// uses, that is a special-purpose address, and its block.
func (r *Router) firstSpecial(h *mxHost) (netip.Addr, *specialBlock) {
	for _, addrs := range r.usedAddrs(h) {
		for _, a := range addrs {
			if b := r.special(a); b != nil {
				return a, b
			}
		}
	}
	return netip.Addr{}, nil
}

// describe says, for people, why a is not used.
func (b *specialBlock) describe(a netip.Addr) string {
	return a.String() + " is in " + b.prefix.String() + " (" + b.name + ", " + b.source + "): " + b.reason
}
