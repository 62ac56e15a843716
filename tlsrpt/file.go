package tlsrpt

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Encoded is a report ready to deliver: its JSON gzipped (RFC 8460, Section
// 5.2) under the file name of Section 5.1, with what the HTTPS POST and
// the mail message need.
type Encoded struct {
	Report       *Report
	PolicyDomain string // the domain reported on, an A-label
	Submitter    string // the submitter's domain
	FileName     string // sender!policy-domain!begin!end[!unique-id].json.gz
	Gzip         []byte // the report's JSON, gzipped
}

// Encode gzips a report and names it. The report must have a policy (an
// empty report is not sent) and its contact-info must be at the
// submitter's domain ("TLS-Report-Submitter ... MUST match", Section 5.3).
// "The report SHOULD be subjected to GZIP compression for both email and
// HTTPS transport" (Section 5.2): every report is.
func (s Submitter) Encode(r *Report) (*Encoded, error) {
	s, err := s.check()
	if err != nil {
		return nil, err
	}
	pd, err := r.PolicyDomain()
	if err != nil {
		return nil, err
	}
	if _, cd, _ := strings.Cut(r.ContactInfo, "@"); !strings.EqualFold(cd, s.Domain) {
		return nil, fmt.Errorf("%w: the report's contact-info %q is not at the submitter domain %q", ErrSubmitter, r.ContactInfo, s.Domain)
	}
	js, err := json.Marshal(r)
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: report %q: %w", r.ReportID, err)
	}
	name := FileName(s.Domain, pd, r.DateRange.Start, r.DateRange.End, s.UniqueID)
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Name = strings.TrimSuffix(name, ".gz")
	if _, err := zw.Write(js); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return &Encoded{Report: r, PolicyDomain: pd, Submitter: s.Domain, FileName: name, Gzip: buf.Bytes()}, nil
}

// FileName gives the name of a gzipped report (Section 5.1):
//
//	filename = sender "!" policy-domain "!" begin-timestamp
//	           "!" end-timestamp [ "!" unique-id ] "." extension
//
// the timestamps in seconds since 1970-01-01 00:00:00 UTC, the start and
// end of the report's date-range, so the name and the report agree
// (Section 5.6: where they disagree, the report is authoritative), and the
// extension "json.gz".
func FileName(sender, policyDomain string, start, end time.Time, uniqueID string) string {
	name := fmt.Sprintf("%s!%s!%d!%d", sender, policyDomain, start.Unix(), end.Unix())
	if uniqueID != "" {
		name += "!" + uniqueID
	}
	return name + ".json.gz"
}
