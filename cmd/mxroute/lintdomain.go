package main

import (
	"context"
	"errors"
	"fmt"
	"iter"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
)

// linted is one domain being linted: its route and what the checks
// read of it. Facts that cost questions (each preference's families, the
// --server answers, the published TTL) are asked once, by the first check
// that needs them.
type linted struct {
	ctx context.Context
	run *lintRun
	routed

	name      string // as Route asked DNS for it (A-labels, lower case)
	canonical string // the end of its CNAME chain (sameOrganization)
	owner     string // the MX RRset's owner: name, or the end of its CNAME chain
	mxTTL     uint32 // the MX RRset's TTL, as the route saw it
	haveMX    bool   // the route found MX records
	implicit  string // the domain itself, when it has no MX (implicit MX)

	families    func() []prefFamilies
	serverViews func() []serverView // nil without several --server
	ttl         func() ttlSource    // only when haveMX
	tls         func() tlsFacts     // MTA-STS and TLSA (linttls.go)
}

// newDomain routes domain and reads from its decisions what every check
// shares.
func (l *lintRun) newDomain(ctx context.Context, domain string) *linted {
	d := &linted{ctx: ctx, run: l, routed: routeTraced(ctx, l.newRouter(), domain)}
	d.name, d.canonical = mxroute.NormalizeHost(domain), mxroute.NormalizeHost(domain)
	if d.rt != nil {
		d.name, d.canonical = d.rt.Domain, d.rt.Canonical
	}
	d.owner = d.name
	for _, ev := range d.events {
		switch {
		case ev.Step == mxroute.StepMX:
			d.mxTTL, d.haveMX = ev.TTL, true
		case ev.Step == mxroute.StepImplicitMX:
			d.implicit = ev.Host
		case ev.Step == mxroute.StepCNAME && ev.Host == "": // the domain's own alias
			d.owner = ev.Target
		}
	}
	d.families = sync.OnceValue(d.lookupFamilies)
	d.serverViews = sync.OnceValue(func() []serverView {
		if errors.Is(d.err, mxroute.ErrBadDomain) {
			return nil // not a name any server could be asked about: route-failed says why
		}
		return lintServers(ctx, l, d.name)
	})
	d.ttl = sync.OnceValue(func() ttlSource { return publishedTTL(ctx, l, d.owner, d.mxTTL, d.serverViews()) })
	d.tls = sync.OnceValue(d.lookupTLS)
	return d
}

// decisions yields the route's decisions of one step, with their index in
// the route.
func (d *linted) decisions(step mxroute.Step) iter.Seq2[int, mxroute.Event] {
	return func(yield func(int, mxroute.Event) bool) {
		for i, ev := range d.events {
			if ev.Step == step && !yield(i, ev) {
				return
			}
		}
	}
}

// unusableHost is an MX host the route found unusable, and why.
type unusableHost struct {
	mxroute.Event
	err *mxroute.Error
}

// unusableMX yields the MX hosts the route found unusable (StepUnusable),
// with the decision's index. The domain itself is never one, whatever made
// it unusable: with no MX (implicit MX) there is no MX record to blame, and
// route-failed says why the route failed. Nor is a host that an enforced
// MTA-STS policy excludes (with --mta-sts): sts-mx-mismatch says it.
func (d *linted) unusableMX() iter.Seq2[int, unusableHost] {
	return func(yield func(int, unusableHost) bool) {
		if d.rt != nil && d.rt.Implicit || d.rt == nil && errors.Is(d.err, mxroute.ErrNoMailHost) {
			return
		}
		for i, ev := range d.decisions(mxroute.StepUnusable) {
			var me *mxroute.Error
			if !errors.As(ev.Err, &me) || d.implicit != "" && ev.Host == d.implicit || errors.Is(ev.Err, mxroute.ErrMTASTS) {
				continue // the library's hosts always carry an *Error
			}
			if !yield(i, unusableHost{ev, me}) {
				return
			}
		}
	}
}

// prefFamilies is what lint knows of the address families of one
// preference's hosts, in the order the route looked them up.
type prefFamilies struct {
	pref         uint16
	with6, with4 []string
	// without6 and without4 are the hosts DNS said have none: a host whose
	// lookup for the family failed may well have it (StepAddrs lists only
	// what was found), and is in failed instead.
	without6, without4 []string
	failed             []failedLookup
}

// failedLookup is a host's AAAA or A lookup that failed.
type failedLookup struct {
	host, name string
	qtype      uint16
	detail     string
}

// lookupFamilies sorts each preference's hosts by the families the route
// found. Where the hosts of a preference differ, those without a family
// are asked again for it, to tell "none" from a failed lookup.
func (d *linted) lookupFamilies() []prefFamilies {
	type fams struct{ v6, v4 bool }
	byPref := map[uint16][]string{}
	famOf := map[string]fams{}
	for _, ev := range d.decisions(mxroute.StepAddrs) {
		var f fams
		for _, a := range ev.Addrs {
			if a.Is4() || a.Is4In6() {
				f.v4 = true
			} else {
				f.v6 = true
			}
		}
		if _, seen := famOf[ev.Host]; !seen {
			byPref[ev.Preference] = append(byPref[ev.Preference], ev.Host)
		}
		famOf[ev.Host] = f
	}
	var out []prefFamilies
	for _, pref := range slices.Sorted(maps.Keys(byPref)) {
		pf := prefFamilies{pref: pref}
		for _, h := range byPref[pref] {
			f := famOf[h]
			if f.v6 {
				pf.with6 = append(pf.with6, h)
			} else {
				pf.without6 = append(pf.without6, h)
			}
			if f.v4 {
				pf.with4 = append(pf.with4, h)
			} else {
				pf.without4 = append(pf.without4, h)
			}
		}
		if len(pf.with6) > 0 && len(pf.without6) > 0 {
			pf.without6 = d.knownWithout(&pf, pf.without6, dns.TypeAAAA)
		}
		if len(pf.with4) > 0 && len(pf.without4) > 0 {
			pf.without4 = d.knownWithout(&pf, pf.without4, dns.TypeA)
		}
		out = append(out, pf)
	}
	return out
}

// knownWithout returns the hosts that DNS says have no records of qtype,
// and adds to pf.failed those whose lookup fails. It asks the run's
// resolver again: with the run's Cache (the default) that is the answer
// Route saw; with --no-cache, the answer now.
func (d *linted) knownWithout(pf *prefFamilies, hosts []string, qtype uint16) []string {
	var out []string
	for _, h := range hosts {
		name := dns.Fqdn(h)
		msg, err := d.run.resolver.Resolve(d.ctx, name, qtype)
		detail := ""
		switch {
		case err != nil:
			detail = err.Error()
		case msg.Rcode != dns.RcodeSuccess && msg.Rcode != dns.RcodeNameError:
			detail = dns.RcodeToString[msg.Rcode]
		default:
			out = append(out, h)
			continue
		}
		pf.failed = append(pf.failed, failedLookup{host: h, name: name, qtype: qtype, detail: detail})
	}
	return out
}

// sameOrganization reports whether host is at or below domain or below
// domain's parent (mx.example.com for shop.example.com), unless that parent
// is a top-level domain. Without the public suffix list this is a guess,
// good enough to tell "the domain's own host" from "someone else's".
func sameOrganization(domain, host string) bool {
	parent := domain
	if off, end := dns.NextLabel(domain, 0); !end && dns.CountLabel(domain) > 2 {
		parent = domain[off:]
	}
	return dns.IsSubDomain(dns.Fqdn(parent), dns.Fqdn(host))
}

// serverView is what one server answers for the domain's MX.
type serverView struct {
	server string
	// class is what is compared: "no answer", the rcode name ("SERVFAIL",
	// "NXDOMAIN"), "no MX records" or the sorted MX set. answer is class
	// with the detail for the message: the error of "no answer" names the
	// server and an ephemeral port, which must not count as a difference.
	class    string
	answer   string
	answered bool // the server sent a response, whatever its rcode
	found    bool
	auth     bool
	ttl      uint32
}

// anyAnswered reports whether some server sent a response.
func anyAnswered(views []serverView) bool {
	return slices.ContainsFunc(views, func(v serverView) bool { return v.answered })
}

// lintServers asks each --server for the domain's MX RRset, through the
// Resolver, and describes the answer in a comparable form. domain is in the
// form Route asks DNS for it (A-labels, lower case).
func lintServers(ctx context.Context, cfg *lintRun, domain string) []serverView {
	if len(cfg.servers) < 2 {
		return nil
	}
	name := dns.Fqdn(domain)
	views := make([]serverView, len(cfg.resolvers))
	for i, res := range cfg.resolvers {
		v := serverView{server: cfg.servers[i]}
		msg, err := res.Resolve(ctx, name, dns.TypeMX)
		switch {
		case err != nil:
			v.class = "no answer"
			v.answer = "no answer (" + err.Error() + ")"
		case msg.Rcode != dns.RcodeSuccess:
			v.answered = true
			v.class = dns.RcodeToString[msg.Rcode]
			if v.class == "" {
				v.class = fmt.Sprintf("rcode %d", msg.Rcode)
			}
			v.answer = v.class
		default:
			v.answered = true
			var mx []string
			for _, rr := range msg.Answer {
				if m, ok := rr.(*dns.MX); ok {
					mx = append(mx, fmt.Sprintf("%d %s", m.Preference, strings.ToLower(dns.Fqdn(m.Mx))))
					if !v.found || m.Hdr.Ttl < v.ttl {
						v.ttl = m.Hdr.Ttl
					}
					v.found = true
				}
			}
			slices.Sort(mx)
			v.auth = msg.Authoritative
			if len(mx) == 0 {
				v.class = "no MX records"
			} else {
				v.class = strings.Join(mx, ", ")
			}
			v.answer = v.class
		}
		views[i] = v
	}
	return views
}
