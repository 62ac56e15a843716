package tlsrpt

import (
	"encoding/json"
	"errors"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// The collector's sessions are of 2016-04-01, the day of the RFC's example.
var (
	testNow = time.Date(2016, 4, 1, 12, 0, 0, 0, time.UTC)
	testDay = DayOf(testNow)
	testSub = Submitter{Domain: "mail.sender.example", Organization: "Sender Inc."}
)

// testSessions are a day's sessions to example.com and its MX hosts, with
// what the report of example.com should say of them; each is of testNow
// unless it says otherwise.
func testSessions() []Session {
	s := daySessions()
	for i := range s {
		if s[i].Time.IsZero() {
			s[i].Time = testNow
		}
	}
	return s
}

func daySessions() []Session {
	sts := STS("example.com", "version: STSv1\r\nmode: enforce\r\nmx: *.example.com\r\nmax_age: 86400\r\n")
	expired := Session{Policy: sts, Failure: CertificateExpired, SendingIP: netip.MustParseAddr("192.0.2.1"),
		ReceivingIP: netip.MustParseAddr("198.51.100.25"), MXHost: "mx1.example.com", HELO: "mx1.example.com"}
	var s []Session
	for range 3 {
		s = append(s, Session{Policy: sts})
	}
	// A success with details: they are not kept, successes count per policy.
	s = append(s, Session{Policy: sts, SendingIP: netip.MustParseAddr("192.0.2.1"), MXHost: "mx2.example.com"})
	s = append(s, expired, expired)
	// The same failure with other names is another detail: names normalised,
	// the sending address given as IPv4-mapped IPv6.
	other := expired
	other.MXHost, other.HELO, other.SendingIP = "MX2.Example.COM.", "mx2\r\n.example.com", netip.MustParseAddr("::ffff:192.0.2.1")
	s = append(s, other)
	// A fetch failure: no host, no addresses.
	s = append(s, Session{Policy: Policy{Type: PolicySTS, Domain: "Example.COM."}, Failure: STSPolicyFetchError,
		ReasonCode: "HTTP 404 from https://mta-sts.example.com/.well-known/mta-sts.txt"})
	// DANE counts under the MX host, the TLSA base domain.
	s = append(s, Session{Policy: TLSA("mx3.example.com", []string{"3 1 1 ABCD"}), Failure: CertificateNotTrusted,
		MXHost: "mx3.example.com", ReasonCode: "no TLSA record matches"})
	// The day before in UTC, though the same date at UTC-5.
	s = append(s, Session{Policy: sts, Time: time.Date(2016, 3, 31, 23, 30, 0, 0, time.UTC).In(time.FixedZone("UTC-5", -5*3600))})
	return s
}

const testReportJSON = `{"organization-name":"Sender Inc.","date-range":{"start-datetime":"2016-04-01T00:00:00Z","end-datetime":"2016-04-01T23:59:59Z"},` +
	`"contact-info":"postmaster@mail.sender.example","report-id":"20160401.example.com@mail.sender.example",` +
	`"policies":[{"policy":{"policy-type":"sts","policy-string":[],"policy-domain":"example.com","mx-host":[]},` +
	`"summary":{"total-successful-session-count":0,"total-failure-session-count":1},` +
	`"failure-details":[{"result-type":"sts-policy-fetch-error","failed-session-count":1,"failure-reason-code":"HTTP 404 from https://mta-sts.example.com/.well-known/mta-sts.txt"}]},` +
	`{"policy":{"policy-type":"sts","policy-string":["version: STSv1","mode: enforce","mx: *.example.com","max_age: 86400"],"policy-domain":"example.com","mx-host":["*.example.com"]},` +
	`"summary":{"total-successful-session-count":4,"total-failure-session-count":3},` +
	`"failure-details":[{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx1.example.com","receiving-mx-helo":"mx1.example.com","receiving-ip":"198.51.100.25","failed-session-count":2},` +
	`{"result-type":"certificate-expired","sending-mta-ip":"192.0.2.1","receiving-mx-hostname":"mx2.example.com","receiving-mx-helo":"mx2.example.com","receiving-ip":"198.51.100.25","failed-session-count":1}]}]}`

// TestCollector: sessions counted per policy domain, UTC day and policy,
// failures per detail, and the report they make.
func TestCollector(t *testing.T) {
	ctx := t.Context()
	c := &Collector{}
	for _, s := range testSessions() {
		if err := c.Add(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	r, err := c.Report(ctx, testSub, "example.com", testDay)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(r); string(b) != testReportJSON {
		t.Errorf("report\n%s\nwant\n%s", b, testReportJSON)
	}
	r, err = c.Report(ctx, testSub, "mx3.example.com", testDay)
	if err != nil || len(r.Policies) != 1 || r.Policies[0].Policy.Type != PolicyTLSA ||
		r.Policies[0].Policy.String[0] != "3 1 1 ABCD" || r.Policies[0].FailureDetails[0].ResultType != CertificateNotTrusted {
		t.Errorf("the DANE report of the TLSA base domain: %+v, %v", r, err)
	}
	r, err = c.Report(ctx, testSub, "example.com", testDay.AddDays(-1))
	if err != nil || len(r.Policies) != 1 || r.Policies[0].Summary.TotalSuccessful != 1 {
		t.Errorf("the session of 23:30 UTC (18:30 at UTC-5) counts on the UTC day before: %+v, %v", r, err)
	}
}

// TestCollectorBadSession: a session that cannot be counted is refused
// with a reason, and nothing is counted.
func TestCollectorBadSession(t *testing.T) {
	ctx := t.Context()
	s := &MemoryStore{}
	c := &Collector{Store: s}
	for _, tc := range []struct {
		s    Session
		want string
	}{
		{Session{}, `policy domain: tlsrpt: not a valid domain ""`},
		{Session{Policy: Policy{Type: "dmarc", Domain: "example.com"}}, `policy type "dmarc"`},
		{Session{Policy: NoPolicy("example.com"), Failure: "certificate-revoked"}, `result type "certificate-revoked"`},
		{Session{Policy: NoPolicy("example.com"), Failure: StartTLSNotSupported, MXHost: "mx host"}, `MX host: tlsrpt: not a valid domain "mx host"`},
	} {
		err := c.Add(ctx, tc.s)
		if !errors.Is(err, ErrBadSession) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want ErrBadSession with %q", tc.s, err, tc.want)
		}
	}
	if p, _ := s.Pending(ctx, testDay.AddDays(9)); len(p) != 0 {
		t.Errorf("a refused session was counted: %v", p)
	}
}

// TestCollectorReportLoop: the sessions that deliver a report are never
// counted (RFC 8460, Section 3: "SHOULD NOT include this SMTP session in
// the next report"), so a report of a failure does not beget a report of
// its own failed delivery, day after day.
func TestCollectorReportLoop(t *testing.T) { synctest.Test(t, testCollectorReportLoop) }

func testCollectorReportLoop(t *testing.T) {
	ctx := t.Context()
	c := &Collector{}
	broken := Session{Policy: STS("example.com", "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400"),
		Failure: CertificateExpired, MXHost: "mx.example.com"}
	if err := c.Add(ctx, broken); err != nil {
		t.Fatal(err)
	}
	for day := range 3 {
		time.Sleep(24 * time.Hour) // the bubble's clock: the next day
		due, err := c.Pending(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if day == 0 && len(due) != 1 {
			t.Fatalf("day 1: %v due, want the first day's report", due)
		}
		if day > 0 && len(due) != 0 {
			t.Fatalf("day %d: %v due: the delivery of a report was counted in a report", day+1, due)
		}
		for _, dd := range due {
			// The report goes to example.com's broken MX: its delivery
			// fails the same way, marked as a report's.
			delivery := broken
			delivery.Report = true
			if err := c.Add(ctx, delivery); err != nil {
				t.Fatal(err)
			}
			if err := c.Done(ctx, dd.Domain, dd.Day); err != nil {
				t.Fatal(err)
			}
		}
	}
	// Unmarked, the same delivery is counted: the test can see a loop.
	if err := c.Add(ctx, broken); err != nil {
		t.Fatal(err)
	}
	time.Sleep(24 * time.Hour)
	if due, _ := c.Pending(ctx); len(due) != 1 {
		t.Errorf("an unmarked session was not counted: %v", due)
	}
}

// TestCollectorPending: a day's report is due once the UTC day is over,
// not before; Done removes it.
func TestCollectorPending(t *testing.T) { synctest.Test(t, testCollectorPending) }

func testCollectorPending(t *testing.T) {
	ctx := t.Context()
	start := time.Now() // the bubble's clock: 2000-01-01 00:00:00 UTC
	c := &Collector{}
	if err := c.Add(ctx, Session{Policy: NoPolicy("example.com")}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(start.Truncate(24 * time.Hour).Add(24*time.Hour - time.Second).Sub(start)) // 23:59:59 UTC
	if due, _ := c.Pending(ctx); len(due) != 0 {
		t.Errorf("due before the day is over: %v", due)
	}
	time.Sleep(time.Second)
	due, _ := c.Pending(ctx)
	if len(due) != 1 || due[0] != (DomainDay{"example.com", DayOf(start)}) {
		t.Errorf("at midnight UTC: %v due, want example.com %s, the day of the session without a Time", due, DayOf(start))
	}
	if err := c.Done(ctx, "Example.com.", DayOf(start)); err != nil {
		t.Fatal(err)
	}
	if due, _ := c.Pending(ctx); len(due) != 0 {
		t.Errorf("due after Done: %v", due)
	}
}

// TestCollectorStoresAgree: the same sessions through a SQLStore give the
// same report as through a MemoryStore, byte for byte.
func TestCollectorStoresAgree(t *testing.T) {
	ctx := t.Context()
	c := &Collector{Store: newSQLStore(t, openSQLite(t), "")}
	for _, s := range testSessions() {
		if err := c.Add(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	r, err := c.Report(ctx, testSub, "example.com", testDay)
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := json.Marshal(r); string(b) != testReportJSON {
		t.Errorf("report through SQLite\n%s\nwant\n%s", b, testReportJSON)
	}
}

// TestCollectorALabels: "the domain MUST consist of the Punycode-encoded
// A-labels and not the U-labels" (RFC 8460, Section 4.4): a policy domain
// and an MX host given as U-labels are counted and reported as A-labels.
func TestCollectorALabels(t *testing.T) {
	ctx := t.Context()
	c := &Collector{}
	s := Session{Policy: NoPolicy("Bücher.Example"), Failure: StartTLSNotSupported, MXHost: "mx.bücher.example", Time: testNow}
	if err := c.Add(ctx, s); err != nil {
		t.Fatal(err)
	}
	sts := STS("bücher.example", "version: STSv1\nmode: enforce\nmx: *.bücher.example\nmx: MX.Example.COM\nmax_age: 86400")
	if err := c.Add(ctx, Session{Policy: sts, Time: testNow}); err != nil {
		t.Fatal(err)
	}
	r, err := c.Report(ctx, testSub, "bücher.example", testDay)
	if err != nil || len(r.Policies) != 2 {
		t.Fatalf("%+v, %v", r, err)
	}
	if mx := r.Policies[1].Policy.MXHost; !slices.Equal(mx, []string{"*.xn--bcher-kva.example", "mx.example.com"}) {
		t.Errorf("mx-host %q: want A-labels", mx)
	}
	if d, h := r.Policies[0].Policy.Domain, r.Policies[0].FailureDetails[0].ReceivingMXHostname; d != "xn--bcher-kva.example" || h != "mx.xn--bcher-kva.example" {
		t.Errorf("policy-domain %q, receiving-mx-hostname %q: want A-labels", d, h)
	}
}

// BenchmarkCollectorAdd: one failed session counted in a MemoryStore, the
// Dialer's per-attempt cost with Dialer.TLSReports.
func BenchmarkCollectorAdd(b *testing.B) {
	c := &Collector{}
	s := Session{Policy: NoPolicy("one.test"), Failure: StartTLSNotSupported, SendingIP: netip.MustParseAddr("127.0.0.1"),
		ReceivingIP: netip.MustParseAddr("192.0.2.1"), MXHost: "mx.one.test", HELO: "mx.one.test", Time: testNow}
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Add(b.Context(), s); err != nil {
			b.Fatal(err)
		}
	}
}
