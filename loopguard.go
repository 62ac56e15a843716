package mxroute

import (
	"context"
	"fmt"
	"math"
	"net/netip"
	"slices"
)

// The loop guard drops the mail hosts that would send the mail back to this
// host.
//
// RFC 5321, Section 5.1: "The relay host MUST then inspect the list for any
// of the names or addresses by which it might be known in mail transactions.
// If a matching record is found, all records at that preference level and
// higher-numbered ones MUST be discarded from consideration. If there are no
// records left at that point, it is an error condition, and the message MUST
// be returned as undeliverable."
//
// (RFC 974 gave the rule first; the vega.ru zone of its era shows why: a
// backup MX that passed mail for vega-gw to a higher-numbered backup would
// have it passed straight back.) A host is this host when its name is one of
// LocalNames (or its CNAME chain leads to one) or one of its addresses is
// in LocalAddrs; chains and addresses are known only for hosts already
// looked up. It runs twice: in begin, on the names, before any lookup
// (loopGuard), and in the walk of the hosts, on what their lookups found,
// before each preference is used (findSelf, then dropSelf).

// loopGuard applies the loop guard to ro.hosts (sorted by preference) as far
// as they are known. It returns ErrLoop when no host is left.
func (ro *routing) loopGuard(ctx context.Context) *Error {
	if !ro.r.guards() {
		return nil
	}
	checked := 0
	if self, _ := ro.findSelf(&checked, math.MaxUint16); self >= 0 {
		return ro.dropSelf(ctx, tieStart(ro.hosts, self), self)
	}
	return nil
}

// findSelf waits for the lookups of the hosts from ro.hosts[*checked] on
// whose preference is at most pref, in route order, and returns the index
// of the first one that is this host, or -1; *checked moves past those that
// are not. cut: a host's lookups were cut by ctx, so whether it is this
// host is not known.
func (ro *routing) findSelf(checked *int, pref uint16) (self int, cut bool) {
	for ; *checked < len(ro.hosts) && ro.hosts[*checked].pref <= pref; *checked++ {
		h := ro.hosts[*checked]
		if h.wait(); h.cut() {
			return -1, true
		}
		if ro.r.isSelf(h) {
			return *checked, false
		}
	}
	return -1, false
}

// dropSelf applies the loop guard once ro.hosts[self] is found to be this
// host: every host from ro.hosts[from], the first at its preference, on
// goes, and the hosts beyond the lookups too. It returns ErrLoop when no
// host is left before them.
func (ro *routing) dropSelf(ctx context.Context, from, self int) *Error {
	if tr := ro.trace(); tr.on() {
		h, own := ro.hosts[self], ro.hosts[from].pref
		tr.emit(ctx, Event{Step: StepSelf, Host: h.name, Preference: h.pref, Rule: ruleLoop,
			Message: fmt.Sprintf("this host is %s (%d): every MX from preference %d on goes", h.name, h.pref, own)})
		for _, hosts := range [2][]*mxHost{ro.hosts[from:], ro.beyond} {
			for _, d := range hosts {
				// Whether d is this host too only names the reason in the
				// message: its lookups are waited for only when traced.
				d.wait()
				msg := fmt.Sprintf("dropped %s (%d): at or above this host's own preference %d (loop guard)", d.name, d.pref, own)
				if ro.r.isSelf(d) {
					msg = fmt.Sprintf("dropped %s (%d): it is this host (loop guard)", d.name, d.pref)
				}
				tr.emit(ctx, Event{Step: StepLoopGuard, Host: d.name, Preference: d.pref, Rule: ruleLoop, Message: msg})
			}
		}
	}
	ro.self = true
	ro.hosts, ro.beyond = ro.hosts[:from], nil
	if from == 0 {
		return ro.loopError()
	}
	return nil
}

// guards reports whether the Router has a loop guard (LocalNames or
// LocalAddrs). It looks at what the address lookups found too: this host's
// addresses, or the CNAMEs a mail host's name leads through, which may end
// at one of this host's names.
func (r *Router) guards() bool { return len(r.LocalAddrs) > 0 || len(r.LocalNames) > 0 }

// inChain reports whether name (no trailing dot) is on a CNAME chain (FQDNs).
func inChain(name string, chain []string) bool {
	for _, c := range chain {
		if len(c) == len(name)+1 && c[:len(name)] == name {
			return true
		}
	}
	return false
}

// isSelf reports whether h is one of this host's names or addresses. A
// mail host whose CNAME chain leads to one of LocalNames is this host too
// (RFC 5321, Section 5.1: "any of the names or addresses by which it might
// be known"), once its lookups have ended. Names
// compare case-insensitively with any trailing dot ignored; addresses compare
// with IPv4-mapped IPv6 addresses taken as IPv4.
func (r *Router) isSelf(h *mxHost) bool {
	for _, n := range r.LocalNames {
		if n = NormalizeHost(n); n == h.name || inChain(n, h.v6.ans.chain) || inChain(n, h.v4.ans.chain) {
			return true
		}
	}
	for _, a := range slices.Concat(h.v6.addrs, h.v4.addrs) {
		if slices.ContainsFunc(r.LocalAddrs, func(l netip.Addr) bool { return l.Unmap().WithZone("") == a.Unmap().WithZone("") }) {
			return true
		}
	}
	return false
}
