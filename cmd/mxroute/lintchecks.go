package main

import (
	"errors"
	"fmt"
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

// A check is one thing lint (or probe) looks for: a row of "mxroute lint
// -h" and of the manual's table of checks (TestDocTables holds the manual
// to allChecks and probeChecks), and the function that looks.
type check struct {
	id       string // in every finding: "mx-cname"
	severity severity
	rule     string // the RFC or the documented problem it rests on
	what     string // its line in "mxroute lint -h"
	doc      string // the manual's "Finds" column, Markdown
	// find looks at a domain and files what it finds with report, under
	// this check: lint's checks (allChecks).
	find func(d *linted, report reportFunc)
	// probe looks at a probed domain: probe's checks (probeChecks,
	// probechecks.go).
	probe func(r *probeResult, report reportFunc)
}

// reportFunc files a finding about host ("" for the domain) at its place in
// the domain's report.
type reportFunc func(at place, host, format string, a ...any)

// place orders a domain's findings as a route meets what they are about:
// the route's outcome, its decisions in the order the Router made them
// (index: the decision's), each preference's address families (index: the
// preference's rank), the DNSSEC status, the MTA-STS record and policy
// (index 0, then 1 + a host's index in the route), the TLSA records (index:
// the host's), the TTL, the --server answers (index: the server's).
// Findings at one place keep allChecks' order.
type place struct{ stage, index int }

const (
	atOutcome = iota
	atDecision
	atFamilies
	atDNSSEC
	atTLS
	atTLSA
	atTTL
	atServers
)

// allChecks are the checks, in the order "mxroute lint -h" and the manual
// list them.
var allChecks = []check{
	{id: "route-failed", severity: errorSev, rule: "RFC 5321, Section 5.1",
		what: "senders defer or bounce (null MX excepted)",
		doc:  "senders defer or bounce the domain (a null MX is a choice, not a failure)",
		find: findRouteFailed},
	{id: "mx-cname", severity: errorSev, rule: "RFC 2181, Section 10.3; RFC 5321, Section 5.1",
		what: "an MX target is an alias (CNAME)",
		doc:  "an MX target is an alias; senders may refuse it",
		find: findMXCNAME},
	{id: "mx-ip-literal", severity: errorSev, rule: "RFC 5321, Section 5.1",
		what: "an MX target is an IP address",
		doc:  "an MX target is an IP address; standard senders never use it",
		find: findMXIPLiteral},
	{id: "mx-no-address", severity: errorSev, rule: "RFC 5321, Section 5.1",
		what: "an MX host has no A or AAAA records",
		doc:  "an MX host of the domain (at or under it or its parent) has no A/AAAA records",
		find: findMXNoAddress},
	{id: "mx-external-unresolved", severity: errorSev, rule: "RFC 5321, Section 5.1",
		what: "an MX host in another domain has no address",
		doc:  "an MX host in another domain does not exist or has no A/AAAA records, a permanent answer (a provider the domain left?)",
		find: findMXExternal},
	{id: "mx-lookup-failed", severity: warning, rule: "RFC 5321, Section 5.1",
		what: "an MX host lookup fails temporarily",
		doc:  "an MX host's lookup fails temporarily (SERVFAIL, REFUSED, lame delegation, timeout), in the domain or outside it: senders retry, and the other hosts still take mail",
		find: findMXLookupFailed},
	{id: "null-mx-mixed", severity: errorSev, rule: "RFC 7505, Section 3",
		what: "a null MX next to other MX records",
		doc:  "a null MX published with other MX records (senders ignore the null MX)",
		find: findNullMXMixed},
	{id: "null-mx-preference", severity: warning, rule: "RFC 7505, Section 3",
		what: "a null MX with a preference other than 0",
		doc:  "a null MX with a preference other than 0",
		find: findNullMXPreference},
	{id: "implicit-mx", severity: warning, rule: "RFC 5321, Section 5.1",
		what: "no MX: mail relies on the A/AAAA fallback",
		doc:  "no MX: mail relies on the A/AAAA fallback (publish an MX, or a null MX)",
		find: findImplicitMX},
	{id: "mx-duplicate", severity: warning, rule: "RFC 5321, Section 5.1",
		what: "an MX target listed more than once",
		doc:  "the same target listed more than once",
		find: findMXDuplicate},
	{id: "mx-family-mismatch", severity: warning, rule: "RFC 5321, Section 5.1; RFC 6724",
		what: "equal-preference hosts differ in families",
		doc:  "hosts of equal preference differ in address families (one has AAAA, the other not); a host whose lookup for the family failed is reported by `mx-lookup-failed` instead, since whether it has that family is unknown",
		find: findFamilyMismatch},
	{id: "mx-ttl-short", severity: warning, rule: "RFC 1912, Section 2.2",
		what: "published MX TTL below --min-ttl",
		doc:  "the published MX TTL is below `--min-ttl`: a DNS outage hits mail at once",
		find: findTTLShort},
	{id: "mx-ttl-long", severity: warning, rule: "RFC 1912, Section 2.2",
		what: "published MX TTL above --max-ttl",
		doc:  "the published MX TTL is above `--max-ttl`: a change takes that long to reach senders",
		find: findTTLLong},
	// Info: the TTL is not known (only a cache answered), which is no
	// fault of the domain.
	{id: "mx-ttl-unchecked", severity: info, rule: "RFC 1035, Section 3.2.1",
		what: "MX TTL unknown: only a cache answered",
		doc:  "only a cache answered and no authoritative server of the zone gave the MX RRset: the TTL checks are left out (info: the domain may be fine)",
		find: findTTLUnchecked},
	{id: "servers-disagree", severity: warning, rule: "RFC 1034, Section 4.3.5",
		what: "the --server answers differ in MX set",
		doc:  "with several `--server`: different MX sets or rcodes, or some servers answer and others not (a migration still propagating?); servers that all fail to answer do not disagree (route-failed says it)",
		find: findServersDisagree},
	{id: "servers-disagree-ttl", severity: warning, rule: "RFC 1034, Section 4.3.5",
		what: "authoritative --server answers differ in TTL",
		doc:  "with several `--server`: authoritative answers with different MX TTLs (caches count TTLs down, so only authoritative answers are compared)",
		find: findServersDisagreeTTL},
	// Info, not a warning: an unsigned domain is the common case and
	// delivers fine; it only means a DANE sender has no TLSA to use.
	{id: "mx-not-authenticated", severity: info, rule: "RFC 7672, Section 2.2",
		what: "--dnssec: MX or host addresses lack AD",
		doc:  "with `--dnssec`: the MX RRset, or a usable host's addresses, came without the AD bit, so DANE cannot apply to them; one finding when nothing of the domain is authenticated. Info, not a warning: an unsigned domain is common and delivers fine (without DANE), so it leaves the exit status alone",
		find: findNotAuthenticated},
	{id: "sts-record-invalid", severity: errorSev, rule: "RFC 8461, Section 3.1",
		what: "the _mta-sts TXT record is malformed",
		doc:  "the `_mta-sts` TXT record does not parse, there are several, or one meant as one does not begin with `v=STSv1;` and is discarded: senders see no MTA-STS policy",
		find: findSTSRecordInvalid},
	{id: "sts-policy-unavailable", severity: errorSev, rule: "RFC 8461, Section 3.3; RFC 8460, Section 4.3.2.2",
		what: "the MTA-STS policy cannot be fetched",
		doc:  "the `_mta-sts` record is valid but its policy cannot be had from `https://mta-sts.DOMAIN/.well-known/mta-sts.txt`, with the RFC 8460 result a sender reports (`sts-policy-fetch-error`, `sts-policy-invalid`, `sts-webpki-invalid`): senders apply no policy",
		find: findSTSPolicyUnavailable},
	{id: "sts-mx-mismatch", severity: errorSev, rule: "RFC 8461, Section 4.1",
		what: "an MX host the enforced policy excludes",
		doc:  "an MX host (usable, or excluded by the route with `--mta-sts`) matches no `mx` pattern of the policy in mode `enforce`: MTA-STS senders never use it, and when no MX matches they defer all mail (a policy left behind by a provider change?)",
		find: findSTSMXMismatch},
	{id: "sts-max-age-short", severity: warning, rule: "RFC 8461, Section 3.2",
		what: "the MTA-STS max_age is below a day",
		doc:  "the policy's `max_age` is below a day (mode `enforce` or `testing`): RFC 8461 expects weeks, and a policy that expires before a sender's daily refresh is not in its cache when an attacker blocks that refresh",
		find: findSTSMaxAgeShort},
	{id: "tlsa-unsigned", severity: warning, rule: "RFC 7672, Section 2.2",
		what: "TLSA records not DNSSEC-authenticated",
		doc:  "with `--dnssec` or `--dane`: a usable MX host has TLSA records, but the answer came without the AD bit (the zone is not signed, or its DS is missing): senders ignore them and DANE is silently off",
		find: findTLSAUnsigned},
	{id: "tlsa-unusable", severity: warning, rule: "RFC 7672, Section 3.1",
		what: "TLSA records all unusable for SMTP",
		doc:  "a usable MX host's TLSA records are all unusable for SMTP (PKIX-TA(0) and PKIX-EE(1) usages, unknown parameters, digests of the wrong length): DANE senders require TLS and authenticate nothing",
		find: findTLSAUnusable},
	// Info: reports are a help to the domain, not a condition of delivery.
	{id: "tlsrpt-missing", severity: info, rule: "RFC 8460, Section 3",
		what: "MTA-STS or DANE without a TLSRPT record",
		doc:  "the domain publishes MTA-STS, or an MX host TLSA records, but its policy domain has no `_smtp._tls` TXT record (for DANE the policy domain is the TLSA base domain, the MX host, RFC 8460 §1.1): senders whose sessions fail the policy report to no one. Info: mail flows without it",
		find: findTLSRPTMissing},
	{id: "tlsrpt-invalid", severity: warning, rule: "RFC 8460, Section 3",
		what: "the _smtp._tls TXT record is malformed",
		doc:  "a `_smtp._tls` TXT record (of the domain, or of a TLSA base domain) does not parse, there are several, or one meant as one does not begin with `v=TLSRPTv1;` and is discarded: senders send no TLS report",
		find: findTLSRPTInvalid},
}

// checksHelp is the list of checks in "mxroute lint -h" (and probe -h).
func checksHelp(checks []check) string {
	var b strings.Builder
	for _, c := range checks {
		fmt.Fprintf(&b, "  %-8s %-23s %s\n", c.severity, c.id, c.what)
	}
	return b.String()
}

// checksTable is the manual's table of checks, in Markdown. Its rules are
// written short: "RFC 2181 §10.3, RFC 5321 §5.1".
func checksTable(checks []check) string {
	var b strings.Builder
	b.WriteString("| Check | Severity | Rule | Finds |\n|-------|----------|------|-------|\n")
	short := strings.NewReplacer(", Section ", " §", ", Sections ", " §§", "; ", ", ")
	for _, c := range checks {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.id, c.severity, short.Replace(c.rule), c.doc)
	}
	return b.String()
}

func findRouteFailed(d *linted, report reportFunc) {
	if d.err != nil && !errors.Is(d.err, mxroute.ErrNullMX) {
		verdict, _ := verdictOf(d.err)
		report(place{atOutcome, 0}, "", "senders %s: %v", verdict, d.err)
	}
}

// findMXCNAME reports each MX target that is an alias, once.
func findMXCNAME(d *linted, report reportFunc) {
	seen := map[string]bool{}
	for i, ev := range d.decisions(mxroute.StepCNAME) {
		if ev.Host != "" && !seen[ev.Host] { // "": the domain's own CNAME
			seen[ev.Host] = true
			report(place{atDecision, i}, ev.Host, "MX %d %s is a CNAME for %s: publish the canonical name in the MX record", ev.Preference, ev.Host, ev.Target)
		}
	}
}

func findMXIPLiteral(d *linted, report reportFunc) {
	for i, ev := range d.decisions(mxroute.StepIPTarget) {
		report(place{atDecision, i}, ev.Host, "MX %d %s names an IP address: standard senders never use it", ev.Preference, ev.Host)
	}
}

// findMXNoAddress reports the domain's own MX hosts that permanently have no
// address.
func findMXNoAddress(d *linted, report reportFunc) {
	for i, u := range d.unusableMX() {
		if !u.err.Temporary && sameOrganization(d.canonical, u.Host) {
			report(place{atDecision, i}, u.Host, "MX %d %s: %s", u.Preference, u.Host, u.err.Detail)
		}
	}
}

// findMXExternal reports MX hosts of another domain that permanently have
// no address.
func findMXExternal(d *linted, report reportFunc) {
	for i, u := range d.unusableMX() {
		if !u.err.Temporary && !sameOrganization(d.canonical, u.Host) {
			report(place{atDecision, i}, u.Host, "MX %d %s is outside %s and has no address: %s", u.Preference, u.Host, d.canonical, u.err.Detail)
		}
	}
}

// findMXLookupFailed reports the MX hosts the route found unusable for a
// temporary failure, wherever they are (senders retry, and the other hosts
// still take mail), and the family lookups that failed for a host of a
// preference whose families differ.
func findMXLookupFailed(d *linted, report reportFunc) {
	for i, u := range d.unusableMX() {
		if u.err.Temporary {
			report(place{atDecision, i}, u.Host, "MX %d %s: %s", u.Preference, u.Host, u.err.Detail)
		}
	}
	for i, pf := range d.families() {
		for _, f := range pf.failed {
			report(place{atFamilies, i}, f.host, "MX %d %s: %s lookup for %s: %s (only its other addresses are used)",
				pf.pref, f.host, dns.TypeToString[f.qtype], f.host, f.detail)
		}
	}
}

func findNullMXMixed(d *linted, report reportFunc) {
	for i, ev := range d.decisions(mxroute.StepNullMXIgnored) {
		report(place{atDecision, i}, "", "null MX (preference %d) published with other MX records: it must stand alone; senders ignore it", ev.Preference)
	}
}

func findNullMXPreference(d *linted, report reportFunc) {
	for i, ev := range d.decisions(mxroute.StepNullMX) {
		if ev.Preference != 0 {
			report(place{atDecision, i}, "", "null MX with preference %d: RFC 7505 publishes it as \"MX 0 .\"", ev.Preference)
		}
	}
}

// findImplicitMX reports a domain without MX records whose mail goes to its
// A/AAAA records; one without those either has no fallback: route-failed
// says it.
func findImplicitMX(d *linted, report reportFunc) {
	if errors.Is(d.err, mxroute.ErrNoMailHost) {
		return
	}
	for i, ev := range d.decisions(mxroute.StepImplicitMX) {
		report(place{atDecision, i}, ev.Host, "no MX records: senders fall back to the A/AAAA records of %s (publish an MX, or a null MX if the domain takes no mail)", ev.Host)
	}
}

func findMXDuplicate(d *linted, report reportFunc) {
	for i, ev := range d.decisions(mxroute.StepDuplicate) {
		report(place{atDecision, i}, ev.Host, "%s is listed %d times; senders use it once, at preference %d", ev.Host, ev.Count, ev.Preference)
	}
}

// findFamilyMismatch reports preferences whose hosts differ in address
// families, as DNS says: a host whose lookup for the family failed is not
// counted without it (findMXLookupFailed reports the lookup).
func findFamilyMismatch(d *linted, report reportFunc) {
	for i, pf := range d.families() {
		if len(pf.with6) > 0 && len(pf.without6) > 0 {
			report(place{atFamilies, i}, "", "at preference %d, %s %s AAAA records and %s %s none: IPv6 senders reach only some of them",
				pf.pref, strings.Join(pf.with6, ", "), have(pf.with6), strings.Join(pf.without6, ", "), have(pf.without6))
		}
		if len(pf.with4) > 0 && len(pf.without4) > 0 {
			report(place{atFamilies, i}, "", "at preference %d, %s %s A records and %s %s none: IPv4-only senders reach only some of them",
				pf.pref, strings.Join(pf.with4, ", "), have(pf.with4), strings.Join(pf.without4, ", "), have(pf.without4))
		}
	}
}

func have(hosts []string) string {
	if len(hosts) == 1 {
		return "has"
	}
	return "have"
}

// publishedTTLOf returns the MX TTL as the zone publishes it, as a
// duration, when the domain has MX records and the TTL is known.
func publishedTTLOf(d *linted) (time.Duration, bool) {
	if !d.haveMX {
		return 0, false
	}
	src := d.ttl()
	return time.Duration(src.ttl) * time.Second, src.ok
}

func findTTLShort(d *linted, report reportFunc) {
	if ttl, ok := publishedTTLOf(d); ok && ttl < d.run.minTTL {
		report(place{atTTL, 0}, "", "MX TTL %s is below %s: every sender asks again that often, and a DNS outage hits mail at once", ttl, d.run.minTTL)
	}
}

func findTTLLong(d *linted, report reportFunc) {
	if ttl, ok := publishedTTLOf(d); ok && ttl > d.run.maxTTL {
		report(place{atTTL, 0}, "", "MX TTL %s is above %s: an MX change takes that long to reach every sender", ttl, d.run.maxTTL)
	}
}

func findTTLUnchecked(d *linted, report reportFunc) {
	if d.haveMX && !d.ttl().ok {
		report(place{atTTL, 0}, "", "MX TTL not checked: %s", d.ttl().why)
	}
}

// findServersDisagree reports servers that answer another MX set (or rcode,
// or nothing) than the first. Servers that all fail to answer do not
// disagree: the route-failed or lookup findings say it.
func findServersDisagree(d *linted, report reportFunc) {
	views := d.serverViews()
	if !anyAnswered(views) {
		return
	}
	first := views[0]
	for i, v := range views[1:] {
		if v.class != first.class {
			report(place{atServers, i}, "", "%s answers %q but %s answers %q", first.server, first.answer, v.server, v.answer)
		}
	}
}

// findServersDisagreeTTL reports authoritative answers of the same MX set
// with different TTLs. A caching resolver counts a TTL down, so only
// authoritative TTLs are compared.
func findServersDisagreeTTL(d *linted, report reportFunc) {
	views := d.serverViews()
	if !anyAnswered(views) {
		return
	}
	first := views[0]
	for i, v := range views[1:] {
		if v.class == first.class && first.found && first.auth && v.auth && v.ttl != first.ttl {
			report(place{atServers, i}, "", "%s gives the MX RRset TTL %d but %s gives %d", first.server, first.ttl, v.server, v.ttl)
		}
	}
}

// findNotAuthenticated reports, with --dnssec, what of a route was not
// DNSSEC-authenticated. RFC 7672, Section 2.2 (paraphrased): a sender
// applies DANE to an MX host only when the MX RRset (Section 2.2.1) and the
// host's address records (Section 2.2.2) were validated as secure;
// otherwise it delivers without DANE. A domain with nothing authenticated
// gets one finding, not one per host; unusable hosts are left to the other
// checks, and an address literal has no DNS to authenticate.
func findNotAuthenticated(d *linted, report reportFunc) {
	rt := d.rt
	if !d.run.dnssec || rt == nil || isLiteral(rt.Domain) {
		return
	}
	at := place{atDNSSEC, 0}
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
		report(at, "", "neither %s nor the addresses of any mail host are DNSSEC-authenticated (no AD from the resolver): DANE cannot apply (unsigned domain?)", what)
		return
	}
	if !rt.Authentic {
		report(at, "", "%s is not DNSSEC-authenticated (no AD from the resolver): DANE cannot apply to its hosts", what)
	}
	for _, h := range unauth {
		report(at, h.Name, "MX %d %s: addresses not DNSSEC-authenticated (no AD from the resolver): DANE cannot apply to this host", h.Preference, h.Name)
	}
}
