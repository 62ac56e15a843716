package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/miekg/dns"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/mtasts"
	"github.com/mxroute-go/mxroute/tlsrpt"
)

// lint's TLS checks. lint is a checker: it looks at what a domain publishes
// for TLS, its MTA-STS record and policy and its hosts' TLSA records,
// always, with or without --mta-sts and --dane, since none of it needs a
// connection to a mail server (the policy is an HTTPS fetch from
// mta-sts.<domain>). What the checks read is asked once per domain, by the
// first check that needs it (linted.tls): the _mta-sts TXT records through
// the run's resolver, the policy through the run's MTA-STS client (the
// Router's too with --mta-sts: one fetch per policy domain), and the TLSA
// records of each usable host of the route. Whether a TLSA answer is
// DNSSEC-authenticated is known only from a resolver asked for it
// (--dnssec or --dane): tlsa-unsigned runs only then.

// minMaxAge is the shortest MTA-STS max_age lint takes without a warning:
// a day. RFC 8461, Section 3.2: "it is expected that this value typically
// be in the range of weeks or greater", so that a policy outlives an
// attacker blocking its refresh; Section 3.3 suggests refreshing "once per
// day". A policy that expires sooner than the next refresh is not in any
// sender's cache when an attacker blocks that refresh: it protects nothing
// then.
const minMaxAge = 24 * time.Hour

// tlsFacts are what a domain publishes for TLS, as lint asked.
type tlsFacts struct {
	sts  stsFacts
	tlsa []tlsaFact // the usable hosts that have TLSA records, in route order
	// rpt are the TLSRPT records of the policy domains (RFC 8460, Section
	// 1.1): the domain's first, then each TLSA base domain of tlsa.
	rpt []rptFact
}

// rptFact is what one policy domain publishes for TLS reporting at
// _smtp._tls.<policy domain>.
type rptFact struct {
	domain string    // the policy domain
	name   string    // _smtp._tls.<domain>
	tlsa   *tlsaFact // the host whose TLSA base domain it is; nil: the recipient domain
	looked bool      // the TXT lookup answered
	record *tlsrpt.Record
	// err is why there is no record: tlsrpt.ErrNoRecord (none published),
	// or the record is malformed, several, or one meant as one is
	// discarded.
	err error
}

// stsFacts are the domain's MTA-STS record and policy.
type stsFacts struct {
	name    string   // _mta-sts.<domain>
	records []string // the TXT records there
	looked  bool     // the TXT lookup answered: records is what the domain publishes
	recErr  error    // the records hold no usable MTA-STS record, though some try to
	record  *mtasts.Record
	policy  *mtasts.Policy // the policy in force, or nil
	status  mtasts.Status
	err     error // the policy lookup's failure (a fetch's: *mtasts.Error with its RFC 8460 result)
}

// tlsaFact is a host's TLSA RRset.
type tlsaFact struct {
	index     int // the host's index in Route.Hosts
	host      mxroute.Host
	name      string       // _25._tcp.<base>
	policy    *dane.Policy // the records, usable or not
	authentic bool         // the answer came with AD (meaningful with --dnssec or --dane)
}

// lookupTLS asks what the domain publishes for TLS. A domain without a
// Route (it failed before its hosts were known: route-failed says why) and
// an address literal have nothing to check.
func (d *linted) lookupTLS() tlsFacts {
	var f tlsFacts
	if d.rt == nil || isLiteral(d.rt.Domain) {
		return f
	}
	f.sts = d.lookupSTS(d.rt.Domain)
	f.tlsa = d.lookupTLSA(d.rt)
	f.rpt = append(f.rpt, d.lookupTLSRPT(d.rt.Domain, nil))
	seen := map[string]bool{d.rt.Domain: true}
	for i := range f.tlsa {
		t := &f.tlsa[i]
		if base := t.policy.ServerName(); !seen[base] {
			seen[base] = true
			f.rpt = append(f.rpt, d.lookupTLSRPT(base, t))
		}
	}
	return f
}

// lookupTLSRPT reads the TXT records at _smtp._tls.<domain> and picks the
// TLSRPT record (RFC 8460, Section 3). A TXT lookup that fails says
// nothing: no finding.
func (d *linted) lookupTLSRPT(domain string, t *tlsaFact) rptFact {
	r := rptFact{domain: domain, name: "_smtp._tls." + domain, tlsa: t}
	records, err := d.run.sts.TXT(d.ctx, r.name)
	if err != nil {
		return r
	}
	r.looked = true
	r.record, r.err = tlsrpt.FindRecord(records)
	if errors.Is(r.err, tlsrpt.ErrNoRecord) {
		// Section 3: records not beginning with "v=TLSRPTv1" are
		// discarded; one meant as one ("v=TLSRPTv1 rua=...",
		// "v=tlsrptv1; ...") leaves the domain without reports, in
		// silence.
		for _, rec := range records {
			if strings.HasPrefix(strings.ToLower(rec), "v=tlsrpt") {
				r.err = fmt.Errorf("%q does not begin with \"v=TLSRPTv1\" and \";\", and is discarded", rec)
				break
			}
		}
	}
	return r
}

// lookupSTS reads the domain's _mta-sts TXT records and, when one is an
// MTA-STS record, gets its policy through the run's client. A TXT lookup
// that fails says nothing of the domain's policy: no finding.
func (d *linted) lookupSTS(domain string) stsFacts {
	s := stsFacts{name: "_mta-sts." + domain}
	records, err := d.run.sts.TXT(d.ctx, s.name)
	if err != nil {
		return s
	}
	s.records, s.looked = records, true
	s.record, err = mtasts.FindRecord(records)
	switch {
	case errors.Is(err, mtasts.ErrNoRecord):
		// RFC 8461, Section 3.1: records not beginning with "v=STSv1;"
		// are discarded. One that was meant as one ("v=STSv1 id=1",
		// "v=STSV1; ...") leaves the domain with no policy, in silence.
		for _, r := range records {
			if strings.HasPrefix(strings.ToLower(r), "v=sts") {
				s.recErr = fmt.Errorf("%q does not begin with \"v=STSv1;\" and is discarded", r)
				break
			}
		}
		return s
	case err != nil:
		s.recErr = err
		return s
	}
	// The records are those just read: the client asks no second time.
	s.policy, s.status, s.err = d.run.sts.LookupUsing(d.ctx, domain, func(context.Context, string) ([]string, error) {
		return records, nil
	})
	return s
}

// lookupTLSA asks the TLSA records of each usable host of the route: at
// the host's canonical name first, then at its name as published (RFC
// 7672, Section 2.2.2). A lookup that fails is left out: what it would have
// said is not known (with --dane the route itself finds the host
// unusable, mx-lookup-failed).
func (d *linted) lookupTLSA(rt *mxroute.Route) []tlsaFact {
	var out []tlsaFact
	for i, h := range rt.Hosts {
		if h.Err != nil || isLiteral(h.Name) {
			continue
		}
		bases := []string{h.Canonical}
		if h.Canonical != h.Name {
			bases = append(bases, h.Name)
		}
		for _, base := range bases {
			name := "_25._tcp." + base
			msg, err := d.run.resolver.Resolve(d.ctx, dns.Fqdn(name), dns.TypeTLSA)
			if err != nil || msg.Rcode != dns.RcodeSuccess && msg.Rcode != dns.RcodeNameError {
				break
			}
			var rrs []dns.RR
			for _, rr := range msg.Answer {
				if _, ok := rr.(*dns.TLSA); ok {
					rrs = append(rrs, rr)
				}
			}
			if len(rrs) == 0 {
				continue
			}
			out = append(out, tlsaFact{index: i, host: h, name: name, policy: dane.NewPolicy(h.Name, base, rrs), authentic: msg.AuthenticatedData})
			break
		}
	}
	return out
}

// findSTSRecordInvalid reports an _mta-sts TXT record that does not parse,
// several of them, or one meant as one that senders discard: senders see
// no policy (RFC 8461, Section 3.1).
func findSTSRecordInvalid(d *linted, report reportFunc) {
	s := d.tls().sts
	if s.recErr != nil {
		report(place{atTLS, 0}, "", "%s: %s: senders see no MTA-STS policy", s.name, strings.TrimPrefix(s.recErr.Error(), "mtasts: "))
	}
}

// findSTSPolicyUnavailable reports a valid record whose policy could not be
// had, with the RFC 8460 result type a sender's report gives it: senders
// go on "as though the domain has not implemented MTA-STS" (RFC 8461,
// Section 3.3).
func findSTSPolicyUnavailable(d *linted, report reportFunc) {
	s := d.tls().sts
	var me *mtasts.Error
	if s.policy != nil || s.status != mtasts.StatusFailed || !errors.As(s.err, &me) || me.Result == "" {
		return
	}
	detail := me.Detail
	if me.Err != nil {
		detail += ": " + strings.TrimPrefix(me.Err.Error(), "mtasts: ")
	}
	report(place{atTLS, 0}, "", "record id %s, but no policy (RFC 8460 %s): %s: senders apply no MTA-STS policy", s.record.ID, string(me.Result), detail)
}

// findSTSMaxAgeShort reports a policy whose max_age is below minMaxAge. A
// policy in mode none is being withdrawn: a short max_age is right for it.
func findSTSMaxAgeShort(d *linted, report reportFunc) {
	p := d.tls().sts.policy
	if p == nil || p.Mode == mtasts.ModeNone || p.MaxAge >= minMaxAge {
		return
	}
	report(place{atTLS, 0}, "", "policy id %s: max_age %d (%s) is below a day: a sender refreshing daily holds no policy when an attacker blocks the refresh (RFC 8461 expects weeks)",
		p.ID, int64(p.MaxAge/time.Second), p.MaxAge)
}

// findSTSMXMismatch reports each published MX host that an enforced policy
// excludes: every MTA-STS sender leaves it out (RFC 8461, Section 4.1),
// and when no host is left defers every message (Section 5). Hosts unusable
// for another reason are left to their own checks; with --mta-sts the
// route found the excluded ones unusable (ErrMTASTS), and they count.
func findSTSMXMismatch(d *linted, report reportFunc) {
	p := d.tls().sts.policy
	if p == nil || p.Mode != mtasts.ModeEnforce || d.rt == nil {
		return
	}
	type excluded struct {
		i int
		h mxroute.Host
	}
	var out []excluded
	considered := 0
	for i, h := range d.rt.Hosts {
		if h.Err != nil && !errors.Is(h.Err, mxroute.ErrMTASTS) {
			continue
		}
		considered++
		if !p.Match(h.Name) {
			out = append(out, excluded{i, h})
		}
	}
	none := ""
	if len(out) > 0 && len(out) == considered {
		none = "; no MX matches: they defer all mail to " + d.rt.Domain
	}
	for _, e := range out {
		report(place{atTLS, 1 + e.i}, e.h.Name, "MX %d %s matches no mx pattern of the enforced MTA-STS policy (id %s, mx %s): MTA-STS senders do not use it%s",
			e.h.Preference, e.h.Name, p.ID, mxPatterns(p), none)
	}
}

func mxPatterns(p *mtasts.Policy) string {
	s := make([]string, len(p.MX))
	for i, m := range p.MX {
		s[i] = m.String()
	}
	return strings.Join(s, ", ")
}

// findTLSAUnsigned reports, when the run knows the DNSSEC status (--dnssec
// or --dane), TLSA records that came without AD: RFC 7672, Section 2.2,
// DANE applies only to a secure TLSA RRset, so senders ignore them and
// DANE is off, silently.
func findTLSAUnsigned(d *linted, report reportFunc) {
	if !d.run.askAD() {
		return
	}
	for _, t := range d.tls().tlsa {
		if !t.authentic {
			report(place{atTLSA, t.index}, t.host.Name, "MX %d %s: TLSA records at %s, but not DNSSEC-authenticated (no AD from the resolver): senders ignore them, DANE is off (is the zone signed and its DS published?)",
				t.host.Preference, t.host.Name, t.name)
		}
	}
}

// findTLSAUnusable reports TLSA RRsets whose records are all unusable for
// SMTP: PKIX-TA(0) and PKIX-EE(1), unknown parameters, digests of the wrong
// length (RFC 7672, Section 3.1; RFC 7671, Section 4). A secure RRset of
// them makes DANE senders require TLS and authenticate nothing (RFC 7672,
// Section 2.2; dane.ModeEncrypt).
func findTLSAUnusable(d *linted, report reportFunc) {
	for _, t := range d.tls().tlsa {
		if t.policy.Mode() == dane.ModeEncrypt {
			report(place{atTLSA, t.index}, t.host.Name, "MX %d %s: the TLSA records at %s are all unusable for SMTP (%s): DANE senders require TLS and authenticate nothing",
				t.host.Preference, t.host.Name, t.name, strings.Join(t.policy.Unusable(), "; "))
		}
	}
}

// rptPlace is where a policy domain's TLSRPT findings go: the recipient
// domain's with its MTA-STS findings, a TLSA base domain's with its
// host's TLSA findings.
func rptPlace(r rptFact) place {
	if r.tlsa != nil {
		return place{atTLSA, r.tlsa.index}
	}
	return place{atTLS, 0}
}

// findTLSRPTMissing reports a policy domain that publishes MTA-STS (a valid
// _mta-sts record) or DANE (TLSA records at its base domain) and no TLSRPT
// record: senders whose sessions fail the policy have no one to report to
// (RFC 8460, Section 3). For DANE the policy domain is the TLSA base
// domain, the MX host, not the recipient domain (Section 1.1), as mox
// reads it too.
func findTLSRPTMissing(d *linted, report reportFunc) {
	f := d.tls()
	for _, r := range f.rpt {
		if !r.looked || !errors.Is(r.err, tlsrpt.ErrNoRecord) {
			continue
		}
		switch {
		case r.tlsa != nil:
			t := r.tlsa
			report(rptPlace(r), t.host.Name, "MX %d %s: TLSA records at %s, but no TLSRPT record at %s (for DANE the policy domain is the TLSA base domain): senders report DANE failures to no one",
				t.host.Preference, t.host.Name, t.name, r.name)
		case f.sts.record != nil:
			report(rptPlace(r), "", "MTA-STS is published (%s, id %s), but no TLSRPT record at %s: senders report policy failures to no one",
				f.sts.name, f.sts.record.ID, r.name)
		}
	}
}

// findTLSRPTInvalid reports a TLSRPT record that does not parse, several of
// them, or one meant as one that senders discard: they send no report
// (RFC 8460, Section 3), whatever the domain publishes besides.
func findTLSRPTInvalid(d *linted, report reportFunc) {
	for _, r := range d.tls().rpt {
		if !r.looked || r.err == nil || errors.Is(r.err, tlsrpt.ErrNoRecord) {
			continue
		}
		host := ""
		if r.tlsa != nil {
			host = r.tlsa.host.Name
		}
		report(rptPlace(r), host, "%s: %s: senders send no TLS report", r.name, strings.TrimPrefix(r.err.Error(), "tlsrpt: "))
	}
}
