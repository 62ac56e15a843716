package main

import (
	"encoding/json"
	"errors"
	"io"

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
	Host       string `json:"host"`
	Preference uint16 `json:"preference"`
	Address    string `json:"address"`
	Family     string `json:"family"`
}

type jsonHost struct {
	Name       string     `json:"name"`
	Preference uint16     `json:"preference"`
	Usable     bool       `json:"usable"`
	Authentic  bool       `json:"authentic"` // Host.Authentic
	Addresses  []string   `json:"addresses"`
	Error      *jsonError `json:"error"`
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
func jsonRouteOf(query string, res routed, dnssec bool) jsonRoute {
	out := jsonRoute{SchemaVersion: schemaVersion, Query: query, DNSSEC: dnssec, Result: "routed", Error: jsonErrorOf(res.err),
		Targets: []jsonTarget{}, Hosts: []jsonHost{}, Dropped: []jsonDropped{}}
	if res.err != nil {
		out.Result, _ = verdictOf(res.err)
	}
	if rt := res.rt; rt != nil {
		out.Domain, out.Canonical, out.ImplicitMX, out.Authentic = rt.Domain, rt.Canonical, rt.Implicit, rt.Authentic
		for _, t := range rt.Targets() {
			out.Targets = append(out.Targets, jsonTarget{Host: t.Host, Preference: t.Preference, Address: t.Addr.String(), Family: family(t.Addr)})
		}
		for _, h := range rt.Hosts {
			jh := jsonHost{Name: h.Name, Preference: h.Preference, Usable: h.Err == nil, Authentic: h.Authentic,
				Addresses: []string{}, Error: jsonErrorOf(h.Err)}
			for _, a := range h.Addrs {
				jh.Addresses = append(jh.Addresses, a.String())
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
func jsonExplainOf(query string, res routed, dnssec bool) jsonRoute {
	out := jsonRouteOf(query, res, dnssec)
	out.Decisions = []jsonEvent{}
	for _, ev := range res.events {
		out.Decisions = append(out.Decisions, jsonEvent{Step: ev.Step.String(), Host: ev.Host, Preference: ev.Preference, Rule: ev.Rule, Message: eventMessage(ev, dnssec)})
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
