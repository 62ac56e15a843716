// Package rfcvectors is the table of delivery-route test vectors: each one a
// domain, the Router settings that matter, the route (or error) a
// standards-following sender must compute, and the RFC section that asks for
// it. The vectors run against mxroute.ZoneResolver and, through
// mxroute.DNSResolver, against a DNS server on loopback serving the same
// zones (see vectors_test.go); later suites run them against real servers.
package rfcvectors

import (
	"embed"
	"net/netip"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
)

// zoneFS holds the zones the vectors route through.
//
//go:embed zones/*.zone
var zoneFS embed.FS

// A Zone is one master file and its origin.
type Zone struct {
	Origin string
	Data   string
}

// Zones returns the master files the vectors need.
func Zones() []Zone {
	var zs []Zone
	for _, origin := range []string{"t.", "vega.ru.", "relarn.ru."} {
		b, err := zoneFS.ReadFile("zones/" + origin + "zone")
		if err != nil {
			panic(err) // embedded at build time: cannot happen
		}
		zs = append(zs, Zone{Origin: origin, Data: string(b)})
	}
	return zs
}

// A Fault makes one question fail: an rcode in place of the answer, or no
// answer at all (Drop).
type Fault struct {
	Name  string // fully qualified, lower case
	Qtype uint16
	Rcode int  // e.g. dns.RcodeServerFailure
	Drop  bool // no response: the resolver times out
	// Referral answers with a referral (NS records in the authority
	// section, no AA), as a server that does not recurse does.
	Referral bool
	// Lame answers NOERROR with nothing at all: no answer, no SOA, neither
	// AA nor RA, as a server that is not authoritative for the name and
	// does not recurse does (a lame delegation).
	Lame bool
}

// A Vector is one situation and the route it must produce.
type Vector struct {
	Name   string // unique and readable
	RFC    string // the section that asks for the behaviour
	Reason string // what the vector shows

	Domain     string
	LocalNames []string
	LocalAddrs []netip.Addr
	Family     mxroute.Family
	MaxHosts   int
	MaxAddrs   int
	// AllowLoopback is Router.AllowLoopback.
	AllowLoopback bool
	Faults        []Fault

	// What Route must return. With WantErr nil the route must succeed; with
	// WantErr set, Want (when not nil) is the diagnostic Route that comes
	// with the error.
	Want          *Route
	WantErr       error  // the sentinel
	WantStatus    string // the RFC 3463 code
	WantTemporary bool
}

// Route is the expected route. Hosts of equal preference may come in any
// order (the sender must shuffle them); everything else is compared exactly.
type Route struct {
	Domain    string
	Canonical string
	Implicit  bool
	Hosts     []Host
}

// Host is an expected host: its addresses in order, or the sentinel of its
// error and whether that error is temporary.
type Host struct {
	Name      string
	Pref      uint16
	Addrs     []string
	Err       error
	Temporary bool
}

var (
	servfail = dns.RcodeServerFailure
	refused  = dns.RcodeRefused
)

func addrs(s ...string) []netip.Addr {
	out := make([]netip.Addr, len(s))
	for i, a := range s {
		out[i] = netip.MustParseAddr(a)
	}
	return out
}

// All is the vector table.
var All = []Vector{
	// Rule 1: sorting, shuffling, duplicates.
	{
		Name: "basic", RFC: "RFC 5321, Section 5.1",
		Reason: "one MX record, one address: the plain case",
		Domain: "basic.t",
		Want: &Route{Domain: "basic.t", Canonical: "basic.t", Hosts: []Host{
			{Name: "mx1.basic.t", Pref: 10, Addrs: []string{"192.0.2.10"}}}},
	},
	{
		Name: "sorted by preference", RFC: "RFC 5321, Section 5.1",
		Reason: "preference MUST be used in sorting; lower numbers are more preferred, whatever the order published",
		Domain: "sorted.t",
		Want: &Route{Domain: "sorted.t", Canonical: "sorted.t", Hosts: []Host{
			{Name: "a.sorted.t", Pref: 10, Addrs: []string{"192.0.2.21"}},
			{Name: "b.sorted.t", Pref: 20, Addrs: []string{"192.0.2.22"}},
			{Name: "c.sorted.t", Pref: 30, Addrs: []string{"192.0.2.23"}}}},
	},
	{
		Name: "equal preferences", RFC: "RFC 5321, Section 5.1; RFC 1123, Section 5.3.4",
		Reason: "hosts of equal preference come after the better one and before worse ones, in random order",
		Domain: "ties.t",
		Want: &Route{Domain: "ties.t", Canonical: "ties.t", Hosts: []Host{
			{Name: "mx1.ties.t", Pref: 10, Addrs: []string{"192.0.2.31"}},
			{Name: "mx2.ties.t", Pref: 20, Addrs: []string{"192.0.2.32"}},
			{Name: "mx3.ties.t", Pref: 20, Addrs: []string{"192.0.2.33"}}}},
	},
	{
		Name: "host listed twice", RFC: "RFC 974; RFC 5321, Section 5.1",
		Reason: "a host listed twice is tried once, at its lowest preference",
		Domain: "dup.t",
		Want: &Route{Domain: "dup.t", Canonical: "dup.t", Hosts: []Host{
			{Name: "mx.dup.t", Pref: 10, Addrs: []string{"192.0.2.35"}},
			{Name: "other.dup.t", Pref: 15, Addrs: []string{"192.0.2.36"}}}},
	},

	// Rule 2: multihomed hosts and address families.
	{
		Name: "multihomed, resolver order", RFC: "RFC 5321, Section 5.1; RFC 6724, Section 2.1",
		Reason: "every address is kept in the order presented; IPv6 first by default",
		Domain: "multi.t",
		Want: &Route{Domain: "multi.t", Canonical: "multi.t", Hosts: []Host{
			{Name: "mx.multi.t", Pref: 10, Addrs: []string{"2001:db8::41", "2001:db8::40", "192.0.2.43", "192.0.2.41", "192.0.2.42"}}}},
	},
	{
		Name: "multihomed, IPv4 only", RFC: "RFC 5321, Section 5.1",
		Reason: "IPv4Only keeps the A records in their order and nothing else",
		Domain: "multi.t", Family: mxroute.IPv4Only,
		Want: &Route{Domain: "multi.t", Canonical: "multi.t", Hosts: []Host{
			{Name: "mx.multi.t", Pref: 10, Addrs: []string{"192.0.2.43", "192.0.2.41", "192.0.2.42"}}}},
	},
	{
		Name: "multihomed, IPv6 only", RFC: "RFC 5321, Section 5.1",
		Reason: "IPv6Only keeps the AAAA records in their order and nothing else",
		Domain: "multi.t", Family: mxroute.IPv6Only,
		Want: &Route{Domain: "multi.t", Canonical: "multi.t", Hosts: []Host{
			{Name: "mx.multi.t", Pref: 10, Addrs: []string{"2001:db8::41", "2001:db8::40"}}}},
	},
	{
		Name: "multihomed, prefer IPv4", RFC: "RFC 6724, Section 2.1 (policy table changed by the operator)",
		Reason: "PreferIPv4 puts the A records first, each family in resolver order",
		Domain: "multi.t", Family: mxroute.PreferIPv4,
		Want: &Route{Domain: "multi.t", Canonical: "multi.t", Hosts: []Host{
			{Name: "mx.multi.t", Pref: 10, Addrs: []string{"192.0.2.43", "192.0.2.41", "192.0.2.42", "2001:db8::41", "2001:db8::40"}}}},
	},
	{
		Name: "multihomed, interleaved", RFC: "RFC 8305, Section 4",
		Reason: "Interleave alternates families, IPv6 first, then the rest of the longer family",
		Domain: "multi.t", Family: mxroute.Interleave,
		Want: &Route{Domain: "multi.t", Canonical: "multi.t", Hosts: []Host{
			{Name: "mx.multi.t", Pref: 10, Addrs: []string{"2001:db8::41", "192.0.2.43", "2001:db8::40", "192.0.2.41", "192.0.2.42"}}}},
	},
	{
		Name: "shared addresses", RFC: "RFC 5321, Section 5.1",
		Reason: "an address already listed under an earlier host is not listed again; a host left with none is dropped",
		Domain: "shared.t",
		Want: &Route{Domain: "shared.t", Canonical: "shared.t", Hosts: []Host{
			{Name: "mx1.shared.t", Pref: 10, Addrs: []string{"192.0.2.50"}},
			{Name: "mx3.shared.t", Pref: 30, Addrs: []string{"192.0.2.51"}}}},
	},

	// Rule 3: implicit MX, NXDOMAIN, NODATA, temporary failures.
	{
		Name: "implicit MX", RFC: "RFC 5321, Section 5.1",
		Reason: "no MX records: the domain itself at preference 0, with its own A and AAAA",
		Domain: "implicit.t",
		Want: &Route{Domain: "implicit.t", Canonical: "implicit.t", Implicit: true, Hosts: []Host{
			{Name: "implicit.t", Pref: 0, Addrs: []string{"2001:db8::60", "192.0.2.60"}}}},
	},
	{
		Name: "implicit MX, IPv6 only on an IPv4 domain", RFC: "RFC 5321, Section 5.1",
		Reason: "a family policy that leaves no address is no usable address, not a missing mail host",
		Domain: "implicit4.t", Family: mxroute.IPv6Only,
		WantErr: mxroute.ErrNoAddress, WantStatus: "5.4.4",
	},
	{
		Name: "no such domain", RFC: "RFC 5321, Section 5.1",
		Reason:  "NXDOMAIN MUST be reported as an error: bounce",
		Domain:  "nonexistent.t",
		WantErr: mxroute.ErrNoSuchDomain, WantStatus: "5.1.2",
	},
	{
		Name: "no MX, no address", RFC: "RFC 5321, Section 5.1",
		Reason:  "NODATA for MX, A and AAAA: the implicit MX is unusable, a permanent error",
		Domain:  "nomail.t",
		WantErr: mxroute.ErrNoMailHost, WantStatus: "5.1.2",
	},
	{
		Name: "MX lookup SERVFAIL", RFC: "RFC 5321, Section 5.1",
		Reason: "a temporary error MUST queue the message and retry later",
		Domain: "tempmx.t", Faults: []Fault{{Name: "tempmx.t.", Qtype: dns.TypeMX, Rcode: servfail}},
		WantErr: mxroute.ErrTemporary, WantStatus: "4.4.3", WantTemporary: true,
	},
	{
		Name: "MX lookup REFUSED", RFC: "RFC 5321, Section 5.1",
		Reason: "REFUSED says nothing about the domain: defer, never bounce",
		Domain: "tempmx.t", Faults: []Fault{{Name: "tempmx.t.", Qtype: dns.TypeMX, Rcode: refused}},
		WantErr: mxroute.ErrTemporary, WantStatus: "4.4.3", WantTemporary: true,
	},
	{
		Name: "MX lookup timeout", RFC: "RFC 5321, Section 5.1",
		Reason: "no answer at all is a temporary error",
		Domain: "tempmx.t", Faults: []Fault{{Name: "tempmx.t.", Qtype: dns.TypeMX, Drop: true}},
		WantErr: mxroute.ErrTemporary, WantStatus: "4.4.3", WantTemporary: true,
	},
	{
		Name: "referral instead of an answer", RFC: "RFC 1034, Section 4.3.1; RFC 2308, Section 2.2",
		Reason: "a referral says nothing of the name: temporary, never read as NODATA and bounced through the implicit MX",
		Domain: "tempmx.t", Faults: []Fault{{Name: "tempmx.t.", Qtype: dns.TypeMX, Referral: true}},
		WantErr: mxroute.ErrTemporary, WantStatus: "4.4.3", WantTemporary: true,
	},
	{
		Name: "lame reply instead of an answer", RFC: "RFC 2308, Section 2.2; RFC 1034, Section 4.3.1",
		Reason: "NOERROR with no answer, no SOA, neither AA nor RA says nothing of the name (golang/go#15434): temporary, never NODATA and an implicit MX",
		Domain: "tempmx.t", Faults: []Fault{{Name: "tempmx.t.", Qtype: dns.TypeMX, Lame: true}},
		WantErr: mxroute.ErrTemporary, WantStatus: "4.4.3", WantTemporary: true,
	},
	{
		Name: "lame reply for the implicit MX's addresses", RFC: "RFC 2308, Section 2.2; RFC 5321, Section 5.1",
		Reason: "a lame reply to A and AAAA is no proof the domain has no address: defer, never 'no mail host'",
		Domain: "implicittemp.t", Faults: []Fault{
			{Name: "implicittemp.t.", Qtype: dns.TypeA, Lame: true},
			{Name: "implicittemp.t.", Qtype: dns.TypeAAAA, Lame: true}},
		WantErr: mxroute.ErrTemporary, WantStatus: "4.4.3", WantTemporary: true,
	},
	{
		Name: "implicit MX, address lookup SERVFAIL", RFC: "RFC 5321, Section 5.1",
		Reason: "the implicit MX's own A lookup failing temporarily is never turned into a bounce",
		Domain: "implicittemp.t", Faults: []Fault{{Name: "implicittemp.t.", Qtype: dns.TypeA, Rcode: servfail}},
		WantErr: mxroute.ErrTemporary, WantStatus: "4.4.3", WantTemporary: true,
	},

	// Rule 4: null MX.
	{
		Name: "null MX", RFC: "RFC 7505, Section 3 and 4",
		Reason:  "a lone MX 0 . means no mail: bounce with 5.1.10, never fall back to the A record",
		Domain:  "nullmx.t",
		WantErr: mxroute.ErrNullMX, WantStatus: "5.1.10",
	},
	{
		Name: "null MX, preference 10", RFC: "RFC 7505, Section 3",
		Reason:  "a lone '.' target is a null MX whatever its preference, as deployed MTAs read it",
		Domain:  "nullmx10.t",
		WantErr: mxroute.ErrNullMX, WantStatus: "5.1.10",
	},
	{
		Name: "null MX mixed with a real MX", RFC: "RFC 7505, Section 3",
		Reason: "a '.' mixed with real MX records is ignored and the real ones used",
		Domain: "mixednull.t",
		Want: &Route{Domain: "mixednull.t", Canonical: "mixednull.t", Hosts: []Host{
			{Name: "mx.mixednull.t", Pref: 10, Addrs: []string{"192.0.2.71"}}}},
	},

	// Rule 5: CNAMEs.
	{
		Name: "domain is a CNAME", RFC: "RFC 5321, Section 5.1",
		Reason: "the canonical name is processed as if it were the initial name",
		Domain: "cname.t",
		Want: &Route{Domain: "cname.t", Canonical: "basic.t", Hosts: []Host{
			{Name: "mx1.basic.t", Pref: 10, Addrs: []string{"192.0.2.10"}}}},
	},
	{
		Name: "CNAME to a CNAME", RFC: "RFC 5321, Section 5.1; RFC 1034, Section 3.6.2",
		Reason: "chains are followed to their end",
		Domain: "dcname.t",
		Want: &Route{Domain: "dcname.t", Canonical: "basic.t", Hosts: []Host{
			{Name: "mx1.basic.t", Pref: 10, Addrs: []string{"192.0.2.10"}}}},
	},
	{
		Name: "CNAME to a domain without MX", RFC: "RFC 5321, Section 5.1",
		Reason: "the implicit MX is the canonical name, and its host is named so",
		Domain: "cnameimplicit.t",
		Want: &Route{Domain: "cnameimplicit.t", Canonical: "implicit.t", Implicit: true, Hosts: []Host{
			{Name: "implicit.t", Pref: 0, Addrs: []string{"2001:db8::60", "192.0.2.60"}}}},
	},
	{
		Name: "CNAME to nowhere", RFC: "RFC 5321, Section 5.1; RFC 6604, Section 3",
		Reason:  "NXDOMAIN at the end of the chain is no such domain",
		Domain:  "cnamenx.t",
		WantErr: mxroute.ErrNoSuchDomain, WantStatus: "5.1.2",
	},
	{
		Name: "CNAME loop", RFC: "RFC 1034, Section 3.6.2",
		Reason:  "a loop is detected, not followed forever: temporary, the zone may be mended",
		Domain:  "loop1.t",
		WantErr: mxroute.ErrCNAME, WantStatus: "4.4.3", WantTemporary: true,
	},
	{
		Name: "CNAME chain too long", RFC: "RFC 1034, Section 3.6.2",
		Reason:  "a chain of 13 links exceeds the limit of 10",
		Domain:  "long0.t",
		WantErr: mxroute.ErrCNAME, WantStatus: "4.4.3", WantTemporary: true,
	},
	{
		Name: "MX target is a CNAME", RFC: "RFC 5321, Section 5.1; RFC 2181, Section 10.3",
		Reason: "tolerated as deployed MTAs do; the host keeps the published name",
		Domain: "mxcname.t",
		Want: &Route{Domain: "mxcname.t", Canonical: "mxcname.t", Hosts: []Host{
			{Name: "alias.mxcname.t", Pref: 10, Addrs: []string{"192.0.2.80"}}}},
	},
	{
		Name: "MX target is a CNAME loop", RFC: "RFC 1034, Section 3.6.2; RFC 5321, Section 5.1",
		Reason: "the looping host is unusable (temporary), the next host is used",
		Domain: "mxcnameloop.t",
		Want: &Route{Domain: "mxcnameloop.t", Canonical: "mxcnameloop.t", Hosts: []Host{
			{Name: "a.mxcnameloop.t", Pref: 10, Err: mxroute.ErrCNAME, Temporary: true},
			{Name: "mx1.basic.t", Pref: 20, Addrs: []string{"192.0.2.10"}}}},
	},

	// Rule 6: IP addresses as MX targets.
	{
		Name: "MX target is an IP address", RFC: "RFC 5321, Section 5.1",
		Reason: "the MX data MUST be a domain name: the only host is unusable, a permanent error",
		Domain: "mxip.t",
		Want: &Route{Domain: "mxip.t", Canonical: "mxip.t", Hosts: []Host{
			{Name: "192.0.2.90", Pref: 10, Err: mxroute.ErrNoAddress}}},
		WantErr: mxroute.ErrNoAddress, WantStatus: "5.4.4",
	},
	{
		Name: "IP address target beside a real host", RFC: "RFC 5321, Section 5.1",
		Reason: "the IP-address host is unusable, the real one is used",
		Domain: "mxipmixed.t",
		Want: &Route{Domain: "mxipmixed.t", Canonical: "mxipmixed.t", Hosts: []Host{
			{Name: "192.0.2.91", Pref: 10, Err: mxroute.ErrNoAddress},
			{Name: "mx.mxipmixed.t", Pref: 20, Addrs: []string{"192.0.2.92"}}}},
	},

	{
		Name: "MX target is not a host name", RFC: "RFC 1123, Section 2.1; RFC 5321, Section 2.3.5",
		Reason: "an MX that names '<html>.t' or an all-numeric last label is unusable like an IP-address target; the real host is used",
		Domain: "mxbadname.t",
		Want: &Route{Domain: "mxbadname.t", Canonical: "mxbadname.t", Hosts: []Host{
			{Name: "<html>.t", Pref: 10, Err: mxroute.ErrNoAddress},
			{Name: "1.2.3.4.5", Pref: 15, Err: mxroute.ErrNoAddress},
			{Name: "mx_1.mxbadname.t", Pref: 20, Addrs: []string{"192.0.2.93"}}}},
	},
	{
		Name: "MX target's CNAME is not a host name", RFC: "RFC 1123, Section 2.1; RFC 2181, Section 10.3",
		Reason: "a CNAME target of a mail host must be a host name too: that host is unusable, permanently",
		Domain: "mxbadcname.t",
		Want: &Route{Domain: "mxbadcname.t", Canonical: "mxbadcname.t", Hosts: []Host{
			{Name: "alias.mxbadcname.t", Pref: 10, Err: mxroute.ErrNoAddress}}},
		WantErr: mxroute.ErrNoAddress, WantStatus: "5.4.4",
	},

	// Special-purpose addresses (RFC 6890).
	{
		Name: "MX host at loopback", RFC: "RFC 6890; RFC 1122, Section 3.2.1.3",
		Reason: "127.0.0.1 is this host: never a target, the host is unusable and the route bounces 5.4.4 naming it",
		Domain: "mxloopback.t",
		Want: &Route{Domain: "mxloopback.t", Canonical: "mxloopback.t", Hosts: []Host{
			{Name: "mx.mxloopback.t", Pref: 10, Err: mxroute.ErrNoAddress}}},
		WantErr: mxroute.ErrNoAddress, WantStatus: "5.4.4",
	},
	{
		Name: "MX host at loopback, loopback allowed", RFC: "RFC 6890",
		Reason: "a test harness or local relay allows loopback explicitly (Router.AllowLoopback)",
		Domain: "mxloopback.t", AllowLoopback: true,
		Want: &Route{Domain: "mxloopback.t", Canonical: "mxloopback.t", Hosts: []Host{
			{Name: "mx.mxloopback.t", Pref: 10, Addrs: []string{"127.0.0.1"}}}},
	},
	{
		Name: "MX host at loopback that is this host", RFC: "RFC 5321, Section 5.1; RFC 6890",
		Reason: "an address in LocalAddrs is recognised by the loop guard, loopback or not: ErrLoop, not 'no address'",
		Domain: "mxloopback.t", LocalAddrs: addrs("127.0.0.1"),
		WantErr: mxroute.ErrLoop, WantStatus: "5.4.6",
	},
	{
		Name: "unspecified, link-local and mapped addresses dropped", RFC: "RFC 6890; RFC 4291, Section 2.5.5.2",
		Reason: "0.0.0.0, ::, fe80::/10 and ::ffff:0:0/96 are never remote mail servers; the host's real addresses and the next host stay",
		Domain: "mxspecial.t",
		Want: &Route{Domain: "mxspecial.t", Canonical: "mxspecial.t", Hosts: []Host{
			{Name: "zero.mxspecial.t", Pref: 10, Err: mxroute.ErrNoAddress},
			{Name: "mixed.mxspecial.t", Pref: 20, Addrs: []string{"2001:db8::94", "192.0.2.94"}}}},
	},
	{
		Name: "mapped address, IPv6 only", RFC: "RFC 4291, Section 2.5.5.2",
		Reason: "an IPv4-mapped AAAA is an IPv4 destination in disguise: IPv6Only never returns it",
		Domain: "mxspecial.t", Family: mxroute.IPv6Only,
		Want: &Route{Domain: "mxspecial.t", Canonical: "mxspecial.t", Hosts: []Host{
			{Name: "zero.mxspecial.t", Pref: 10, Err: mxroute.ErrNoAddress},
			{Name: "mixed.mxspecial.t", Pref: 20, Addrs: []string{"2001:db8::94"}}}},
	},
	{
		Name: "address literal at loopback", RFC: "RFC 5321, Section 4.1.3; RFC 6890",
		Reason:  "[127.0.0.1] names this host: an error, not a delivery to the local listener",
		Domain:  "[127.0.0.1]",
		WantErr: mxroute.ErrNoAddress, WantStatus: "5.4.4",
	},
	{
		Name: "address literal unspecified", RFC: "RFC 5321, Section 4.1.3; RFC 6890",
		Reason:  "[0.0.0.0] reaches this host on Linux",
		Domain:  "[0.0.0.0]",
		WantErr: mxroute.ErrNoAddress, WantStatus: "5.4.4",
	},
	{
		Name: "IPv6 address literal loopback", RFC: "RFC 5321, Section 4.1.3; RFC 4291, Section 2.5.3",
		Reason:  "[IPv6:::1] is this host",
		Domain:  "[IPv6:::1]",
		WantErr: mxroute.ErrNoAddress, WantStatus: "5.4.4",
	},
	{
		Name: "implicit MX at loopback", RFC: "RFC 5321, Section 5.1; RFC 6890",
		Reason:  "a domain without MX whose only address is 127.0.0.1 has no usable address (5.4.4), not 'no mail host'",
		Domain:  "implicitloopback.t",
		WantErr: mxroute.ErrNoAddress, WantStatus: "5.4.4",
	},
	{
		Name: "private and documentation addresses stay", RFC: "RFC 6890; RFC 1918; RFC 5737",
		Reason: "10/8 and 192.0.2/24 are ordinary unicast: internal mail and tests",
		Domain: "mxprivate.t",
		Want: &Route{Domain: "mxprivate.t", Canonical: "mxprivate.t", Hosts: []Host{
			{Name: "mx.mxprivate.t", Pref: 10, Addrs: []string{"fd00::95", "10.0.0.95", "192.0.2.95"}}}},
	},

	// Rule 7: hosts without addresses.
	{
		Name: "one host without address", RFC: "RFC 5321, Section 5.1",
		Reason: "a host that does not exist stays in the route with its error; the next host is used",
		Domain: "noaddr.t",
		Want: &Route{Domain: "noaddr.t", Canonical: "noaddr.t", Hosts: []Host{
			{Name: "gone.noaddr.t", Pref: 10, Err: mxroute.ErrNoAddress},
			{Name: "mx2.noaddr.t", Pref: 20, Addrs: []string{"192.0.2.100"}}}},
	},
	{
		Name: "no host has an address", RFC: "RFC 5321, Section 5.1",
		Reason: "MX records present but none usable MUST be reported as an error: permanent when every failure was",
		Domain: "allnoaddr.t",
		Want: &Route{Domain: "allnoaddr.t", Canonical: "allnoaddr.t", Hosts: []Host{
			{Name: "gone.allnoaddr.t", Pref: 10, Err: mxroute.ErrNoAddress},
			{Name: "txt.allnoaddr.t", Pref: 20, Err: mxroute.ErrNoAddress}}},
		WantErr: mxroute.ErrNoAddress, WantStatus: "5.4.4",
	},
	{
		Name: "preferred host SERVFAIL", RFC: "RFC 5321, Section 5.1",
		Reason: "a host whose lookups fail temporarily keeps its place with the error; the route goes on",
		Domain: "temphost.t", Faults: []Fault{
			{Name: "mx1.temphost.t.", Qtype: dns.TypeA, Rcode: servfail},
			{Name: "mx1.temphost.t.", Qtype: dns.TypeAAAA, Rcode: servfail}},
		Want: &Route{Domain: "temphost.t", Canonical: "temphost.t", Hosts: []Host{
			{Name: "mx1.temphost.t", Pref: 10, Err: mxroute.ErrTemporary, Temporary: true},
			{Name: "mx2.temphost.t", Pref: 20, Addrs: []string{"192.0.2.112"}}}},
	},
	{
		Name: "only host SERVFAIL", RFC: "RFC 5321, Section 5.1",
		Reason: "no usable host because of a temporary failure: defer (4.4.3), never bounce",
		Domain: "alltemp.t", Faults: []Fault{
			{Name: "mx.alltemp.t.", Qtype: dns.TypeA, Rcode: servfail},
			{Name: "mx.alltemp.t.", Qtype: dns.TypeAAAA, Rcode: servfail}},
		WantErr: mxroute.ErrNoAddress, WantStatus: "4.4.3", WantTemporary: true,
	},
	{
		Name: "temporary and permanent host failures", RFC: "RFC 5321, Section 5.1",
		Reason: "one temporary failure makes the whole failure temporary",
		Domain: "mixedfail.t", Faults: []Fault{
			{Name: "mx1.mixedfail.t.", Qtype: dns.TypeA, Drop: true},
			{Name: "mx1.mixedfail.t.", Qtype: dns.TypeAAAA, Rcode: servfail}},
		WantErr: mxroute.ErrNoAddress, WantStatus: "4.4.3", WantTemporary: true,
	},
	{
		Name: "AAAA SERVFAIL, A answers", RFC: "RFC 5321, Section 5.1",
		Reason: "the family that answered is used; the failed one does not hold the mail",
		Domain: "halftemp.t", Faults: []Fault{{Name: "mx.halftemp.t.", Qtype: dns.TypeAAAA, Rcode: servfail}},
		Want: &Route{Domain: "halftemp.t", Canonical: "halftemp.t", Hosts: []Host{
			{Name: "mx.halftemp.t", Pref: 10, Addrs: []string{"192.0.2.115"}}}},
	},

	// Rule 8: the loop guard (the vega.ru example).
	{
		Name: "vega.ru, plain sender", RFC: "RFC 5321, Section 5.1",
		Reason: "a sender that is none of the MX hosts tries all three in order",
		Domain: "vega.ru",
		Want: &Route{Domain: "vega.ru", Canonical: "vega.ru", Hosts: []Host{
			{Name: "vega-gw.vega.ru", Pref: 10, Addrs: []string{"194.226.43.1"}},
			{Name: "ns.relarn.ru", Pref: 20, Addrs: []string{"2001:db8:10::10", "198.51.100.10"}},
			{Name: "relay.relarn.ru", Pref: 30, Addrs: []string{"198.51.100.20"}}}},
	},
	{
		Name: "vega-gw.vega.ru from ns.relarn.ru", RFC: "RFC 5321, Section 5.1; RFC 974",
		Reason: "the backup relay drops itself and every worse MX: it must not pass mail to relay.relarn.ru",
		Domain: "vega-gw.vega.ru", LocalNames: []string{"ns.relarn.ru"},
		Want: &Route{Domain: "vega-gw.vega.ru", Canonical: "vega-gw.vega.ru", Hosts: []Host{
			{Name: "vega-gw.vega.ru", Pref: 0, Addrs: []string{"194.226.43.1"}}}},
	},
	{
		Name: "vega-gw.vega.ru from relay.relarn.ru", RFC: "RFC 5321, Section 5.1",
		Reason: "the last backup may pass mail to both better ones",
		Domain: "vega-gw.vega.ru", LocalNames: []string{"relay.relarn.ru"},
		Want: &Route{Domain: "vega-gw.vega.ru", Canonical: "vega-gw.vega.ru", Hosts: []Host{
			{Name: "vega-gw.vega.ru", Pref: 0, Addrs: []string{"194.226.43.1"}},
			{Name: "ns.relarn.ru", Pref: 10, Addrs: []string{"2001:db8:10::10", "198.51.100.10"}}}},
	},
	{
		Name: "vega.ru from vega-gw itself", RFC: "RFC 5321, Section 5.1",
		Reason: "the most preferred MX finds itself: nothing is left, the mail would loop (5.4.6)",
		Domain: "vega.ru", LocalNames: []string{"VEGA-GW.vega.ru."},
		WantErr: mxroute.ErrLoop, WantStatus: "5.4.6",
	},
	{
		Name: "loop guard by address", RFC: "RFC 5321, Section 5.1",
		Reason: "a host is recognised by any of its addresses, IPv6 included",
		Domain: "vega.ru", LocalAddrs: addrs("2001:db8:10::10"),
		Want: &Route{Domain: "vega.ru", Canonical: "vega.ru", Hosts: []Host{
			{Name: "vega-gw.vega.ru", Pref: 10, Addrs: []string{"194.226.43.1"}}}},
	},
	{
		Name: "loop guard by address, IPv4-only sender", RFC: "RFC 5321, Section 5.1",
		Reason: "this host's IPv6 address is recognised even when the route uses IPv4 only",
		Domain: "vega.ru", LocalAddrs: addrs("2001:db8:10::10"), Family: mxroute.IPv4Only,
		Want: &Route{Domain: "vega.ru", Canonical: "vega.ru", Hosts: []Host{
			{Name: "vega-gw.vega.ru", Pref: 10, Addrs: []string{"194.226.43.1"}}}},
	},
	{
		Name: "loop guard through a CNAME", RFC: "RFC 5321, Section 5.1",
		Reason: "www.vega.ru is vega.ru: vega-gw finds itself there too",
		Domain: "www.vega.ru", LocalAddrs: addrs("194.226.43.1"),
		WantErr: mxroute.ErrLoop, WantStatus: "5.4.6",
	},
	{
		Name: "loop guard on an implicit MX", RFC: "RFC 5321, Section 5.1",
		Reason: "the only host of a domain without MX is this host: the mail loops",
		Domain: "implicit.t", LocalAddrs: addrs("192.0.2.60"),
		WantErr: mxroute.ErrLoop, WantStatus: "5.4.6",
	},

	{
		Name: "loop guard through an alias", RFC: "RFC 5321, Section 5.1",
		Reason: "a mail host whose CNAME leads to one of this host's names is this host ('names or addresses by which it might be known'): it and every worse MX go",
		Domain: "mxalias.t", LocalNames: []string{"relay.mxalias.t"},
		Want: &Route{Domain: "mxalias.t", Canonical: "mxalias.t", Hosts: []Host{
			{Name: "mx1.basic.t", Pref: 10, Addrs: []string{"192.0.2.10"}}}},
	},
	{
		Name: "loop guard through an alias, most preferred", RFC: "RFC 5321, Section 5.1",
		Reason: "the alias of this host is the best MX: nothing is left, the mail would loop",
		Domain: "aliasfirst.t", LocalNames: []string{"relay.mxalias.t."},
		WantErr: mxroute.ErrLoop, WantStatus: "5.4.6",
	},
	{
		Name: "backup MX, primary gone", RFC: "RFC 5321, Section 5.1; RFC 3463 (4.4.4)",
		Reason: "this host is a backup and the only more preferred host does not exist: keep the mail (Postfix: 'unable to find primary relay', 4.4.4), never bounce it",
		Domain: "backup.t", LocalNames: []string{"relay.backup.t"},
		Want: &Route{Domain: "backup.t", Canonical: "backup.t", Hosts: []Host{
			{Name: "gone.backup.t", Pref: 10, Err: mxroute.ErrNoAddress}}},
		WantErr: mxroute.ErrNoAddress, WantStatus: "4.4.4", WantTemporary: true,
	},
	{
		Name: "backup MX, primary SERVFAIL", RFC: "RFC 5321, Section 5.1; RFC 3463 (4.4.4)",
		Reason: "the primary fails temporarily: still the backup's deferral, 4.4.4",
		Domain: "backup.t", LocalAddrs: addrs("192.0.2.97"), Faults: []Fault{
			{Name: "gone.backup.t.", Qtype: dns.TypeA, Rcode: servfail},
			{Name: "gone.backup.t.", Qtype: dns.TypeAAAA, Rcode: servfail}},
		Want: &Route{Domain: "backup.t", Canonical: "backup.t", Hosts: []Host{
			{Name: "gone.backup.t", Pref: 10, Err: mxroute.ErrTemporary, Temporary: true}}},
		WantErr: mxroute.ErrNoAddress, WantStatus: "4.4.4", WantTemporary: true,
	},
	{
		Name: "vega.ru from ns.relarn.ru, vega-gw gone", RFC: "RFC 5321, Section 5.1; RFC 974",
		Reason: "the backup relay of vega.ru whose primary has vanished from DNS keeps the mail (4.4.4) instead of bouncing it",
		Domain: "vega.ru", LocalNames: []string{"ns.relarn.ru"}, Faults: []Fault{
			{Name: "vega-gw.vega.ru.", Qtype: dns.TypeA, Rcode: dns.RcodeNameError},
			{Name: "vega-gw.vega.ru.", Qtype: dns.TypeAAAA, Rcode: dns.RcodeNameError}},
		Want: &Route{Domain: "vega.ru", Canonical: "vega.ru", Hosts: []Host{
			{Name: "vega-gw.vega.ru", Pref: 10, Err: mxroute.ErrNoAddress}}},
		WantErr: mxroute.ErrNoAddress, WantStatus: "4.4.4", WantTemporary: true,
	},

	// Limits.
	{
		Name: "MaxHosts counts usable hosts", RFC: "RFC 5321, Section 5.1",
		Reason: "an IP-address target and a host that does not exist take no place under the limit: the route looks further, and never bounces for a cost limit",
		Domain: "maxhosts.t", MaxHosts: 1,
		Want: &Route{Domain: "maxhosts.t", Canonical: "maxhosts.t", Hosts: []Host{
			{Name: "192.0.2.99", Pref: 10, Err: mxroute.ErrNoAddress},
			{Name: "gone.maxhosts.t", Pref: 20, Err: mxroute.ErrNoAddress},
			{Name: "mx3.maxhosts.t", Pref: 30, Addrs: []string{"192.0.2.103"}}}},
	},
	{
		Name: "MaxHosts counts hosts usable in the family", RFC: "RFC 5321, Section 5.1; RFC 6724",
		Reason: "with IPv6Only a host with only A records takes no place either",
		Domain: "maxhosts.t", MaxHosts: 2, Family: mxroute.IPv6Only,
		Want: &Route{Domain: "maxhosts.t", Canonical: "maxhosts.t", Hosts: []Host{
			{Name: "192.0.2.99", Pref: 10, Err: mxroute.ErrNoAddress},
			{Name: "gone.maxhosts.t", Pref: 20, Err: mxroute.ErrNoAddress},
			{Name: "mx3.maxhosts.t", Pref: 30, Err: mxroute.ErrNoAddress},
			{Name: "mx4.maxhosts.t", Pref: 40, Addrs: []string{"2001:db8::104"}},
			{Name: "mx5.maxhosts.t", Pref: 50, Addrs: []string{"2001:db8::105"}}}},
	},
	{
		Name: "MaxHosts", RFC: "RFC 5321, Section 5.1",
		Reason: "a configurable limit on the alternatives tried; it bounds DNS work too",
		Domain: "sorted.t", MaxHosts: 2,
		Want: &Route{Domain: "sorted.t", Canonical: "sorted.t", Hosts: []Host{
			{Name: "a.sorted.t", Pref: 10, Addrs: []string{"192.0.2.21"}},
			{Name: "b.sorted.t", Pref: 20, Addrs: []string{"192.0.2.22"}}}},
	},
	{
		Name: "MaxAddrs", RFC: "RFC 5321, Section 5.1",
		Reason: "the address limit cuts the flattened list; a host left with no address is dropped",
		Domain: "vega.ru", MaxAddrs: 2,
		Want: &Route{Domain: "vega.ru", Canonical: "vega.ru", Hosts: []Host{
			{Name: "vega-gw.vega.ru", Pref: 10, Addrs: []string{"194.226.43.1"}},
			{Name: "ns.relarn.ru", Pref: 20, Addrs: []string{"2001:db8:10::10"}}}},
	},

	// Rule 9: domain input.
	{
		Name: "case and trailing dot", RFC: "RFC 5321, Section 2.4",
		Reason: "domains are case-insensitive; a trailing dot is the same name",
		Domain: "BaSiC.T.",
		Want: &Route{Domain: "basic.t", Canonical: "basic.t", Hosts: []Host{
			{Name: "mx1.basic.t", Pref: 10, Addrs: []string{"192.0.2.10"}}}},
	},
	{
		Name: "ideographic full stop", RFC: "RFC 3490, Section 3.1",
		Reason: "U+3002, U+FF0E and U+FF61 separate labels like a full stop, a trailing one too",
		Domain: "basic\u3002t\uff0e",
		Want: &Route{Domain: "basic.t", Canonical: "basic.t", Hosts: []Host{
			{Name: "mx1.basic.t", Pref: 10, Addrs: []string{"192.0.2.10"}}}},
	},
	{
		Name: "internationalized domain", RFC: "RFC 6531, Section 3.2; RFC 5891, Section 5",
		Reason: "U-labels are looked up as A-labels",
		Domain: "Bücher.t",
		Want: &Route{Domain: "xn--bcher-kva.t", Canonical: "xn--bcher-kva.t", Hosts: []Host{
			{Name: "mx1.basic.t", Pref: 10, Addrs: []string{"192.0.2.10"}}}},
	},
	{
		Name: "IPv4 address literal", RFC: "RFC 5321, Section 4.1.3",
		Reason: "an address literal names the host directly: no DNS",
		Domain: "[192.0.2.200]",
		Want: &Route{Domain: "[192.0.2.200]", Canonical: "[192.0.2.200]", Hosts: []Host{
			{Name: "[192.0.2.200]", Pref: 0, Addrs: []string{"192.0.2.200"}}}},
	},
	{
		Name: "IPv6 address literal", RFC: "RFC 5321, Section 4.1.3",
		Reason: "the IPv6 tag is case-insensitive; the address is used as written",
		Domain: "[ipv6:2001:DB8::200]",
		Want: &Route{Domain: "[IPv6:2001:db8::200]", Canonical: "[IPv6:2001:db8::200]", Hosts: []Host{
			{Name: "[IPv6:2001:db8::200]", Pref: 0, Addrs: []string{"2001:db8::200"}}}},
	},
	{
		Name: "empty domain", RFC: "RFC 5321, Section 4.1.2",
		Reason:  "rejected before any DNS query",
		Domain:  "",
		WantErr: mxroute.ErrBadDomain, WantStatus: "5.1.3",
	},
	{
		Name: "empty label", RFC: "RFC 5321, Section 4.1.2",
		Reason:  "sub-domains are at least one character",
		Domain:  "a..t",
		WantErr: mxroute.ErrBadDomain, WantStatus: "5.1.3",
	},
	{
		Name: "label too long", RFC: "RFC 1035, Section 2.3.4",
		Reason:  "labels are at most 63 octets",
		Domain:  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.t",
		WantErr: mxroute.ErrBadDomain, WantStatus: "5.1.3",
	},
	{
		Name: "leading hyphen", RFC: "RFC 5321, Section 4.1.2",
		Reason:  "sub-domain = Let-dig [Ldh-str]",
		Domain:  "-basic.t",
		WantErr: mxroute.ErrBadDomain, WantStatus: "5.1.3",
	},
	{
		Name: "bare IP address", RFC: "RFC 5321, Section 4.1.3; RFC 3696, Section 2",
		Reason:  "an address must be written as an address literal; no all-numeric top-level domain exists",
		Domain:  "192.0.2.1",
		WantErr: mxroute.ErrBadDomain, WantStatus: "5.1.3",
	},
	{
		Name: "bad address literal", RFC: "RFC 5321, Section 4.1.3",
		Reason:  "300 is no IPv4 octet",
		Domain:  "[300.0.2.1]",
		WantErr: mxroute.ErrBadDomain, WantStatus: "5.1.3",
	},

	// Rule 10: what an authoritative server says.
	{
		Name: "wildcard MX", RFC: "RFC 1034, Section 4.3.3; RFC 4592",
		Reason: "a wildcard MX covers a name with no records of its own",
		Domain: "anything.wild.t",
		Want: &Route{Domain: "anything.wild.t", Canonical: "anything.wild.t", Hosts: []Host{
			{Name: "host.wild.t", Pref: 10, Addrs: []string{"192.0.2.120"}}}},
	},
	{
		Name: "wildcard does not cover an existing name", RFC: "RFC 4592, Section 2.2.1",
		Reason: "a name with records of its own gets NODATA for MX, so its implicit MX is used",
		Domain: "real.wild.t",
		Want: &Route{Domain: "real.wild.t", Canonical: "real.wild.t", Implicit: true, Hosts: []Host{
			{Name: "real.wild.t", Pref: 0, Addrs: []string{"192.0.2.121"}}}},
	},
	{
		Name: "name under a delegation", RFC: "RFC 1034, Section 4.3.2",
		Reason:  "the server holds no data below the cut: REFUSED, a temporary failure",
		Domain:  "x.delegated.t",
		WantErr: mxroute.ErrTemporary, WantStatus: "4.4.3", WantTemporary: true,
	},
}
