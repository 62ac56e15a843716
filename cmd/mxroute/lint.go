package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
)

// severity of a finding.
type severity int

const (
	// info is worth knowing but no fault: it leaves the exit status alone.
	info severity = iota + 1
	warning
	errorSev
)

func (s severity) String() string {
	switch s {
	case errorSev:
		return "error"
	case info:
		return "info"
	}
	return "warning"
}

// A check is one thing lint looks for.
type check struct {
	id       string
	severity severity
	rule     string // the RFC or the documented problem it rests on
	what     string
}

// The checks, in the order they are reported. README's lint section and
// "mxroute lint -h" list them from here.
var (
	checkRouteFailed = check{"route-failed", errorSev, "RFC 5321, Section 5.1", "senders defer or bounce (null MX excepted)"}
	checkMXCNAME     = check{"mx-cname", errorSev, "RFC 2181, Section 10.3; RFC 5321, Section 5.1", "an MX target is an alias (CNAME)"}
	checkMXIP        = check{"mx-ip-literal", errorSev, "RFC 5321, Section 5.1", "an MX target is an IP address"}
	checkMXNoAddr    = check{"mx-no-address", errorSev, "RFC 5321, Section 5.1", "an MX host has no A or AAAA records"}
	checkMXExternal  = check{"mx-external-unresolved", errorSev, "RFC 5321, Section 5.1", "an MX host in another domain has no address"}
	checkMXLookup    = check{"mx-lookup-failed", warning, "RFC 5321, Section 5.1", "an MX host lookup fails temporarily"}
	checkNullMixed   = check{"null-mx-mixed", errorSev, "RFC 7505, Section 3", "a null MX next to other MX records"}
	checkNullPref    = check{"null-mx-preference", warning, "RFC 7505, Section 3", "a null MX with a preference other than 0"}
	checkImplicit    = check{"implicit-mx", warning, "RFC 5321, Section 5.1", "no MX: mail relies on the A/AAAA fallback"}
	checkDuplicate   = check{"mx-duplicate", warning, "RFC 5321, Section 5.1", "an MX target listed more than once"}
	checkFamily      = check{"mx-family-mismatch", warning, "RFC 5321, Section 5.1; RFC 6724", "equal-preference hosts differ in families"}
	checkTTLShort    = check{"mx-ttl-short", warning, "RFC 1912, Section 2.2", "published MX TTL below --min-ttl"}
	checkTTLLong     = check{"mx-ttl-long", warning, "RFC 1912, Section 2.2", "published MX TTL above --max-ttl"}
	// Info: the TTL is not known (only a cache answered), which is no
	// fault of the domain.
	checkTTLUnchecked = check{"mx-ttl-unchecked", info, "RFC 1035, Section 3.2.1", "MX TTL unknown: only a cache answered"}
	checkServersMX    = check{"servers-disagree", warning, "RFC 1034, Section 4.3.5", "the --server answers differ in MX set"}
	checkServersTTL   = check{"servers-disagree-ttl", warning, "RFC 1034, Section 4.3.5", "authoritative --server answers differ in TTL"}
	// Info, not a warning: an unsigned domain is the common case and
	// delivers fine; it only means a DANE sender has no TLSA to use.
	checkNotAuth = check{"mx-not-authenticated", info, "RFC 7672, Section 2.2", "--dnssec: MX or host addresses lack AD"}
	allChecks    = []check{checkRouteFailed, checkMXCNAME, checkMXIP, checkMXNoAddr, checkMXExternal, checkMXLookup, checkNullMixed, checkNullPref, checkImplicit, checkDuplicate, checkFamily, checkTTLShort, checkTTLLong, checkTTLUnchecked, checkServersMX, checkServersTTL, checkNotAuth}
)

func lintHelp() string {
	var b strings.Builder
	for _, c := range allChecks {
		fmt.Fprintf(&b, "  %-8s %-23s %s\n", c.severity, c.id, c.what)
	}
	return b.String()
}

// A finding is one problem found in one domain.
type finding struct {
	check   check
	host    string
	message string
}

// lintResult is one domain's findings, or why it could not be linted.
type lintResult struct {
	domain   string
	findings []finding
}

var cmdLint = &command{
	name:  "lint",
	args:  "[flags] DOMAIN...",
	short: "check each domain's MX setup; exit 0 clean, 1 warnings, 2 errors",
	long: `Check each domain's MX setup. With several --server, compare what they answer.
The TTL checks judge the MX TTL the zone publishes: from a zone file, from an
authoritative answer, or asked of the zone's name servers (RD=0); a cache's
count-down is never judged.

Checks (severity, check, what):
` + lintHelp() + `
Exit status: 0 nothing found (or info only), 1 warnings only, 2 some error,
64 usage error, 66 unreadable zone or --from file.
`,
	flags: lintFlags,
}

// lintRun is one run of lint: the shared flags and lint's own, the TTL
// bounds and where the published TTL is asked.
type lintRun struct {
	sharedFlags
	minTTL, maxTTL time.Duration
	authPort       int      // the port of the zone's authoritative servers (53)
	authFlags      listFlag // --auth-server as given
	authServers    []string // --auth-server as host:port: asked instead of the zone's NS
}

func lintFlags(fs *flag.FlagSet) runner {
	l := &lintRun{}
	l.sharedFlags.define(fs)
	fs.DurationVar(&l.minTTL, "min-ttl", 5*time.Minute, "warn when the MX RRset's TTL is below this")
	fs.DurationVar(&l.maxTTL, "max-ttl", 7*24*time.Hour, "warn when the MX RRset's TTL is above this")
	fs.Var(&l.authFlags, "auth-server", "ask this authoritative server, `host:port`, for the published MX TTL\ninstead of the zone's name servers (a hidden primary; repeatable)")
	fs.IntVar(&l.authPort, "auth-port", 53, "the port of the zone's authoritative servers, asked for the MX TTL\n(another port only for test servers)")
	return l
}

// check validates lint's flags, then the shared ones.
func (l *lintRun) check(args []string, e *env) error {
	if l.minTTL < 0 || l.maxTTL < l.minTTL {
		return &usageError{"--min-ttl must not be negative nor above --max-ttl"}
	}
	if l.authPort < 1 || l.authPort > 65535 {
		return &usageError{fmt.Sprintf("--auth-port %d: want a number in 1..65535", l.authPort)}
	}
	for _, srv := range l.authFlags {
		addr, err := serverAddr(srv)
		if err != nil {
			return &usageError{"--auth-" + strings.TrimPrefix(err.Error(), "--")}
		}
		l.authServers = append(l.authServers, addr)
	}
	return l.sharedFlags.check(args, e)
}

// newRouter returns the Router lint routes a domain with: a default sender's,
// with a fixed seed, so that findings that name hosts of equal preference
// name them in the same order at every run.
func (l *lintRun) newRouter() *mxroute.Router {
	return &mxroute.Router{Resolver: l.resolver, Rand: rand.New(rand.NewPCG(0, 0))}
}

// run lints every domain, writes its findings in input order and a count,
// and exits 2 on any error, 1 on warnings only, else 0.
func (l *lintRun) run(ctx context.Context, e *env) int {
	prog := l.newProgress(e)
	var errs, warns, infos, domains int
	forEach(ctx, l.domains, l.workers, l.lintOne, func(i int, query string, res lintResult) {
		domains++
		for _, f := range res.findings {
			switch f.check.severity {
			case errorSev:
				errs++
			case warning:
				warns++
			default:
				infos++
			}
		}
		prog.clear()
		if l.json {
			writeJSON(e.stdout, jsonLintOf(query, res))
		} else {
			printLint(e.stdout, query, res)
		}
		prog.step(i + 1)
	})
	if !l.json {
		prog.clear()
		notes := ""
		if infos > 0 { // a run without info findings reads as before they existed
			notes = fmt.Sprintf(", %d info", infos)
		}
		fmt.Fprintf(e.stdout, "%s, %s%s in %s\n", plural(errs, "error"), plural(warns, "warning"), notes, plural(domains, "domain"))
	}
	switch {
	case errs > 0:
		return exitLintError
	case warns > 0:
		return exitLintWarn
	}
	return exitOK
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

func printLint(w io.Writer, query string, res lintResult) {
	if len(res.findings) == 0 {
		fmt.Fprintf(w, "%s: ok\n", label(query))
		return
	}
	for _, f := range res.findings {
		fmt.Fprintf(w, "%s: %s: %s: %s\n", label(query), f.check.severity, f.check.id, esc(f.message))
	}
}

// lintOne checks one domain: the MX answer of every server, then a route
// through the library, whose trace says what a sender meets.
func (l *lintRun) lintOne(ctx context.Context, query string) lintResult {
	cfg := l
	domain, _ := domainOf(query)
	ctx, cancel := context.WithTimeout(ctx, cfg.timeout)
	defer cancel()
	res := lintResult{domain: domain}
	add := func(c check, host, format string, a ...any) {
		res.findings = append(res.findings, finding{check: c, host: host, message: fmt.Sprintf(format, a...)})
	}

	route := routeTraced(ctx, cfg.newRouter(), domain)
	rt, err, events := route.rt, route.err, route.events

	if err != nil && !errors.Is(err, mxroute.ErrNullMX) {
		verdict, _ := verdictOf(err)
		add(checkRouteFailed, "", "senders %s: %v", verdict, err)
	}
	if errors.Is(err, mxroute.ErrBadDomain) {
		return res
	}
	canonical := mxroute.NormalizeHost(domain)
	if rt != nil {
		canonical = rt.Canonical
	}

	var mxTTL uint32
	var haveMX bool
	type fams struct{ v6, v4 bool }
	addrsByPref := map[uint16][]string{}
	famOf := map[string]fams{}
	cnamed := map[string]bool{}
	implicitHost := "" // the domain itself, when it has no MX
	for _, ev := range events {
		switch ev.Step {
		case mxroute.StepMX:
			mxTTL, haveMX = ev.TTL, true
		case mxroute.StepImplicitMX:
			implicitHost = ev.Host
			if errors.Is(err, mxroute.ErrNoMailHost) {
				continue // no fallback either: route-failed says it
			}
			add(checkImplicit, ev.Host, "no MX records: senders fall back to the A/AAAA records of %s (publish an MX, or a null MX if the domain takes no mail)", ev.Host)
		case mxroute.StepNullMX:
			if ev.Preference != 0 {
				add(checkNullPref, "", "null MX with preference %d: RFC 7505 publishes it as \"MX 0 .\"", ev.Preference)
			}
		case mxroute.StepNullMXIgnored:
			add(checkNullMixed, "", "null MX (preference %d) published with other MX records: it must stand alone; senders ignore it", ev.Preference)
		case mxroute.StepIPTarget:
			add(checkMXIP, ev.Host, "MX %d %s names an IP address: standard senders never use it", ev.Preference, ev.Host)
		case mxroute.StepDuplicate:
			add(checkDuplicate, ev.Host, "%s is listed %d times; senders use it once, at preference %d", ev.Host, ev.Count, ev.Preference)
		case mxroute.StepCNAME:
			if ev.Host != "" && !cnamed[ev.Host] {
				cnamed[ev.Host] = true
				add(checkMXCNAME, ev.Host, "MX %d %s is a CNAME for %s: publish the canonical name in the MX record", ev.Preference, ev.Host, ev.Target)
			}
		case mxroute.StepAddrs:
			var f fams
			for _, a := range ev.Addrs {
				if a.Is4() || a.Is4In6() {
					f.v4 = true
				} else {
					f.v6 = true
				}
			}
			if _, seen := famOf[ev.Host]; !seen {
				addrsByPref[ev.Preference] = append(addrsByPref[ev.Preference], ev.Host)
			}
			famOf[ev.Host] = f
		case mxroute.StepUnusable:
			var me *mxroute.Error
			if !errors.As(ev.Err, &me) {
				continue // the library's hosts always carry an *Error
			}
			switch {
			case implicitHost != "" && ev.Host == implicitHost,
				rt != nil && rt.Implicit || rt == nil && errors.Is(err, mxroute.ErrNoMailHost):
				// The domain itself (implicit MX), whatever made it
				// unusable: there is no MX record to blame, and
				// route-failed says why the route failed.
				continue
			case me.Temporary:
				// A temporary failure is a warning wherever the host is:
				// senders retry, and the other hosts still take mail.
				add(checkMXLookup, ev.Host, "MX %d %s: %s", ev.Preference, ev.Host, me.Detail)
			case !sameOrganization(canonical, ev.Host):
				add(checkMXExternal, ev.Host, "MX %d %s is outside %s and has no address: %s", ev.Preference, ev.Host, canonical, me.Detail)
			default:
				add(checkMXNoAddr, ev.Host, "MX %d %s: %s", ev.Preference, ev.Host, me.Detail)
			}
		}
	}
	for _, pref := range slices.Sorted(maps.Keys(addrsByPref)) {
		hosts := addrsByPref[pref]
		var with6, without6, with4, without4 []string
		for _, h := range hosts {
			f := famOf[h]
			if f.v6 {
				with6 = append(with6, h)
			} else {
				without6 = append(without6, h)
			}
			if f.v4 {
				with4 = append(with4, h)
			} else {
				without4 = append(without4, h)
			}
		}
		// A host is "without" a family only when DNS said so: one whose
		// lookup for that family failed may well have it (StepAddrs lists
		// only what was found). Its failed lookup is reported instead.
		if len(with6) > 0 && len(without6) > 0 {
			without6 = knownWithout(ctx, cfg.resolver, pref, without6, dns.TypeAAAA, add)
		}
		if len(with4) > 0 && len(without4) > 0 {
			without4 = knownWithout(ctx, cfg.resolver, pref, without4, dns.TypeA, add)
		}
		if len(with6) > 0 && len(without6) > 0 {
			add(checkFamily, "", "at preference %d, %s %s AAAA records and %s %s none: IPv6 senders reach only some of them",
				pref, strings.Join(with6, ", "), have(with6), strings.Join(without6, ", "), have(without6))
		}
		if len(with4) > 0 && len(without4) > 0 {
			add(checkFamily, "", "at preference %d, %s %s A records and %s %s none: IPv4-only senders reach only some of them",
				pref, strings.Join(with4, ", "), have(with4), strings.Join(without4, ", "), have(without4))
		}
	}

	if cfg.dnssec && rt != nil && !isLiteral(rt.Domain) { // a literal has no DNS to authenticate
		lintAuthentic(rt, add)
	}

	name := mxroute.NormalizeHost(domain) // as Route asked DNS for it
	if rt != nil {
		name = rt.Domain
	}
	servers := lintServers(ctx, cfg, name)
	if haveMX {
		owner := name // the MX RRset's owner: the end of the domain's CNAME chain
		for _, ev := range events {
			if ev.Step == mxroute.StepCNAME && ev.Host == "" {
				owner = ev.Target
			}
		}
		src := publishedTTL(ctx, cfg, owner, mxTTL, servers)
		ttl := time.Duration(src.ttl) * time.Second
		switch {
		case !src.ok:
			add(checkTTLUnchecked, "", "MX TTL not checked: %s", src.why)
		case ttl < cfg.minTTL:
			add(checkTTLShort, "", "MX TTL %s is below %s: every sender asks again that often, and a DNS outage hits mail at once", ttl, cfg.minTTL)
		case ttl > cfg.maxTTL:
			add(checkTTLLong, "", "MX TTL %s is above %s: an MX change takes that long to reach every sender", ttl, cfg.maxTTL)
		}
	}
	if len(servers) > 1 {
		compareServers(servers, func(c check, format string, a ...any) { add(c, "", format, a...) })
	}
	return res
}

// knownWithout returns the hosts that DNS says have no records of qtype,
// and reports as mx-lookup-failed those whose lookup fails. It asks the
// run's resolver again: with the run's Cache (the default) that is the
// answer Route saw; with --no-cache, the answer now.
func knownWithout(ctx context.Context, res mxroute.Resolver, pref uint16, hosts []string, qtype uint16, add func(check, string, string, ...any)) []string {
	var out []string
	for _, h := range hosts {
		name := dns.Fqdn(h)
		msg, err := res.Resolve(ctx, name, qtype)
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
		add(checkMXLookup, h, "MX %d %s: %s lookup for %s: %s (only its other addresses are used)", pref, h, dns.TypeToString[qtype], name, detail)
	}
	return out
}

// lintAuthentic reports what of a route was not DNSSEC-authenticated.
// RFC 7672, Section 2.2 (paraphrased): a sender applies DANE to an MX host
// only when the MX RRset (Section 2.2.1) and the host's address records
// (Section 2.2.2) were validated as secure; otherwise it delivers without
// DANE. A domain with nothing authenticated gets one finding, not one per
// host; unusable hosts are left to the other checks.
func lintAuthentic(rt *mxroute.Route, add func(check, string, string, ...any)) {
	var usable int
	var unauth []mxroute.Host
	for _, h := range rt.Hosts {
		if h.Err != nil {
			continue
		}
		usable++
		if !h.Authentic {
			unauth = append(unauth, h)
		}
	}
	what := "the MX RRset"
	if rt.Implicit {
		what = "the answer that there is no MX (implicit MX)"
	}
	if !rt.Authentic && len(unauth) == usable {
		add(checkNotAuth, "", "neither %s nor the addresses of any mail host are DNSSEC-authenticated (no AD from the resolver): DANE cannot apply (unsigned domain?)", what)
		return
	}
	if !rt.Authentic {
		add(checkNotAuth, "", "%s is not DNSSEC-authenticated (no AD from the resolver): DANE cannot apply to its hosts", what)
	}
	for _, h := range unauth {
		add(checkNotAuth, h.Name, "MX %d %s: addresses not DNSSEC-authenticated (no AD from the resolver): DANE cannot apply to this host", h.Preference, h.Name)
	}
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

func have(hosts []string) string {
	if len(hosts) == 1 {
		return "has"
	}
	return "have"
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

// compareServers reports servers that answer different MX sets, and
// authoritative answers with different TTLs. A caching resolver counts a
// TTL down, so only authoritative TTLs are compared. Servers that all fail
// to answer do not disagree: the route-failed or lookup findings say it.
func compareServers(views []serverView, add func(check, string, ...any)) {
	if !slices.ContainsFunc(views, func(v serverView) bool { return v.answered }) {
		return
	}
	first := views[0]
	for _, v := range views[1:] {
		if v.class != first.class {
			add(checkServersMX, "%s answers %q but %s answers %q", first.server, first.answer, v.server, v.answer)
		} else if first.found && first.auth && v.auth && v.ttl != first.ttl {
			add(checkServersTTL, "%s gives the MX RRset TTL %d but %s gives %d", first.server, first.ttl, v.server, v.ttl)
		}
	}
}
