package tlsrpt

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"strings"
	"time"
)

// Report is an aggregate report, the JSON document of RFC 8460, Section
// 4.4, with the RFC's field names. Its arrays are never null.
type Report struct {
	OrganizationName string         `json:"organization-name"`
	DateRange        DateRange      `json:"date-range"`
	ContactInfo      string         `json:"contact-info"` // an addr-spec
	ReportID         string         `json:"report-id"`
	Policies         []PolicyResult `json:"policies"` // "MUST be an array and not a singular value" (Section 4)
}

// DateRange is a report's period: RFC 3339 date-times (Section 4.4).
type DateRange struct {
	Start time.Time `json:"start-datetime"`
	End   time.Time `json:"end-datetime"`
}

// PolicyResult is the outcome of the sessions under one applied policy.
type PolicyResult struct {
	Policy         Policy          `json:"policy"`
	Summary        Summary         `json:"summary"`
	FailureDetails []FailureDetail `json:"failure-details"`
}

// Summary counts the sessions under a policy (Section 4.2).
type Summary struct {
	// TotalSuccessful: sessions that negotiated a policy-compliant TLS
	// connection.
	TotalSuccessful int64 `json:"total-successful-session-count"`
	// TotalFailure: sessions that did not.
	TotalFailure int64 `json:"total-failure-session-count"`
}

// FailureDetail counts the failed sessions of one result type, sending and
// receiving addresses and names (Section 4.4). The fields not known are
// left out of the JSON, as in the RFC's example (Appendix B).
type FailureDetail struct {
	ResultType          Result     `json:"result-type"`
	SendingMTAIP        netip.Addr `json:"sending-mta-ip,omitzero"`
	ReceivingMXHostname string     `json:"receiving-mx-hostname,omitempty"`
	ReceivingMXHELO     string     `json:"receiving-mx-helo,omitempty"`
	ReceivingIP         netip.Addr `json:"receiving-ip,omitzero"`
	FailedSessionCount  int64      `json:"failed-session-count"`
	// AdditionalInformation is a URI with more about the failure.
	AdditionalInformation string `json:"additional-information,omitempty"`
	FailureReasonCode     string `json:"failure-reason-code,omitempty"`
}

// MarshalJSON writes the report with its arrays as arrays, empty ones
// included, and its dates in UTC.
func (r Report) MarshalJSON() ([]byte, error) {
	type plain Report
	q := plain(r)
	q.DateRange.Start, q.DateRange.End = q.DateRange.Start.UTC(), q.DateRange.End.UTC()
	q.Policies = slices.Clone(q.Policies)
	if q.Policies == nil {
		q.Policies = []PolicyResult{}
	}
	for i := range q.Policies {
		if q.Policies[i].FailureDetails == nil {
			q.Policies[i].FailureDetails = []FailureDetail{}
		}
	}
	return json.Marshal(q)
}

// Submitter is who sends reports: the metadata of a report (Section 4.4),
// the sender part of its file name (Section 5.1), the TLS-Report-Submitter
// and From of its message (Section 5.3).
type Submitter struct {
	// Domain is the sending MTA's domain: required, an A-label.
	Domain string
	// Organization is the organization-name. Zero: Domain.
	Organization string
	// Contact is the contact-info, an address at Domain ("TLS-Report-
	// Submitter ... MUST match" the domain of the report, Section 5.3), and
	// the From of report messages. Zero: "postmaster@" + Domain.
	Contact string
	// UniqueID tells apart the reports of several sources sending for one
	// policy domain and day (Section 5.1: 1*(ALPHA / DIGIT), at most 32
	// here): it ends the file name and is part of the report-id. Zero:
	// none, as with one reporter or one shared store.
	UniqueID string
}

// ErrSubmitter: a Submitter's fields are malformed.
var ErrSubmitter = errors.New("tlsrpt: malformed submitter")

// check gives the submitter with its zero fields set, or what is wrong.
func (s Submitter) check() (Submitter, error) {
	d, err := normDomain(s.Domain)
	if err != nil {
		return s, fmt.Errorf("%w: domain: %w", ErrSubmitter, err)
	}
	s.Domain = d
	if s.Organization == "" {
		s.Organization = d
	}
	if strings.ContainsAny(s.Organization, "\r\n") {
		return s, fmt.Errorf("%w: organization %q has a line break", ErrSubmitter, s.Organization)
	}
	if s.Contact == "" {
		s.Contact = "postmaster@" + d
	}
	local, cd, ok := strings.Cut(s.Contact, "@")
	if !ok || !validLocal(local) {
		return s, fmt.Errorf("%w: contact %q is not an address (local@domain, ASCII)", ErrSubmitter, s.Contact)
	}
	if cd, err := normDomain(cd); err != nil || cd != d {
		return s, fmt.Errorf("%w: contact %q is not at the submitter domain %q", ErrSubmitter, s.Contact, d)
	}
	s.Contact = local + "@" + d
	if len(s.UniqueID) > 32 {
		return s, fmt.Errorf("%w: unique id %q is longer than 32", ErrSubmitter, s.UniqueID)
	}
	for i := 0; i < len(s.UniqueID); i++ {
		if !isAlnum(s.UniqueID[i]) {
			return s, fmt.Errorf("%w: unique id %q is not letters and digits", ErrSubmitter, s.UniqueID)
		}
	}
	return s, nil
}

// validLocal: a dot-atom local part (RFC 5322, Section 3.2.3), which needs
// no quoting in a header.
func validLocal(l string) bool {
	if l == "" || len(l) > 64 || l[0] == '.' || l[len(l)-1] == '.' || strings.Contains(l, "..") {
		return false
	}
	for i := 0; i < len(l); i++ {
		if c := l[i]; !isAlnum(c) && !strings.ContainsRune("!#$%&'*+-/=?^_`{|}~.", rune(c)) {
			return false
		}
	}
	return true
}

// ReportID gives the report-id of the report of a policy domain and day:
// "20160401.company-y.example@mail.sender.example", with the UniqueID
// after the policy domain when there is one. It has the form of a msg-id,
// as the Subject of Section 5.3 wants it, and is the same each time, so a
// report sent again can be recognised as a duplicate (Section 5.3).
func (s Submitter) ReportID(domain string, day Day) string {
	id := fmt.Sprintf("%04d%02d%02d.%s", day.Year, day.Month, day.Day, domain)
	if s.UniqueID != "" {
		id += "." + s.UniqueID
	}
	return id + "@" + s.Domain
}

// Report gives the report of a policy domain for a day from counters of a
// Store: one PolicyResult per applied policy, its successes and failures
// summed, one FailureDetail per failure counter. Counters of other domains
// or days are left out. Policies and details are in a fixed order (policy
// type, strings, patterns; result type, host, addresses), so one set of
// counters always gives the same report. The period is the full UTC day:
// from 00:00:00 to 23:59:59, as the RFC's example writes it (Appendix B).
func (s Submitter) Report(domain string, day Day, counters []Counter) (*Report, error) {
	s, err := s.check()
	if err != nil {
		return nil, err
	}
	d, err := normDomain(domain)
	if err != nil {
		return nil, err
	}
	if day.IsZero() {
		return nil, fmt.Errorf("tlsrpt: report of %q: no day", d)
	}
	r := &Report{
		OrganizationName: s.Organization,
		DateRange:        DateRange{Start: day.Start(), End: day.End().Add(-time.Second)},
		ContactInfo:      s.Contact,
		ReportID:         s.ReportID(d, day),
		Policies:         []PolicyResult{},
	}
	byPolicy := map[string]int{} // policy id, index in r.Policies
	for _, c := range counters {
		if c.Day != day || c.Policy.Domain != d {
			continue
		}
		p := c.Policy
		if p.Type == "" {
			p.Type = PolicyNotFound
		}
		pid := Key{Policy: p}.id()
		i, ok := byPolicy[pid]
		if !ok {
			i = len(r.Policies)
			byPolicy[pid] = i
			p.String = nonNil(slices.Clone(p.String))
			p.MXHost = nonNil(slices.Clone(p.MXHost))
			r.Policies = append(r.Policies, PolicyResult{Policy: p, FailureDetails: []FailureDetail{}})
		}
		pr := &r.Policies[i]
		if c.Result == "" {
			pr.Summary.TotalSuccessful += c.N
			continue
		}
		pr.Summary.TotalFailure += c.N
		pr.FailureDetails = append(pr.FailureDetails, FailureDetail{
			ResultType:            c.Result,
			SendingMTAIP:          c.SendingIP,
			ReceivingMXHostname:   c.MXHost,
			ReceivingMXHELO:       c.HELO,
			ReceivingIP:           c.ReceivingIP,
			FailedSessionCount:    c.N,
			AdditionalInformation: c.AdditionalInfo,
			FailureReasonCode:     c.ReasonCode,
		})
	}
	slices.SortFunc(r.Policies, func(a, b PolicyResult) int {
		return cmp.Or(cmp.Compare(a.Policy.Type, b.Policy.Type),
			slices.Compare(a.Policy.String, b.Policy.String),
			slices.Compare(a.Policy.MXHost, b.Policy.MXHost))
	})
	for _, pr := range r.Policies {
		slices.SortFunc(pr.FailureDetails, func(a, b FailureDetail) int {
			return cmp.Or(cmp.Compare(a.ResultType, b.ResultType),
				cmp.Compare(a.ReceivingMXHostname, b.ReceivingMXHostname),
				a.ReceivingIP.Compare(b.ReceivingIP),
				a.SendingMTAIP.Compare(b.SendingMTAIP),
				cmp.Compare(a.ReceivingMXHELO, b.ReceivingMXHELO),
				cmp.Compare(a.FailureReasonCode, b.FailureReasonCode),
				cmp.Compare(a.AdditionalInformation, b.AdditionalInformation))
		})
	}
	return r, nil
}

// PolicyDomain gives the policy domain of a report: that of its policies,
// which are all of one domain in the reports Submitter.Report makes.
func (r *Report) PolicyDomain() (string, error) {
	var d string
	for _, p := range r.Policies {
		switch pd := strings.ToLower(strings.TrimSuffix(p.Policy.Domain, ".")); {
		case d == "":
			d = pd
		case pd != d:
			return "", fmt.Errorf("tlsrpt: report %q has policies of two domains, %q and %q", r.ReportID, d, pd)
		}
	}
	if d == "" {
		return "", fmt.Errorf("tlsrpt: report %q has no policy, so no policy domain", r.ReportID)
	}
	return d, nil
}
