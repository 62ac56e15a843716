package main

import (
	"encoding/json"
	"errors"
	"io"
	"time"

	"github.com/mxroute-go/mxroute"
)

// schemaVersion is the version of the JSON written by --json. It changes
// only when a field is removed or changes meaning; new fields may be added.
const schemaVersion = 1

// jsonRoute is one line of "mxroute route --json" (and explain --json).
// Every field is always present; README's "JSON output" documents them.
type jsonRoute struct {
	SchemaVersion int           `json:"schema_version"`
	Query         string        `json:"query"`
	Domain        string        `json:"domain"`
	Canonical     string        `json:"canonical"`
	ImplicitMX    bool          `json:"implicit_mx"`
	DNSSEC        bool          `json:"dnssec"`    // --dnssec: the authentic fields were asked for
	Authentic     bool          `json:"authentic"` // Route.Authentic
	MTASTS        bool          `json:"mta_sts"`   // --mta-sts: the route applied the domain's MTA-STS policy
	DANE          bool          `json:"dane"`      // --dane: the route applied the hosts' TLSA records
	TLS           *jsonTLS      `json:"tls"`       // with --mta-sts or --dane; null otherwise
	Result        string        `json:"result"`
	Error         *jsonError    `json:"error"`
	Targets       []jsonTarget  `json:"targets"`
	Hosts         []jsonHost    `json:"hosts"`
	Dropped       []jsonDropped `json:"dropped"`
	Decisions     []jsonEvent   `json:"decisions,omitempty"` // explain only
}

type jsonError struct {
	Reason    string `json:"reason"`
	Status    string `json:"status"`
	Temporary bool   `json:"temporary"`
	Message   string `json:"message"`
}

type jsonTarget struct {
	Host       string  `json:"host"`
	Preference uint16  `json:"preference"`
	Address    string  `json:"address"`
	Family     string  `json:"family"`
	TLS        *string `json:"tls"` // the host's TLS mode with --mta-sts or --dane; null otherwise
}

type jsonHost struct {
	Name       string       `json:"name"`
	Preference uint16       `json:"preference"`
	Usable     bool         `json:"usable"`
	Authentic  bool         `json:"authentic"` // Host.Authentic
	Addresses  []string     `json:"addresses"`
	Error      *jsonError   `json:"error"`
	TLS        *jsonHostTLS `json:"tls"` // a usable host's, with --mta-sts or --dane; null otherwise
}

// jsonTLS is a route's TLS with --mta-sts or --dane: the decisions about
// the domain, and with --mta-sts the _mta-sts TXT records and the policy
// in force.
type jsonTLS struct {
	Decisions     []jsonEvent `json:"decisions"`
	MTASTSRecords []string    `json:"mta_sts_records"`
	MTASTSPolicy  *jsonPolicy `json:"mta_sts_policy"`
}

type jsonPolicy struct {
	ID     string   `json:"id"`
	Mode   string   `json:"mode"`
	MX     []string `json:"mx"`
	MaxAge int64    `json:"max_age"` // seconds
}

// jsonHostTLS is a host's TLS policy (Host.TLS) and the decisions behind it.
type jsonHostTLS struct {
	Mode      string      `json:"mode"` // TLSMode: opportunistic, mta-sts-testing, mta-sts, dane
	Required  bool        `json:"required"`
	Policy    string      `json:"policy"` // TLSPolicy.String()
	TLSA      []string    `json:"tlsa"`   // the TLSA records when the mode is dane
	Decisions []jsonEvent `json:"decisions"`
}

type jsonDropped struct {
	Name       string `json:"name"`
	Preference uint16 `json:"preference"`
	Reason     string `json:"reason"`
	Message    string `json:"message"`
}

type jsonEvent struct {
	Step       string `json:"step"`
	Host       string `json:"host,omitempty"`
	Preference uint16 `json:"preference"`
	Rule       string `json:"rule,omitempty"`
	Message    string `json:"message"`
}

func jsonErrorOf(err error) *jsonError {
	if err == nil {
		return nil
	}
	_, status := verdictOf(err)
	return &jsonError{Reason: reasonOf(err), Status: status, Temporary: mxroute.IsTemporary(err), Message: err.Error()}
}

// jsonRouteOf is route's JSON of a domain.
func jsonRouteOf(query string, res routed, s show) jsonRoute {
	out := jsonRoute{SchemaVersion: schemaVersion, Query: query, DNSSEC: s.dnssec, Result: "routed", Error: jsonErrorOf(res.err),
		Targets: []jsonTarget{}, Hosts: []jsonHost{}, Dropped: []jsonDropped{}}
	if s.tls {
		out.TLS = jsonTLSOf(res)
		out.MTASTS, out.DANE = s.mtaSTS, s.dane
	}
	if res.err != nil {
		out.Result, _ = verdictOf(res.err)
	}
	if rt := res.rt; rt != nil {
		out.Domain, out.Canonical, out.ImplicitMX, out.Authentic = rt.Domain, rt.Canonical, rt.Implicit, rt.Authentic
		for _, t := range rt.Targets() {
			jt := jsonTarget{Host: t.Host, Preference: t.Preference, Address: t.Addr.String(), Family: family(t.Addr)}
			if s.tls {
				mode := tlsModeOf(t.TLS)
				jt.TLS = &mode
			}
			out.Targets = append(out.Targets, jt)
		}
		for _, h := range rt.Hosts {
			jh := jsonHost{Name: h.Name, Preference: h.Preference, Usable: h.Err == nil, Authentic: h.Authentic,
				Addresses: []string{}, Error: jsonErrorOf(h.Err)}
			for _, a := range h.Addrs {
				jh.Addresses = append(jh.Addresses, a.String())
			}
			if s.tls && h.Err == nil {
				jh.TLS = jsonHostTLSOf(res, h)
			}
			out.Hosts = append(out.Hosts, jh)
		}
	}
	for _, u := range failedHosts(res) { // a failure without a Route: its unusable hosts, from the decisions
		out.Hosts = append(out.Hosts, jsonHost{Name: u.name, Preference: u.pref, Addresses: []string{}, Error: jsonErrorOf(unusableErr(res, u.name))})
	}
	for _, d := range droppedHosts(res) {
		out.Dropped = append(out.Dropped, jsonDropped{Name: d.name, Preference: d.pref, Reason: d.reason, Message: d.detail})
	}
	return out
}

// jsonExplainOf is explain's JSON of a domain: route's, with the decisions.
func jsonExplainOf(query string, res routed, s show) jsonRoute {
	out := jsonRouteOf(query, res, s)
	out.Decisions = []jsonEvent{}
	for _, ev := range res.events {
		out.Decisions = append(out.Decisions, jsonEventOf(ev, s.dnssec))
	}
	return out
}

func jsonEventOf(ev mxroute.Event, dnssec bool) jsonEvent {
	return jsonEvent{Step: ev.Step.String(), Host: ev.Host, Preference: ev.Preference, Rule: ev.Rule, Message: eventMessage(ev, dnssec)}
}

// jsonTLSOf is a route's TLS: its decisions about the domain, and what the
// MTA-STS lookup saw.
func jsonTLSOf(res routed) *jsonTLS {
	out := &jsonTLS{Decisions: []jsonEvent{}, MTASTSRecords: []string{}}
	for _, ev := range tlsNotes(res) {
		out.Decisions = append(out.Decisions, jsonEventOf(ev, false))
	}
	out.MTASTSRecords = append(out.MTASTSRecords, res.sts.records...)
	if p := res.sts.policy; p != nil {
		jp := &jsonPolicy{ID: p.ID, Mode: string(p.Mode), MX: []string{}, MaxAge: int64(p.MaxAge / time.Second)}
		for _, m := range p.MX {
			jp.MX = append(jp.MX, m.String())
		}
		out.MTASTSPolicy = jp
	}
	return out
}

// tlsModeOf is the name of a TLS policy's mode; nil is opportunistic.
func tlsModeOf(p *mxroute.TLSPolicy) string {
	if p == nil {
		return mxroute.TLSOpportunistic.String()
	}
	return p.Mode.String()
}

// jsonHostTLSOf is a usable host's TLS policy and the route's decisions
// about it.
func jsonHostTLSOf(res routed, h mxroute.Host) *jsonHostTLS {
	out := &jsonHostTLS{Mode: tlsModeOf(h.TLS), Required: h.TLS.Required(), Policy: h.TLS.String(), TLSA: []string{}, Decisions: []jsonEvent{}}
	if h.TLS != nil && h.TLS.Mode == mxroute.TLSDANE && h.TLS.DANE != nil {
		for _, r := range h.TLS.DANE.Records {
			out.TLSA = append(out.TLSA, r.String())
		}
	}
	for _, ev := range hostTLSDecisions(res, h.Name) {
		out.Decisions = append(out.Decisions, jsonEventOf(ev, false))
	}
	return out
}

// jsonLint is one line of "mxroute lint --json".
type jsonLint struct {
	SchemaVersion int           `json:"schema_version"`
	Query         string        `json:"query"`  // as given: a domain or an address
	Domain        string        `json:"domain"` // the domain of query, as given
	Findings      []jsonFinding `json:"findings"`
}

type jsonFinding struct {
	Check    string `json:"check"`
	Severity string `json:"severity"`
	Host     string `json:"host"`
	Rule     string `json:"rule"`
	Message  string `json:"message"`
}

func jsonLintOf(query string, res lintResult) jsonLint {
	domain, _ := domainOf(query)
	out := jsonLint{SchemaVersion: schemaVersion, Query: query, Domain: domain, Findings: []jsonFinding{}}
	for _, f := range res.findings {
		out.Findings = append(out.Findings, jsonFinding{Check: f.check.id, Severity: f.check.severity.String(),
			Host: f.host, Rule: f.check.rule, Message: f.message})
	}
	return out
}

// reasonOf names the sentinel an error unwraps to, for JSON.
func reasonOf(err error) string {
	for _, s := range []struct {
		err  error
		name string
	}{
		{mxroute.ErrBadDomain, "bad-domain"}, {mxroute.ErrNoSuchDomain, "no-such-domain"},
		{mxroute.ErrNoMailHost, "no-mail-host"}, {mxroute.ErrNullMX, "null-mx"},
		{mxroute.ErrLoop, "loop"}, {mxroute.ErrNoAddress, "no-address"},
		{mxroute.ErrCNAME, "cname"}, {mxroute.ErrTemporary, "temporary"},
	} {
		if errors.Is(err, s.err) {
			return s.name
		}
	}
	return "other"
}

// writeJSON writes v as one line.
func writeJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err) // the types above always marshal
	}
	w.Write(append(b, '\n'))
}

// unusableErr is the error of the StepUnusable decision about host.
func unusableErr(res routed, host string) error {
	for _, ev := range res.events {
		if ev.Step == mxroute.StepUnusable && ev.Host == host {
			return ev.Err
		}
	}
	return nil
}
