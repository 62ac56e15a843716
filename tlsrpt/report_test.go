package tlsrpt

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"
)

// schemaFields are the field paths of the JSON Report Format of RFC 8460,
// Section 4.4 (Figure 3), every one of them.
var schemaFields = []string{
	"organization-name",
	"date-range", "date-range.start-datetime", "date-range.end-datetime",
	"contact-info",
	"report-id",
	"policies[]",
	"policies[].policy",
	"policies[].policy.policy-type", "policies[].policy.policy-string", "policies[].policy.policy-domain", "policies[].policy.mx-host",
	"policies[].summary",
	"policies[].summary.total-successful-session-count", "policies[].summary.total-failure-session-count",
	"policies[].failure-details",
	"policies[].failure-details[].result-type", "policies[].failure-details[].sending-mta-ip",
	"policies[].failure-details[].receiving-mx-hostname", "policies[].failure-details[].receiving-mx-helo",
	"policies[].failure-details[].receiving-ip", "policies[].failure-details[].failed-session-count",
	"policies[].failure-details[].additional-information", "policies[].failure-details[].failure-reason-code",
}

// paths gives the field paths of a JSON document, arrays as "[]".
func paths(v any, prefix string, out map[string]bool) {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			p := k
			if prefix != "" {
				p = prefix + "." + k
			}
			if _, isArr := e.([]any); isArr && k == "policies" {
				p += "[]"
			}
			if k == "failure-details" {
				out[p] = true
				p += "[]"
			}
			out[p] = true
			paths(e, p, out)
		}
	case []any:
		for _, e := range v {
			paths(e, prefix, out)
		}
	}
}

func fieldSet(t *testing.T, b []byte) []string {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatal(err)
	}
	m := map[string]bool{}
	paths(v, "", m)
	var out []string
	for p := range m {
		if !strings.HasSuffix(p, "failure-details[]") {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

// TestRFCExample: the example report of RFC 8460, Appendix B, reads into a
// Report with no field left over, and writes back as the same JSON (its
// IPv6 addresses in the RFC 5952 form that Section 4.4 asks for: the
// example writes "0012" where RFC 5952 writes "12").
func TestRFCExample(t *testing.T) {
	raw, err := os.ReadFile("testdata/rfc8460-appendix-b.json")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var r Report
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("the RFC's example does not read: %v", err)
	}
	p := r.Policies[0]
	if r.OrganizationName != "Company-X" || r.ContactInfo != "sts-reporting@company-x.example" ||
		r.ReportID != "5065427c-23d3-47ca-b6e0-946ea0e8c4be" ||
		!r.DateRange.Start.Equal(time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC)) ||
		!r.DateRange.End.Equal(time.Date(2016, 4, 1, 23, 59, 59, 0, time.UTC)) ||
		p.Policy.Type != PolicySTS || p.Policy.Domain != "company-y.example" || len(p.Policy.String) != 4 ||
		!slices.Equal(p.Policy.MXHost, []string{"*.mail.company-y.example"}) ||
		p.Summary != (Summary{5326, 303}) || len(p.FailureDetails) != 3 ||
		p.FailureDetails[0] != (FailureDetail{ResultType: CertificateExpired, SendingMTAIP: netip.MustParseAddr("2001:db8:abcd:12::1"),
			ReceivingMXHostname: "mx1.mail.company-y.example", FailedSessionCount: 100}) ||
		p.FailureDetails[1].ReceivingIP != netip.MustParseAddr("203.0.113.56") || p.FailureDetails[1].AdditionalInformation == "" ||
		p.FailureDetails[2].FailureReasonCode != "X509_V_ERR_PROXY_PATH_LENGTH_EXCEEDED" {
		t.Errorf("the RFC's example reads as %+v", r)
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var want, got any
	canonical := strings.NewReplacer(":0012:", ":12:", ":0013:", ":13:").Replace(string(raw))
	if err := json.Unmarshal([]byte(canonical), &want); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("the RFC's example written back differs:\n%s\nwant\n%s", out, canonical)
	}
	// Every field of the example is a field of the schema.
	for _, f := range fieldSet(t, raw) {
		if !slices.Contains(schemaFields, f) {
			t.Errorf("the example's field %s is not in the schema list", f)
		}
	}
}

// TestReportSchema: a report with every field set writes exactly the
// fields of the schema of Section 4.4, field by field; the arrays are
// arrays even when empty ("the policies field of the report body MUST be
// an array", Section 4).
func TestReportSchema(t *testing.T) {
	r := &Report{
		OrganizationName: "Company-X", ContactInfo: "sts-reporting@company-x.example", ReportID: "x",
		DateRange: DateRange{Start: testDay.Start(), End: testDay.End().Add(-time.Second)},
		Policies: []PolicyResult{{
			Policy:  STS("company-y.example", "version: STSv1\nmx: *.mail.company-y.example"),
			Summary: Summary{1, 1},
			FailureDetails: []FailureDetail{{ResultType: ValidationFailure, SendingMTAIP: netip.MustParseAddr("2001:db8::1"),
				ReceivingMXHostname: "mx1.mail.company-y.example", ReceivingMXHELO: "mx1", ReceivingIP: netip.MustParseAddr("203.0.113.56"),
				FailedSessionCount: 1, AdditionalInformation: "https://r.example/", FailureReasonCode: "X"}},
		}},
	}
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Clone(schemaFields)
	slices.Sort(want)
	if got := fieldSet(t, b); !slices.Equal(got, want) {
		t.Errorf("fields\n%q\nwant the schema's\n%q", got, want)
	}
	if !strings.Contains(string(b), `"sending-mta-ip":"2001:db8::1"`) || !strings.Contains(string(b), `"start-datetime":"2016-04-01T00:00:00Z"`) {
		t.Errorf("addresses and date-times as Section 4.4 writes them: %s", b)
	}
	empty, _ := json.Marshal(&Report{Policies: []PolicyResult{{Policy: NoPolicy("example.com")}}})
	if !strings.Contains(string(empty), `"failure-details":[]`) || !strings.Contains(string(empty), `"policy-string":[]`) {
		t.Errorf("empty arrays written as null: %s", empty)
	}
	if none, _ := json.Marshal(Report{}); !strings.Contains(string(none), `"policies":[]`) {
		t.Errorf("no policies written as null: %s", none)
	}
}

// TestSubmitter: the defaults, and what a submitter may not be.
func TestSubmitter(t *testing.T) {
	r, err := Submitter{Domain: "Mail.Sender.Example."}.Report("example.com", testDay, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r.OrganizationName != "mail.sender.example" || r.ContactInfo != "postmaster@mail.sender.example" ||
		r.ReportID != "20160401.example.com@mail.sender.example" || r.Policies == nil {
		t.Errorf("defaults: %+v", r)
	}
	u := Submitter{Domain: "mail.sender.example", UniqueID: "001"}
	if id := u.ReportID("example.com", testDay); id != "20160401.example.com.001@mail.sender.example" {
		t.Errorf("ReportID with a unique id: %q", id)
	}
	for _, tc := range []struct {
		s   Submitter
		why string
	}{
		{Submitter{}, "no domain"},
		{Submitter{Domain: "mail.sender.example", Contact: "tlsrpt@other.example"}, "contact-info at another domain than TLS-Report-Submitter (Section 5.3)"},
		{Submitter{Domain: "mail.sender.example", Contact: "tls rpt@mail.sender.example"}, "a contact that is no dot-atom address"},
		{Submitter{Domain: "mail.sender.example", UniqueID: "a-1"}, "unique-id = 1*(ALPHA / DIGIT)"},
		{Submitter{Domain: "mail.sender.example", Organization: "X\r\nBcc: a@b.example"}, "a line break"},
	} {
		if _, err := tc.s.Report("example.com", testDay, nil); !errors.Is(err, ErrSubmitter) {
			t.Errorf("%+v: %v, want ErrSubmitter (%s)", tc.s, err, tc.why)
		}
	}
	if _, err := testSub.Report("example.com", Day{}, nil); err == nil {
		t.Error("a report of no day")
	}
}

// TestReportOtherCounters: counters of other days and domains are left
// out; one policy's counters, however many, make one PolicyResult.
func TestReportOtherCounters(t *testing.T) {
	p := NoPolicy("example.com")
	cs := []Counter{
		{Key{Day: testDay, Policy: p}, 5},
		{Key{Day: testDay, Policy: p, Result: StartTLSNotSupported, MXHost: "b.example.com"}, 2},
		{Key{Day: testDay, Policy: p, Result: StartTLSNotSupported, MXHost: "a.example.com"}, 1},
		{Key{Day: testDay.AddDays(1), Policy: p}, 100},
		{Key{Day: testDay, Policy: NoPolicy("example.org")}, 100},
	}
	r, err := testSub.Report("example.com", testDay, cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Policies) != 1 || r.Policies[0].Summary != (Summary{5, 3}) || len(r.Policies[0].FailureDetails) != 2 ||
		r.Policies[0].FailureDetails[0].ReceivingMXHostname != "a.example.com" {
		t.Errorf("report %+v", r)
	}
	if d, err := r.PolicyDomain(); d != "example.com" || err != nil {
		t.Errorf("PolicyDomain %q, %v", d, err)
	}
	r.Policies = append(r.Policies, PolicyResult{Policy: NoPolicy("example.org")})
	if _, err := r.PolicyDomain(); err == nil {
		t.Error("a report of two domains has a policy domain")
	}
}

// schemaKinds are the JSON kinds of the fields of Section 4.4 (Figure 3):
// string, number, object, array (of strings, or of objects for
// policies[] and failure-details[]).
var schemaKinds = map[string]string{
	"organization-name": "string", "date-range": "object", "date-range.start-datetime": "string",
	"date-range.end-datetime": "string", "contact-info": "string", "report-id": "string",
	"policies[]": "array", "policies[].policy": "object", "policies[].policy.policy-type": "string",
	"policies[].policy.policy-string": "array", "policies[].policy.policy-domain": "string",
	"policies[].policy.mx-host": "array", "policies[].summary": "object",
	"policies[].summary.total-successful-session-count": "number", "policies[].summary.total-failure-session-count": "number",
	"policies[].failure-details": "array", "policies[].failure-details[].result-type": "string",
	"policies[].failure-details[].sending-mta-ip": "string", "policies[].failure-details[].receiving-mx-hostname": "string",
	"policies[].failure-details[].receiving-mx-helo": "string", "policies[].failure-details[].receiving-ip": "string",
	"policies[].failure-details[].failed-session-count":   "number",
	"policies[].failure-details[].additional-information": "string", "policies[].failure-details[].failure-reason-code": "string",
}

// kinds gives the JSON kind of every field path of a document, and
// whether a path met two kinds.
func kinds(v any, prefix string, out map[string]string) error {
	m, ok := v.(map[string]any)
	if !ok {
		return nil
	}
	for k, e := range m {
		p := k
		if prefix != "" {
			p = prefix + "." + k
		}
		if k == "policies" {
			p += "[]"
		}
		var kind string
		switch e.(type) {
		case string:
			kind = "string"
		case float64:
			kind = "number"
		case map[string]any:
			kind = "object"
		case []any:
			kind = "array"
		default:
			kind = fmt.Sprintf("%T", e)
		}
		if old, seen := out[p]; seen && old != kind {
			return fmt.Errorf("%s is both %s and %s", p, old, kind)
		}
		out[p] = kind
		if err := kinds(e, p, out); err != nil {
			return err
		}
		if arr, ok := e.([]any); ok {
			sub := p
			if k == "failure-details" {
				sub += "[]"
			}
			for _, x := range arr {
				if err := kinds(x, sub, out); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// checkSchema checks a report's JSON against Section 4.4 field by field:
// every field one of the schema's with the schema's kind, every required
// field present, the values of their grammar (read strictly into a Report:
// RFC 3339 dates, addresses, counts), the known policy and result types,
// each summary's failures the sum of its details; and the JSON is what
// Report writes back.
func checkSchema(t *testing.T, name string, raw []byte) {
	t.Helper()
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	got := map[string]string{}
	if err := kinds(v, "", got); err != nil {
		t.Errorf("%s: %v", name, err)
	}
	for p, k := range got {
		if want, ok := schemaKinds[p]; !ok {
			t.Errorf("%s: field %s is not in the schema of Section 4.4", name, p)
		} else if k != want {
			t.Errorf("%s: field %s is a JSON %s, the schema's is a %s", name, p, k, want)
		}
	}
	// Every field is required but those of failure details, of which
	// result-type and failed-session-count are, when there are details.
	details := got["policies[].failure-details[].result-type"] != "" || got["policies[].failure-details[].failed-session-count"] != ""
	for p := range schemaKinds {
		detail := strings.HasPrefix(p, "policies[].failure-details[].")
		required := !detail || details && (p == "policies[].failure-details[].result-type" || p == "policies[].failure-details[].failed-session-count")
		if _, ok := got[p]; required && !ok {
			t.Errorf("%s: required field %s missing", name, p)
		}
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	var r Report
	if err := dec.Decode(&r); err != nil {
		t.Fatalf("%s: does not read as a Report: %v", name, err)
	}
	for _, p := range r.Policies {
		if !p.Policy.Type.Known() {
			t.Errorf("%s: policy-type %q", name, p.Policy.Type)
		}
		var failed int64
		for _, f := range p.FailureDetails {
			failed += f.FailedSessionCount
			if !f.ResultType.Known() {
				t.Errorf("%s: result-type %q", name, string(f.ResultType))
			}
		}
		if failed != p.Summary.TotalFailure {
			t.Errorf("%s: total-failure-session-count %d, its details %d", name, p.Summary.TotalFailure, failed)
		}
	}
	back, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var want, again any
	_ = json.Unmarshal(raw, &want)
	_ = json.Unmarshal(back, &again)
	if !reflect.DeepEqual(want, again) {
		t.Errorf("%s written back differs:\n%s", name, back)
	}
}

// TestRunReportSchema: the reports of the Dialer's real run
// (../testdata/tlsreport.golden, which docs/tlsrpt.md shows; the root
// package's TestTLSReportRun makes it) against the schema of Section 4.4,
// field by field, as the RFC's own example (Appendix B) is: the example
// passes the same check, so the check is the RFC's reading.
func TestRunReportSchema(t *testing.T) {
	example, err := os.ReadFile("testdata/rfc8460-appendix-b.json")
	if err != nil {
		t.Fatal(err)
	}
	// The example writes "0012" where RFC 5952 writes "12" (see
	// TestRFCExample): canonical, it reads back the same.
	checkSchema(t, "Appendix B", []byte(strings.NewReplacer(":0012:", ":12:", ":0013:", ":13:").Replace(string(example))))

	raw, err := os.ReadFile("../testdata/tlsreport.golden")
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	n := 0
	for ; ; n++ {
		var doc json.RawMessage
		if err := dec.Decode(&doc); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("report %d: %v", n+1, err)
		}
		checkSchema(t, fmt.Sprintf("tlsreport.golden, report %d", n+1), doc)
	}
	if n != 2 {
		t.Errorf("%d reports in the run's golden file, want 2 (the MTA-STS and the DANE policy domains)", n)
	}
}
