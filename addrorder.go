package mxroute

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
)

// Address order and limits, once the lookups have ended: the Family (which
// families, in which order within a host), each host's addresses ordered,
// special-purpose ones dropped and capped (MaxAddrsPerHost), de-duplicated
// across hosts, and cut at MaxAddrs.

// Family selects the address families of a route and their order within
// each host. Hosts keep their MX order whatever the Family.
type Family int

const (
	// AnyFamily uses both families; per host, IPv6 addresses first, then IPv4
	// (the RFC 6724, Section 2.1 default policy table prefers IPv6).
	AnyFamily Family = iota
	// IPv4Only uses only IPv4 addresses; AAAA records are not asked for.
	IPv4Only
	// IPv6Only uses only IPv6 addresses; A records are not asked for.
	IPv6Only
	// PreferIPv4 uses both families; per host, IPv4 addresses first.
	PreferIPv4
	// Interleave uses both families and alternates them within each host,
	// IPv6 first (RFC 8305, Section 4), so one broken family costs one
	// attempt per host instead of all of them.
	Interleave
)

// String returns the Family's Go name, e.g. "IPv4Only".
func (f Family) String() string {
	switch f {
	case AnyFamily:
		return "AnyFamily"
	case IPv4Only:
		return "IPv4Only"
	case IPv6Only:
		return "IPv6Only"
	case PreferIPv4:
		return "PreferIPv4"
	case Interleave:
		return "Interleave"
	}
	return "Family(" + strconv.Itoa(int(f)) + ")"
}

// wants reports whether f uses IPv6 and IPv4 addresses.
func (f Family) wants() (v6, v4 bool) {
	switch f {
	case IPv4Only:
		return false, true
	case IPv6Only:
		return true, false
	}
	return true, true
}

// usedAddrs returns h's AAAA and A results, each only when the Family uses
// its family (nil otherwise).
func (r *Router) usedAddrs(h *mxHost) [2][]netip.Addr {
	useV6, useV4 := r.Family.wants()
	var out [2][]netip.Addr
	if useV6 {
		out[0] = h.v6.addrs
	}
	if useV4 {
		out[1] = h.v4.addrs
	}
	return out
}

// hostAddrs appends h's addresses to buf in the order to try (see
// orderAddrs), without special-purpose ones (see special.go), at most
// MaxAddrsPerHost of them. It reports each special-purpose address and the
// addresses of a family the Family leaves out.
func (ro *routing) hostAddrs(ctx context.Context, buf []netip.Addr, h *mxHost) []netip.Addr {
	r, tr := ro.r, ro.trace()
	start := len(buf)
	buf = orderAddrs(buf, h.v6.addrs, h.v4.addrs, r.Family)
	kept := buf[:start]
	for _, a := range buf[start:] {
		b := r.special(a)
		if b == nil {
			kept = append(kept, a)
		} else if tr.on() {
			tr.emit(ctx, Event{Step: StepSpecialAddr, Host: h.name, Preference: h.pref, Addrs: []netip.Addr{a},
				Rule: ruleSpecial + "; " + b.source, Message: fmt.Sprintf("%s (%d): %s; not used", h.name, h.pref, b.describe(a))})
		}
	}
	if useV6, useV4 := r.Family.wants(); tr.on() {
		// RFC 6724, Section 2.1: the family policy leaves these out.
		if n := len(h.v6.addrs); !useV6 && n > 0 {
			tr.emit(ctx, Event{Step: StepFamily, Host: h.name, Preference: h.pref, Count: n, Rule: ruleRFC6724,
				Message: fmt.Sprintf("%s: %s not used (family %s)", h.name, countFamilies(n, 0), r.Family)})
		}
		if n := len(h.v4.addrs); !useV4 && n > 0 {
			tr.emit(ctx, Event{Step: StepFamily, Host: h.name, Preference: h.pref, Count: n, Rule: ruleRFC6724,
				Message: fmt.Sprintf("%s: %s not used (family %s)", h.name, countFamilies(0, n), r.Family)})
		}
	}
	return kept[:start+min(len(kept)-start, r.maxAddrsPerHost())]
}

// orderAddrs puts one host's addresses in the order to try. Within a family
// the resolver's order is kept: RFC 5321, Section 5.1: "It is the
// responsibility of the domain name resolver interface to have ordered this
// list by decreasing preference if necessary, and the SMTP sender MUST try
// them in the order presented."
// The addresses are appended to out.
func orderAddrs(out, v6, v4 []netip.Addr, f Family) []netip.Addr {
	useV6, useV4 := f.wants()
	if !useV6 {
		v6 = nil
	}
	if !useV4 {
		v4 = nil
	}
	switch f {
	case PreferIPv4:
		out = append(append(out, v4...), v6...)
	case Interleave:
		// RFC 8305, Section 4 (in our words, not its own): the sorted
		// list is reordered so that address families alternate, starting
		// with the preferred one, IPv6.
		for i := 0; i < len(v6) || i < len(v4); i++ {
			if i < len(v6) {
				out = append(out, v6[i])
			}
			if i < len(v4) {
				out = append(out, v4[i])
			}
		}
	default:
		out = append(append(out, v6...), v4...)
	}
	return out
}

// dedupe removes from h's addresses those already listed (seen), under an
// earlier host or earlier in h, and reports whether h stays in the route: a
// host that had addresses and has none left goes, since mail already tried
// at an address gains nothing from trying it again under another name. A
// host that carries an error stays, so that callers can see why it is
// unusable. earlier are the hosts listed so far, which the trace names.
func (ro *routing) dedupe(ctx context.Context, seen *addrSet, h *mxHost, earlier []*mxHost) bool {
	if h.err != nil {
		return true
	}
	var dups []netip.Addr // for the trace
	addrs := h.addrs[:0]
	for _, a := range h.addrs {
		if seen.add(a) {
			addrs = append(addrs, a)
		} else if ro.trace().on() {
			dups = append(dups, a)
		}
	}
	if len(dups) > 0 {
		under := h.name // a duplicate within h, unless an earlier host has it
		for _, e := range earlier {
			if slices.ContainsFunc(e.addrs, func(a netip.Addr) bool { return a.Unmap() == dups[0].Unmap() }) {
				under = e.name
				break
			}
		}
		msg := fmt.Sprintf("%s (%d): %s already listed under %s: not repeated", h.name, h.pref, joinAddrs(dups), under)
		if len(addrs) == 0 {
			msg += "; the host has nothing new and is dropped"
		}
		ro.trace().emit(ctx, Event{Step: StepDedupe, Host: h.name, Preference: h.pref, Addrs: dups, Count: len(addrs),
			Rule: ruleRFC5321, Message: msg})
	}
	h.addrs = addrs
	return len(addrs) > 0
}

// addrSet is a set of addresses, IPv4-mapped IPv6 addresses taken as IPv4.
// Its zero value is empty. A route has a handful of addresses: they are
// scanned in a small array, and a map takes over past it.
type addrSet struct {
	small [16]netip.Addr
	n     int
	m     map[netip.Addr]struct{}
}

// add adds a and reports whether it was new.
func (s *addrSet) add(a netip.Addr) bool {
	a = a.Unmap()
	if s.m != nil {
		if _, dup := s.m[a]; dup {
			return false
		}
		s.m[a] = struct{}{}
		return true
	}
	for _, b := range s.small[:s.n] {
		if a == b {
			return false
		}
	}
	if s.n < len(s.small) {
		s.small[s.n] = a
		s.n++
		return true
	}
	s.m = make(map[netip.Addr]struct{}, 2*len(s.small))
	for _, b := range s.small {
		s.m[b] = struct{}{}
	}
	s.m[a] = struct{}{}
	return true
}

// limit applies MaxAddrs to h, whose addresses come after listed others,
// and reports whether the limit is reached with h: h keeps what fits, and
// the hosts after it go (see walk).
//
// RFC 5321, Section 5.1: "there MAY also be a configurable limit on the number
// of alternate addresses that can be tried. In any case, the SMTP client
// SHOULD try at least two addresses."
func (ro *routing) limit(ctx context.Context, h *mxHost, listed *int) bool {
	max := ro.r.MaxAddrs
	if max <= 0 || len(h.addrs) == 0 {
		return false
	}
	if *listed += len(h.addrs); *listed < max {
		return false
	}
	if keep := len(h.addrs) - (*listed - max); keep < len(h.addrs) { // keep > 0: listed was below max
		if ro.trace().on() {
			ro.trace().emit(ctx, Event{Step: StepMaxAddrs, Host: h.name, Preference: h.pref, Count: keep, Rule: ruleRFC5321,
				Message: fmt.Sprintf("%s (%d): %d of %d address(es) kept (MaxAddrs %d)", h.name, h.pref, keep, len(h.addrs), max)})
		}
		h.addrs = h.addrs[:keep]
	}
	return true
}

// countFamilies says, for a message, how many addresses of each family:
// "1 IPv6 address and 2 IPv4 addresses".
func countFamilies(v6, v4 int) string {
	var parts []string
	if v6 > 0 {
		parts = append(parts, plural(v6, "IPv6 address", "IPv6 addresses"))
	}
	if v4 > 0 {
		parts = append(parts, plural(v4, "IPv4 address", "IPv4 addresses"))
	}
	if len(parts) == 0 {
		return "no address"
	}
	return strings.Join(parts, " and ")
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return strconv.Itoa(n) + " " + many
}
