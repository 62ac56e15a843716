package main

import (
	"cmp"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/dane"
)

// probe's checks: a table like lint's (check, lintchecks.go), whose rows
// look at a probed domain (probe) instead of a linted one, and whose
// findings are written as lint's. The manual's table of probe's checks is
// written from it (TestDocTables).

// The places of probe's findings, in the order of the output: the route's
// outcome (index: the host's, for the hosts it did not probe), each address
// (index: its place in the route), the families, each preference (index:
// its rank).
const (
	atProbeRoute = iota
	atProbeAddr
	atProbeFamily
	atProbeTie
)

// probeChecks are probe's checks, in the order "mxroute probe -h" and the
// manual list them.
var probeChecks = []check{
	{id: "route-failed", severity: errorSev, rule: "RFC 5321, Section 5.1",
		what:  "senders defer or bounce: no route or session",
		doc:   "senders defer or bounce the domain: its route fails (a null MX is a choice, not a failure), or no address of it gets through to a session as the Dialer needs it (greeting, EHLO, the TLS its policy requires): senders defer every message",
		probe: findProbeRouteFailed},
	{id: "addr-timeout", severity: errorSev, rule: "RFC 5321, Section 4.5.3.2",
		what:  "an address does not answer the connect",
		doc:   "an address neither accepts nor refuses the connect within `--probe-timeout` (a firewall drops the SYN?): every sender waits out its connect timeout there (Postfix: 30 s) before the next address, holding a delivery slot",
		probe: findAddrTimeout},
	{id: "addr-refused", severity: warning, rule: "RFC 5321, Section 5.1",
		what:  "an address refuses the connect",
		doc:   "an address refuses the connect (nothing listens on the port), is unreachable, or resets it: senders move on to the next address at once, but the address is published for nothing",
		probe: findAddrRefused},
	{id: "family-broken", severity: errorSev, rule: "RFC 6724, Section 2; RFC 8305, Section 1",
		what:  "one family's addresses all fail",
		doc:   "every address of one family (IPv6 or IPv4) fails to connect while an address of the other connects: senders of that family (IPv6 first, RFC 6724) meet the failure at every message, a timeout's wait each time (a published AAAA with a broken path?)",
		probe: findFamilyBroken},
	{id: "greeting-error", severity: errorSev, rule: "RFC 5321, Sections 3.1 and 4.2",
		what:  "no 220 greeting, or EHLO refused",
		doc:   "connected, but the session fails before TLS: a 4xx or 5xx greeting (a 554 greeter), none within `--probe-timeout` (a silent server), a malformed or oversized one, a drop, or EHLO refused or unanswered: senders move on to the next host (Postfix's `smtp_skip_5xx_greeting`)",
		probe: findGreetingError},
	{id: "banner-name-mismatch", severity: warning, rule: "RFC 5321, Section 4.2",
		what:  "the greeting names neither host nor PTR",
		doc:   "the 220 greeting names a host (RFC 5321: `220 ` Domain) that is neither the MX host name nor a PTR name of the address, or none: what operators and receivers' checks compare",
		probe: findBannerName},
	{id: "no-starttls", severity: errorSev, rule: "RFC 3207, Section 4",
		what:  "STARTTLS not offered",
		doc:   "the EHLO reply offers no STARTTLS: mail to the host travels in plaintext, and where its policy (DANE, MTA-STS enforce) requires TLS, senders that apply it skip the host",
		probe: findNoStartTLS},
	{id: "tls-failed", severity: errorSev, rule: "RFC 3207, Section 4.1",
		what:  "STARTTLS refused, or the handshake fails",
		doc:   "STARTTLS is offered but refused (454), or the TLS handshake fails or stalls: senders whose policy requires TLS skip the host; the others retry in plaintext (Postfix's `may`) or defer",
		probe: findTLSFailed},
	{id: "cert-name-mismatch", severity: warning, rule: "RFC 8461, Section 4.2; RFC 6125, Section 6.4",
		what:  "the certificate does not name the MX host",
		doc:   "the server's certificate does not name the MX host (its DNS names, RFC 6125 matching): senders that check names (MTA-STS, DANE-TA) refuse it. Not judged where DANE applies: DANE-EE checks no names (RFC 7672 §3.1.1) and `dane-mismatch` says what DANE finds",
		probe: findCertName},
	{id: "cert-expired", severity: errorSev, rule: "RFC 5280, Section 4.1.2.5",
		what:  "a certificate is out of its validity",
		doc:   "a certificate the server presents has expired (or is not valid yet): every sender that verifies (MTA-STS, DANE-TA, PKIX) refuses it. Not judged where DANE applies, as above",
		probe: findCertExpired},
	{id: "cert-expiring", severity: warning, rule: "RFC 5280, Section 4.1.2.5",
		what:  "a certificate expires within --cert-days",
		doc:   "a certificate the server presents expires within `--cert-days` (default 14): renew it before senders refuse it",
		probe: findCertExpiring},
	{id: "dane-mismatch", severity: errorSev, rule: "RFC 7672, Section 3",
		what:  "the certificate fails the host's TLSA records",
		doc:   "the host has usable TLSA records (DANE applies) and the certificate it presents matches none of them, or fails the DANE-TA checks, with the RFC 8460 result a sender reports: DANE senders skip the host",
		probe: findDANEMismatch},
	{id: "sts-mx-mismatch", severity: errorSev, rule: "RFC 8461, Sections 4.1 and 4.2",
		what:  "the enforced MTA-STS policy rejects the host",
		doc:   "under the domain's MTA-STS policy in mode `enforce`, an MX host matches no `mx` pattern (not probed), or its certificate fails the policy's check (not trusted, not naming the host, expired), with the RFC 8460 result: MTA-STS senders skip the host",
		probe: findProbeSTSMismatch},
	{id: "ptr-missing", severity: warning, rule: "RFC 1912, Section 2.1",
		what:  "an address has no PTR record",
		doc:   "an address has no PTR record (NXDOMAIN or NODATA; a failed lookup is no finding): a mail host's address, which often sends too (bounces), is refused by receivers that check reverse DNS",
		probe: findPTRMissing},
	{id: "ptr-not-confirmed", severity: warning, rule: "RFC 1912, Section 2.1",
		what:  "no PTR name resolves back to the address",
		doc:   "an address has PTR names, but none of them has the address among its A (AAAA) records: the reverse DNS is not forward-confirmed, and receivers that check it (Postfix's `reject_unknown_client_hostname`) take it for none",
		probe: findPTRNotConfirmed},
	{id: "rcpt-accepts-unknown", severity: warning, rule: "RFC 5321, Section 6.1",
		what:  "--rcpt: a host takes the unknown recipient",
		doc:   "with `--rcpt` (an address that does not exist): a host answers RCPT TO with 2xx. Having taken the message it must bounce it later, to a sender address that is often forged: backscatter. Most often a backup MX that cannot check recipients, while the primary rejects them",
		probe: findRcptAcceptsUnknown},
	{id: "tie-asymmetry", severity: warning, rule: "RFC 5321, Section 5.1",
		what:  "equal-preference hosts differ",
		doc:   "hosts of equal preference differ in their banner (the software behind it), TLS (offered, version), certificate issuer or extensions (SIZE, PIPELINING, 8BITMIME, SMTPUTF8, REQUIRETLS): senders share the mail between them at random, so a message meets either; equal preference, unequal ends",
		probe: findTieAsymmetry},
}

// runProbeChecks runs every check of probeChecks on a probed domain and
// returns the findings in the order of what they are about.
func runProbeChecks(r *probeResult) []finding {
	var out []finding
	for i := range probeChecks {
		c := &probeChecks[i]
		c.probe(r, func(at place, host, format string, a ...any) {
			out = append(out, finding{check: c, host: host, message: fmt.Sprintf(format, a...), at: at})
		})
	}
	slices.SortStableFunc(out, func(a, b finding) int {
		return cmp.Or(cmp.Compare(a.at.stage, b.at.stage), cmp.Compare(a.at.index, b.at.index))
	})
	return out
}

// label names an address in findings: "MX 10 mx.example.com [192.0.2.1]".
func (a *addrProbe) label() string {
	return fmt.Sprintf("MX %d %s [%s]", a.target.Preference, a.target.Host, a.target.Addr)
}

// connected reports whether the address took the connect.
func (a *addrProbe) connected() bool { return a.notDialled == "" && a.connectFail == "" }

// offered reports whether the EHLO reply offers STARTTLS.
func (a *addrProbe) offered() bool { return a.ehlo.code/100 == 2 && a.ehlo.has("STARTTLS") }

// reachedTLS reports whether the first connection got as far as STARTTLS:
// a 220 greeting, EHLO (or HELO after it) answered, no failure before.
func (a *addrProbe) reachedTLS() bool {
	return a.greeting.code == 220 && a.ehlo.code != 0 && a.fail == nil
}

// daneApplies reports whether the host's policy is DANE with usable
// records: the certificate is DANE's to judge.
func (a *addrProbe) daneApplies() bool {
	p := a.target.TLS
	return p != nil && p.Mode == mxroute.TLSDANE && p.DANE != nil && p.DANE.Mode() != dane.ModeEncrypt
}

// certFailure reports whether an RFC 8460 result is the certificate's
// (the handshake finished, the check failed).
func certFailure(a *addrProbe) bool { return a.tlsFail != "" && a.tlsState != nil }

// skipped says what a sender that applies the host's policy does when the
// host does not get the TLS it asks for.
func skipped(a *addrProbe) string {
	if a.target.TLS.Required() {
		return fmt.Sprintf("its %s policy requires TLS: senders that apply it skip this host", tlsModeText(a.target.TLS))
	}
	return ""
}

func findProbeRouteFailed(r *probeResult, report reportFunc) {
	if r.err != nil && !errors.Is(r.err, mxroute.ErrNullMX) {
		verdict, _ := verdictOf(r.err)
		report(place{atProbeRoute, 0}, "", "senders %s: %v", verdict, r.err)
		return
	}
	if len(r.addrs) == 0 || slices.ContainsFunc(r.addrs, func(a *addrProbe) bool { return a.session }) {
		return
	}
	report(place{atProbeRoute, 0}, "", "no address of the %d gets a session (greeting, EHLO and the TLS its policy requires): senders defer every message", len(r.addrs))
}

func findAddrTimeout(r *probeResult, report reportFunc) {
	for i, a := range r.addrs {
		if a.connectFail == "timeout" {
			report(place{atProbeAddr, i}, a.target.Host, "%s: no answer to the connect within %s (SYNs dropped?): every sender waits out its connect timeout here before the next address",
				a.label(), r.run.probeTimeout)
		}
	}
}

func findAddrRefused(r *probeResult, report reportFunc) {
	for i, a := range r.addrs {
		switch a.connectFail {
		case "refused":
			report(place{atProbeAddr, i}, a.target.Host, "%s: connection refused on port %d: senders move on at once, but the address is published for nothing", a.label(), a.port)
		case "unreachable", "reset":
			report(place{atProbeAddr, i}, a.target.Host, "%s: %s: %s", a.label(), a.connectFail, a.connectErr)
		}
	}
}

// findFamilyBroken reports a family whose every address fails to connect
// while an address of the other family connects.
func findFamilyBroken(r *probeResult, report reportFunc) {
	type fam struct {
		name         string
		total, fails int
		works        bool
		why          []string
	}
	fams := map[string]*fam{"IPv6": {name: "IPv6"}, "IPv4": {name: "IPv4"}}
	for _, a := range r.addrs {
		f := fams[family(a.target.Addr)]
		switch {
		case a.connected():
			f.total++
			f.works = true
		case a.connectFail != "" && a.connectFail != "cancelled":
			f.total++
			f.fails++
			if !slices.Contains(f.why, a.connectFail) {
				f.why = append(f.why, a.connectFail)
			}
		}
	}
	for _, pair := range [][2]string{{"IPv6", "IPv4"}, {"IPv4", "IPv6"}} {
		bad, good := fams[pair[0]], fams[pair[1]]
		if bad.total > 0 && bad.fails == bad.total && good.works {
			report(place{atProbeFamily, 0}, "", "%s: none of the %d %s address(es) connects (%s) while the %s ones do: %s senders meet the failure at every message",
				bad.name, bad.total, bad.name, strings.Join(bad.why, ", "), good.name, bad.name)
		}
	}
}

func findGreetingError(r *probeResult, report reportFunc) {
	for i, a := range r.addrs {
		if a.fail == nil || a.fail.stage == "--timeout" {
			continue
		}
		what := a.fail.detail
		if a.fail.failure == mxroute.FailGreetingTimeout {
			what = fmt.Sprintf("no complete greeting within %s", r.run.probeTimeout)
		}
		if !strings.Contains(strings.ToLower(what), strings.ToLower(a.fail.stage)) {
			what = a.fail.stage + ": " + what
		}
		report(place{atProbeAddr, i}, a.target.Host, "%s: %s: senders move on to the next host", a.label(), what)
	}
}

func findBannerName(r *probeResult, report reportFunc) {
	for i, a := range r.addrs {
		if a.greeting.code != 220 {
			continue
		}
		name := strings.ToLower(strings.TrimSuffix(a.greeting.name(), "."))
		if name == strings.ToLower(a.target.Host) || slices.Contains(a.ptr.names, name) ||
			name == "["+a.target.Addr.String()+"]" && isLiteral(a.target.Host) {
			continue
		}
		if name == "" {
			report(place{atProbeAddr, i}, a.target.Host, "%s: the greeting names no host: %q", a.label(), firstReplyLine(a.greeting))
			continue
		}
		ptr := "it has no PTR name"
		if len(a.ptr.names) > 0 {
			ptr = "nor its PTR name " + strings.Join(a.ptr.names, ", ")
		}
		report(place{atProbeAddr, i}, a.target.Host, "%s: greets as %s, not as the MX host name, %s", a.label(), name, ptr)
	}
}

func findNoStartTLS(r *probeResult, report reportFunc) {
	for i, a := range r.addrs {
		if !a.reachedTLS() || a.offered() {
			continue
		}
		msg := "offers no STARTTLS: mail to it travels in plaintext"
		if s := skipped(a); s != "" {
			msg += "; " + s
		}
		report(place{atProbeAddr, i}, a.target.Host, "%s: %s", a.label(), msg)
	}
}

func findTLSFailed(r *probeResult, report reportFunc) {
	for i, a := range r.addrs {
		if a.tlsFail == "" || certFailure(a) || !a.offered() {
			continue // a certificate failure is the policy's finding; STARTTLS not offered no-starttls'
		}
		then := "senders retry in plaintext (Postfix's may) or defer"
		if s := skipped(a); s != "" {
			then = s
		}
		report(place{atProbeAddr, i}, a.target.Host, "%s: %s: %s", a.label(), a.tlsFail, then)
	}
}

// leafOf is the certificate the server presented first, or nil.
func leafOf(a *addrProbe) *x509.Certificate {
	if a.tlsState == nil || len(a.tlsState.PeerCertificates) == 0 {
		return nil
	}
	return a.tlsState.PeerCertificates[0]
}

func findCertName(r *probeResult, report reportFunc) {
	for i, a := range r.addrs {
		leaf := leafOf(a)
		if leaf == nil || a.daneApplies() || isLiteral(a.target.Host) {
			continue
		}
		if err := leaf.VerifyHostname(a.target.Host); err != nil {
			report(place{atProbeAddr, i}, a.target.Host, "%s: the certificate names %s, not %s: senders that check names (MTA-STS) refuse it",
				a.label(), strings.Join(certNames(leaf), ", "), a.target.Host)
		}
	}
}

func findCertExpired(r *probeResult, report reportFunc) {
	now := r.run.now
	for i, a := range r.addrs {
		if leafOf(a) == nil || a.daneApplies() {
			continue
		}
		for j, c := range a.tlsState.PeerCertificates {
			which := "the certificate"
			if j > 0 {
				which = fmt.Sprintf("certificate %d of the chain (%s)", j+1, c.Subject)
			}
			switch {
			case now.After(c.NotAfter):
				report(place{atProbeAddr, i}, a.target.Host, "%s: %s expired on %s: senders that verify it refuse it", a.label(), which, day(c.NotAfter))
			case now.Before(c.NotBefore):
				report(place{atProbeAddr, i}, a.target.Host, "%s: %s is not valid before %s: senders that verify it refuse it", a.label(), which, day(c.NotBefore))
			}
		}
	}
}

func findCertExpiring(r *probeResult, report reportFunc) {
	now := r.run.now
	limit := now.Add(time.Duration(r.run.certDays) * 24 * time.Hour)
	for i, a := range r.addrs {
		if leafOf(a) == nil || a.daneApplies() {
			continue
		}
		for j, c := range a.tlsState.PeerCertificates {
			if now.After(c.NotAfter) || now.Before(c.NotBefore) || c.NotAfter.After(limit) {
				continue
			}
			which := "the certificate"
			if j > 0 {
				which = fmt.Sprintf("certificate %d of the chain (%s)", j+1, c.Subject)
			}
			report(place{atProbeAddr, i}, a.target.Host, "%s: %s expires on %s, within %d days (--cert-days)", a.label(), which, day(c.NotAfter), r.run.certDays)
		}
	}
}

func findDANEMismatch(r *probeResult, report reportFunc) {
	for i, a := range r.addrs {
		if a.daneApplies() && certFailure(a) {
			report(place{atProbeAddr, i}, a.target.Host, "%s: the certificate fails its TLSA records at _25._tcp.%s (RFC 8460 %s): DANE senders skip this host",
				a.label(), a.target.TLS.DANE.ServerName(), string(a.tlsResult))
		}
	}
}

// findProbeSTSMismatch reports the hosts an enforced MTA-STS policy
// rejects: by name (the route made them unusable: not probed), or by their
// certificate.
func findProbeSTSMismatch(r *probeResult, report reportFunc) {
	if r.rt != nil {
		for i, h := range r.rt.Hosts {
			var me *mxroute.Error
			if errors.Is(h.Err, mxroute.ErrMTASTS) && errors.As(h.Err, &me) {
				report(place{atProbeRoute, 1 + i}, h.Name, "MX %d %s: %s: not probed; MTA-STS senders never use it", h.Preference, h.Name, me.Detail)
			}
		}
	}
	for i, a := range r.addrs {
		if p := a.target.TLS; p != nil && p.Mode == mxroute.TLSMTASTS && certFailure(a) {
			report(place{atProbeAddr, i}, a.target.Host, "%s: the certificate fails the enforced MTA-STS policy (id %s; RFC 8460 %s): MTA-STS senders skip this host",
				a.label(), p.MTASTS.ID, string(a.tlsResult))
		}
	}
}

func findPTRMissing(r *probeResult, report reportFunc) {
	for i, a := range r.addrs {
		if a.ptr.looked && len(a.ptr.names) == 0 {
			report(place{atProbeAddr, i}, a.target.Host, "%s: no PTR record at %s", a.label(), a.ptr.name)
		}
	}
}

func findPTRNotConfirmed(r *probeResult, report reportFunc) {
	for i, a := range r.addrs {
		if len(a.ptr.names) > 0 && len(a.ptr.confirmed) == 0 {
			report(place{atProbeAddr, i}, a.target.Host, "%s: PTR %s, but no such name has the address back: reverse DNS not forward-confirmed",
				a.label(), strings.Join(a.ptr.names, ", "))
		}
	}
}

// findRcptAcceptsUnknown reports the addresses that took --rcpt, naming a
// host that refused it when there is one: the primary knows the address
// does not exist, the host that takes it will bounce it.
func findRcptAcceptsUnknown(r *probeResult, report reportFunc) {
	var refused *addrProbe
	for _, a := range r.addrs {
		if a.rcpt != nil && a.rcpt.code/100 == 5 && a.rcpt.cmd != "MAIL FROM:<>" {
			refused = a
			break
		}
	}
	for i, a := range r.addrs {
		if a.rcpt == nil || !a.rcpt.accepted {
			continue
		}
		why := "if it does not exist, this host takes mail for unknown recipients and must bounce it later (backscatter)"
		if refused != nil {
			why = fmt.Sprintf("which %s refuses (%d %s): this host takes mail for unknown recipients and must bounce it later (backscatter)",
				refused.target.Host, refused.rcpt.code, firstLineOf(refused.rcpt.text))
		}
		report(place{atProbeAddr, i}, a.target.Host, "%s: takes RCPT TO:<%s> (%d), %s", a.label(), r.rcpt, a.rcpt.code, why)
	}
}

// tieAspects are what tie-asymmetry compares of the hosts of a preference.
var tieAspects = []struct {
	name string
	of   func(a *addrProbe) string
}{
	{"banner", bannerSoftware},
	{"TLS", tlsOffer},
	{"certificate issuer", func(a *addrProbe) string {
		if leaf := leafOf(a); leaf != nil {
			return leaf.Issuer.String()
		}
		return "none"
	}},
	{"extensions", func(a *addrProbe) string { return strings.Join(a.extensions(), " ") }},
}

// findTieAsymmetry compares, at each preference with several hosts, what
// each host's first address that greeted shows.
func findTieAsymmetry(r *probeResult, report reportFunc) {
	type host struct {
		name string
		a    *addrProbe
	}
	var prefs []uint16
	byPref := map[uint16][]host{}
	for _, a := range r.addrs {
		if a.greeting.code != 220 || a.ehlo.code/100 != 2 {
			continue
		}
		hs := byPref[a.target.Preference]
		if slices.ContainsFunc(hs, func(h host) bool { return h.name == a.target.Host }) {
			continue
		}
		if len(hs) == 0 {
			prefs = append(prefs, a.target.Preference)
		}
		byPref[a.target.Preference] = append(hs, host{a.target.Host, a})
	}
	for rank, pref := range prefs {
		hs := byPref[pref]
		if len(hs) < 2 {
			continue
		}
		for _, asp := range tieAspects {
			var vals []string
			differ := false
			for _, h := range hs {
				v := asp.of(h.a)
				differ = differ || v != asp.of(hs[0].a)
				vals = append(vals, fmt.Sprintf("%s %q", h.name, v))
			}
			if differ {
				report(place{atProbeTie, rank}, "", "at preference %d the hosts differ in %s: %s: senders share the mail between them at random",
					pref, asp.name, strings.Join(vals, "; "))
			}
		}
	}
}

// dateTime matches what banners say of the time (sendmail's date):
// weekdays, "1 Jan 2024", times, numeric zones.
var dateTime = regexp.MustCompile(`\b(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),?\s|\b\d{1,2} (?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4}\b|\b\d{1,2}:\d{2}(?::\d{2})?\b|\s[+-]\d{4}\b`)

// bannerSoftware is what a greeting says besides the host's name and the
// time: the software, as operators compare it.
func bannerSoftware(a *addrProbe) string {
	var words []string
	for j, line := range a.greeting.lines {
		if len(line) < 4 {
			continue
		}
		text := line[4:]
		if j == 0 {
			if f := strings.Fields(text); len(f) > 0 {
				text = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(text), f[0]))
			}
		}
		words = append(words, strings.Fields(dateTime.ReplaceAllString(text, " "))...)
	}
	return strings.Join(words, " ")
}

// tlsOffer is what a host's TLS is, short: "TLS 1.3", "no STARTTLS",
// "STARTTLS fails".
func tlsOffer(a *addrProbe) string {
	switch {
	case a.tlsState != nil && a.tlsFail == "" || certFailure(a):
		return tls.VersionName(a.tlsState.Version)
	case !a.offered():
		return "no STARTTLS"
	}
	return "STARTTLS fails"
}

// certNames are a certificate's DNS names, or its common name without them.
func certNames(c *x509.Certificate) []string {
	if len(c.DNSNames) > 0 {
		return c.DNSNames
	}
	if c.Subject.CommonName != "" {
		return []string{c.Subject.CommonName}
	}
	return []string{"no name"}
}

// day is a date as findings and the output give it.
func day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// firstLineOf is the first line of a reply's text.
func firstLineOf(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// firstReplyLine is a reply's first line, cut to a length a line can show.
func firstReplyLine(r reply) string {
	if len(r.lines) == 0 {
		return ""
	}
	return clip(r.lines[0], 200)
}

// clip cuts s to at most n bytes, with "..." when it was longer.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
