package mxroute

// The MX RRset: asked for, turned into mail hosts (one per name, at its
// lowest preference), the null MX recognised, and every target checked to
// be a host name. The route's first stage after the domain (see domain.go).

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/miekg/dns"
)

// mx asks for the domain's MX RRset and turns it into sorted mail hosts.
func (ro *routing) mx(ctx context.Context, name string) *Error {
	r, tr := ro.r, ro.trace()
	ro.res = r.resolver()
	ro.daneUnavailable(ctx)
	var extra *lastResponse
	res := ro.res
	if r.UseAdditional {
		extra = &lastResponse{next: shared(res)}
		res = extra
	}
	mx, lerr := r.ask(ctx, res, name+".", dns.TypeMX)
	if lerr != nil {
		return domainError(ro.domain, lerr)
	}
	canonical := bare(mx.name)
	if tr.on() {
		tr.cnames(ctx, "", 0, mx.asked, mx.chain)
	}
	ro.rt = &Route{Domain: name, Canonical: canonical, Authentic: mx.authentic}
	switch mx.kind {
	case noDomain:
		// RFC 5321, Section 5.1: "If a non-existent domain error is
		// returned, this situation MUST be reported as an error."
		if tr.on() {
			tr.emit(ctx, Event{Step: StepNoDomain, Rule: ruleRFC5321, Message: canonical + " does not exist (NXDOMAIN): bounce"})
		}
		return &Error{Domain: ro.domain, Status: statusNoDomain, Err: ErrNoSuchDomain,
			Detail: "NXDOMAIN for " + canonical}
	case noData:
		// RFC 5321, Section 5.1: "If an empty list of MXs is returned, the
		// address is treated as if it was associated with an implicit MX
		// RR, with a preference of 0, pointing to that host."
		if tr.on() {
			tr.emit(ctx, Event{Step: StepImplicitMX, Host: canonical, Rule: ruleRFC5321, Authentic: mx.authentic,
				Message: "no MX records: implicit MX, " + canonical + " itself at preference 0"})
		}
		ro.rt.Implicit = true
		ro.hosts = []*mxHost{{name: canonical, fqdn: mx.name}}
		return nil
	}
	if tr.on() {
		ttl := minTTL(mx.rrs)
		tr.emit(ctx, Event{Step: StepMX, Rule: ruleRFC5321, Count: len(mx.rrs), TTL: ttl, Authentic: mx.authentic,
			Message: fmt.Sprintf("MX RRset of %s has %d record(s), TTL %d", canonical, len(mx.rrs), ttl)})
	}
	var err *Error
	if ro.hosts, err = mxHosts(ctx, tr, ro.domain, mx.rrs); err != nil {
		return err
	}
	sortHosts(ctx, tr, ro.hosts, r.Rand)
	if extra != nil && !(r.DANE && mx.authentic) { // DANE needs authenticated addresses
		useAdditional(ro.hosts, extra.msg, mx.name, r.maxAddrsPerHost())
	}
	return nil
}

// mxHosts turns an MX RRset into mail hosts, one per name at its lowest
// preference, or returns ErrNullMX. It reports the null MX records, the
// targets that are no host names and the names listed more than once, once
// the whole RRset is read (whether a null MX stands alone is known only
// then), in the order of the RRset.
//
// RFC 7505, Section 3: the null MX is "an ordinary MX record with an RDATA
// section consisting of preference number 0 and a zero-length label, written
// in master files as '.'", and "A domain that advertises a null MX MUST NOT
// advertise any other MX RR." A set whose only targets are "." therefore
// means no mail, whatever the preference (RFC 7505 says 0; deployed MTAs
// accept any); a "." mixed with real hosts is a publishing error, and like
// deployed MTAs the router ignores it and uses the real hosts.
func mxHosts(ctx context.Context, tr tracer, domain string, rrs []dns.RR) ([]*mxHost, *Error) {
	hosts := make([]*mxHost, 0, len(rrs))
	all := make([]mxHost, len(rrs)) // one allocation for every host
	var nulls []uint16              // the null MX records' preferences, for the trace
	var listed []listing            // how each host is listed, for the trace
	for _, rr := range rrs {
		mx, ok := rr.(*dns.MX)
		if !ok {
			continue
		}
		name := NormalizeHost(mx.Mx)
		if name == "" { // the null MX target "."
			if tr.on() {
				nulls = append(nulls, mx.Preference)
			}
			continue
		}
		// RFC 5321, Section 5.1 (and RFC 974): a name listed twice counts
		// once, at its best preference.
		if i := slices.IndexFunc(hosts, func(h *mxHost) bool { return h.name == name }); i >= 0 {
			hosts[i].pref = min(hosts[i].pref, mx.Preference)
			if tr.on() {
				listed[i].prefs = append(listed[i].prefs, mx.Preference)
			}
			continue
		}
		h := &all[len(hosts)]
		h.name, h.fqdn, h.pref = name, fqdnOf(mx.Mx, name), mx.Preference
		var unusable Step
		switch {
		case isIPName(name):
			// RFC 5321, Section 5.1: "the data field of that response MUST
			// contain a domain name." An address there is a
			// misconfiguration; a sender that connected to it would be
			// trusting a record that no standard gives a meaning.
			h.err = &Error{Domain: domain, Host: name, Status: statusUnroutable, Err: ErrNoAddress,
				Detail: "MX target is an IP address, not a host name (RFC 5321, Section 5.1)"}
			unusable = StepIPTarget
		case !isHostName(name):
			h.err = &Error{Domain: domain, Host: name, Status: statusUnroutable, Err: ErrNoAddress,
				Detail: "MX target is not a host name (RFC 1123, Section 2.1; RFC 5321, Section 2.3.5)"}
			unusable = StepBadTarget
		}
		hosts = append(hosts, h)
		if tr.on() {
			listed = append(listed, listing{prefs: []uint16{mx.Preference}, unusable: unusable})
		}
	}
	if tr.on() {
		traceListings(ctx, tr, nulls, hosts, listed)
	}
	if len(hosts) == 0 {
		return nil, &Error{Domain: domain, Status: statusNullMX, Err: ErrNullMX}
	}
	return hosts, nil
}

// listing is how mxHosts found one host listed, for the trace.
type listing struct {
	prefs    []uint16 // the preference of each of its MX records, in order
	unusable Step     // StepIPTarget or StepBadTarget when its name is no host name, else 0
}

// traceListings reports what mxHosts decided: each null MX (alone: no mail;
// beside real hosts: ignored), each target that is no host name, and each
// name listed more than once.
func traceListings(ctx context.Context, tr tracer, nulls []uint16, hosts []*mxHost, listed []listing) {
	records := 0
	for _, l := range listed {
		records += len(l.prefs)
	}
	for _, p := range nulls {
		if len(hosts) == 0 {
			tr.emit(ctx, Event{Step: StepNullMX, Preference: p, Rule: ruleRFC7505,
				Message: fmt.Sprintf("null MX (preference %d, target \".\"): the domain accepts no mail, bounce 5.1.10", p)})
		} else {
			tr.emit(ctx, Event{Step: StepNullMXIgnored, Preference: p, Rule: ruleRFC7505,
				Message: fmt.Sprintf("null MX mixed with %d other MX record(s): ignored", records)})
		}
	}
	for i, h := range hosts {
		switch listed[i].unusable {
		case StepIPTarget:
			tr.emit(ctx, Event{Step: StepIPTarget, Host: h.name, Preference: h.pref, Rule: ruleRFC5321,
				Message: h.name + " is an IP address, not a host name: unusable"})
		case StepBadTarget:
			tr.emit(ctx, Event{Step: StepBadTarget, Host: h.name, Preference: h.pref, Rule: ruleHostName,
				Message: strconv.Quote(h.name) + " is not a host name: unusable"})
		}
		if prefs := listed[i].prefs; len(prefs) > 1 {
			tr.emit(ctx, Event{Step: StepDuplicate, Host: h.name, Preference: h.pref, Rule: ruleRFC5321, Count: len(prefs),
				Message: fmt.Sprintf("%s is listed %d times (preferences %s): kept once, at %d", h.name, len(prefs), joinPrefs(prefs), h.pref)})
		}
	}
}

// isIPName reports whether an MX target names an IP address ("192.0.2.1",
// "[192.0.2.1]", "2001:db8::1") rather than a host.
func isIPName(name string) bool {
	s := strings.TrimSuffix(strings.TrimPrefix(name, "["), "]")
	if !strings.Contains(s, ":") && strings.Trim(s, "0123456789.") != "" {
		return false // neither IPv6 nor only digits and dots: a host name, and no parse error to allocate
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// isHostName reports whether name (lower case, no trailing dot, as
// NormalizeHost gives it) is a host name a sender may look up and connect
// to. RFC 5321, Section 2.3.5: a domain name used for a host is "a
// sequence of letters, digits, and hyphens drawn from a character set";
// RFC 1123, Section 2.1 gives the syntax, labels of at most 63 octets that
// neither start nor end with a hyphen, and notes that a top-level label is
// never all-numeric (so "1.2.3.4.5" is no host). Go's resolver drops MX
// and CNAME answers that fail a check like this one since CVE-2021-33195.
// Underscores are accepted, as Go, Postfix and mox accept them: they occur
// in deployed host names. An escaped byte ("\060html\062") is not.
func isHostName(name string) bool {
	if name == "" || len(name) > maxDomainLen {
		return false
	}
	last := ""
	for label := range strings.SplitSeq(name, ".") {
		if label == "" || len(label) > maxLabelLen || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for i := 0; i < len(label); i++ {
			c := label[i]
			if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
		last = label
	}
	return strings.Trim(last, "0123456789") != ""
}

// fqdnOf returns name (a normalised host name) with its trailing dot,
// reusing published (the MX data as received) when it is exactly that.
func fqdnOf(published, name string) string {
	if len(published) == len(name)+1 && published[len(name)] == '.' && published[:len(name)] == name {
		return published
	}
	return name + "."
}

// joinPrefs lists preferences for a message: "20, 10".
func joinPrefs(prefs []uint16) string {
	s := make([]string, len(prefs))
	for i, p := range prefs {
		s[i] = strconv.Itoa(int(p))
	}
	return strings.Join(s, ", ")
}
