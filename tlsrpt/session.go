package tlsrpt

import (
	"encoding/json"
	"net/netip"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// Policy is the policy a session applied, the "policy" object of a report
// (RFC 8460, Section 4.4).
type Policy struct {
	// Type is sts, tlsa or no-policy-found; zero: no-policy-found.
	Type PolicyType `json:"policy-type"`
	// String is the policy applied: for sts each line of the MTA-STS policy
	// text ("including any errors that may be present", Section 4.5), for
	// tlsa each TLSA record as "usage selector matching-type data"; empty
	// for no-policy-found.
	String []string `json:"policy-string"`
	// Domain is the policy domain, under which the session is counted and to
	// whose _smtp._tls record the report goes (Section 1.1): for MTA-STS the
	// recipient domain (or the smarthost's domain when local policy routes
	// mail there), for DANE the TLSA base domain of the MX host. A session
	// with neither policy counts as no-policy-found under the recipient
	// domain. An A-label; case and a trailing dot do not matter.
	Domain string `json:"policy-domain"`
	// MXHost are the mx patterns of an MTA-STS policy ("*.example.com"
	// included); empty for tlsa and no-policy-found.
	MXHost []string `json:"mx-host"`
}

// MarshalJSON writes the policy with its arrays as arrays, empty ones
// included: the schema of Section 4.4 has no null.
func (p Policy) MarshalJSON() ([]byte, error) {
	type plain Policy
	q := plain(p)
	if q.String == nil {
		q.String = []string{}
	}
	if q.MXHost == nil {
		q.MXHost = []string{}
	}
	if q.Type == "" {
		q.Type = PolicyNotFound
	}
	return json.Marshal(q)
}

// STS gives the Policy of the MTA-STS policy of a domain from its text
// (RFC 8461, Section 3.2; LF or CRLF line ends): its lines for
// policy-string, its mx values for mx-host. mtasts.Policy.String gives the
// text of a parsed policy; an invalid one is reported as it was fetched.
func STS(domain, text string) Policy {
	p := Policy{Type: PolicySTS, Domain: domain}
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			continue
		}
		p.String = append(p.String, line)
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "mx" {
			p.MXHost = append(p.MXHost, strings.TrimSpace(v))
		}
	}
	return p
}

// TLSA gives the Policy of DANE TLSA records of a TLSA base domain (the MX
// host, or its CNAME-expanded name): each record "usage selector
// matching-type data", "the fields ... in presentation format ... with no
// internal spaces or grouping parentheses" (Section 4.5), as dane.Record's
// String gives it. White space inside the data is removed; the records are
// sorted, so one RRset counts as one policy whatever its order.
func TLSA(baseDomain string, records []string) Policy {
	p := Policy{Type: PolicyTLSA, Domain: baseDomain}
	for _, r := range records {
		f := strings.Fields(r)
		if len(f) > 4 {
			f = append(f[:3], strings.Join(f[3:], ""))
		}
		p.String = append(p.String, strings.Join(f, " "))
	}
	slices.Sort(p.String)
	return p
}

// NoPolicy gives the Policy of a domain for which neither an MTA-STS policy
// nor DANE TLSA records were found.
func NoPolicy(domain string) Policy {
	return Policy{Type: PolicyNotFound, Domain: domain}
}

// nonNil gives s, or an empty slice for nil: the arrays of a report are
// never null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// Session is what a Collector counts: one attempted delivery to a host, the
// policy it applied, and whether TLS was negotiated as the policy asks. An
// MTA makes one of each connection it opened under a policy, or of each
// policy failure that kept it from connecting (e.g. sts-policy-fetch-error,
// with no addresses). The zero value of a field is "not known": it is left
// out of the report.
type Session struct {
	// Policy is the policy applied; its Domain is required.
	Policy Policy
	// Failure is the RFC 8460 result type of a failed session (Section
	// 4.3); "" for one that negotiated TLS as the policy asks. When a failure
	// fits no other type, ValidationFailure with a ReasonCode (Section 4.3.3).
	Failure Result
	// Time is when the session was; zero: when Collector.Add is called. It
	// picks the UTC day the session is counted in.
	Time time.Time
	// Report marks a session that delivers a TLS report: it is never
	// counted, so a report never reports its own delivery ("SHOULD NOT
	// include this SMTP session in the next report", Section 3). The MTA
	// remembers which queued messages are reports (those of
	// Encoded.Message) and sets it for their sessions.
	Report bool

	// The failure details (Section 4.4), kept for a failure only: successes
	// are counted per policy.

	SendingIP      netip.Addr // sending-mta-ip: the address the MTA connected from
	ReceivingIP    netip.Addr // receiving-ip: the address connected to
	MXHost         string     // receiving-mx-hostname: the MX host name
	HELO           string     // receiving-mx-helo: the name in the server's greeting or EHLO reply
	AdditionalInfo string     // additional-information: a URI with more about the failure
	ReasonCode     string     // failure-reason-code: an error code or text, e.g. "X509_V_ERR_CERT_HAS_EXPIRED"
}

// Limits on what a session may bring from a remote host into the store.
const (
	maxHELO       = 255
	maxReasonCode = 1024
	maxInfo       = 2048
)

// clean makes text from a remote host fit to keep and to print: valid
// UTF-8 (PostgreSQL refuses anything else), no control characters (NUL
// included), at most max bytes cut at a character boundary.
func clean(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r == '\t' {
			return ' '
		}
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
	for len(s) > max {
		_, n := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-n]
	}
	return strings.TrimSpace(s)
}
