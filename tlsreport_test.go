package mxroute

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/internal/dnstest"
	"github.com/mxroute-go/mxroute/internal/smtptest"
	"github.com/mxroute-go/mxroute/internal/testpki"
	"github.com/mxroute-go/mxroute/mtasts"
	"github.com/mxroute-go/mxroute/tlsrpt"
)

// TestTLSSession: which ended attempts are RFC 8460 sessions, under which
// policy, with which result and details.
func TestTLSSession(t *testing.T) {
	sts := func(text string) *mtasts.Policy {
		p, err := mtasts.ParsePolicy([]byte(text))
		require.NoError(t, err)
		return p
	}
	enforce := sts("version: STSv1\nmode: enforce\nmx: *.a.test\nmax_age: 86400\n")
	testing_ := sts("version: STSv1\nmode: testing\nmx: mx1.a.test\nmax_age: 86400\n")
	tlsa := dane.NewPolicy("mx1.a.test", "mx1.a.test", dnstest.RRs("_25._tcp.mx1.a.test. 300 IN TLSA 3 1 1 "+strings.Repeat("ab", 32)))
	unusable := dane.NewPolicy("mx1.a.test", "mx1.a.test", dnstest.RRs("_25._tcp.mx1.a.test. 300 IN TLSA 1 1 1 "+strings.Repeat("ab", 32)))
	fetchErr := &mtasts.Error{Result: mtasts.FetchError, Domain: "a.test", Detail: "GET https://mta-sts.a.test/.well-known/mta-sts.txt",
		Err: errors.New("HTTP status 500")}

	local, remote := netip.MustParseAddr("198.51.100.7"), netip.MustParseAddr("192.0.2.1")
	ehlo := smtpReply{code: 250, lines: []string{"250-mx1.a.test Hello client.test", "250 PIPELINING"}}
	ehloTLS := smtpReply{code: 250, lines: []string{"250-mx1.a.test Hello client.test", "250 STARTTLS"}}
	greeting := smtpReply{code: 220, lines: []string{"220 greeter.a.test ESMTP"}}
	state := &tls.ConnectionState{Version: tls.VersionTLS13}
	at := func(p *TLSPolicy, f Failure) *attempt {
		return &attempt{Attempt: Attempt{Target: Target{Host: "mx1.a.test", Preference: 10, Addr: remote, TLS: p}, Failure: f},
			n: 1, greeting: greeting, hello: ehloTLS, local: local}
	}
	detailed := func(pol tlsrpt.Policy, res TLSResult, reason string) *tlsrpt.Session {
		return &tlsrpt.Session{Policy: pol, Failure: res, ReasonCode: reason, SendingIP: local, ReceivingIP: remote,
			MXHost: "mx1.a.test", HELO: "mx1.a.test"}
	}
	stsPol := &TLSPolicy{Mode: TLSMTASTS, Host: "mx1.a.test", MTASTS: enforce}
	notFound := tlsrpt.NoPolicy("a.test")

	tests := []struct {
		reason  string
		a       *attempt
		noStart bool   // Dialer.StartTLS false
		domain  string // "": a.test
		want    *tlsrpt.Session
	}{
		{reason: "a refused connect is no TLS session (Section 4.3.4: transient, nothing of TLS)", a: at(nil, FailRefused)},
		{reason: "a connect timeout neither", a: at(nil, FailConnectTimeout)},
		{reason: "nor an unreachable address", a: at(stsPol, FailUnreachable)},
		{reason: "a greeting that is no 220 neither", a: at(stsPol, FailRejected)},
		{reason: "a greeting late", a: at(nil, FailGreetingTimeout)},
		{reason: "EHLO refused: the session ended before STARTTLS", a: at(stsPol, FailHello)},
		{reason: "a reply late before STARTTLS's outcome", a: at(stsPol, FailReplyTimeout)},
		{reason: "a connection lost before STARTTLS's outcome", a: at(stsPol, FailDropped)},
		{reason: "a malformed reply", a: at(stsPol, FailMalformed)},
		{reason: "cancelled before the handshake was done", a: at(stsPol, FailCancelled)},
		{reason: "the plaintext retry: its failed handshake was counted with the attempt before",
			a: func() *attempt { a := at(nil, 0); a.plain = true; return a }()},
		{reason: "no StartTLS: the Dialer does no TLS", a: func() *attempt { a := at(nil, 0); a.state = state; return a }(), noStart: true},
		{reason: "an address literal has no policy domain", a: func() *attempt { a := at(nil, 0); a.state = state; return a }(),
			domain: "[192.0.2.1]"},

		{reason: "TLS under no policy: a success of no-policy-found, no details",
			a:    func() *attempt { a := at(nil, 0); a.state = state; return a }(),
			want: &tlsrpt.Session{Policy: notFound}},
		{reason: "TLS, then cancelled (another greeted first): the handshake's verdict stands",
			a:    func() *attempt { a := at(stsPol, FailCancelled); a.state = state; return a }(),
			want: &tlsrpt.Session{Policy: tlsrpt.STS("a.test", enforce.String())}},
		{reason: "plaintext, STARTTLS not offered: starttls-not-supported (Section 4.2: no TLS negotiated)",
			a:    func() *attempt { a := at(nil, 0); a.hello = ehlo; return a }(),
			want: detailed(notFound, tlsrpt.StartTLSNotSupported, reasonNoOffer)},
		{reason: "plaintext, STARTTLS offered and refused",
			a:    at(&TLSPolicy{Host: "mx1.a.test"}, 0),
			want: detailed(notFound, tlsrpt.StartTLSNotSupported, reasonRefused)},
		{reason: "a failed opportunistic handshake (retried in plaintext): validation-failure, the error without its type",
			a: func() *attempt {
				a := at(nil, FailTLS)
				a.TLSResult, a.Err = tlsrpt.ValidationFailure, fmt.Errorf("%w: TLS handshake failed: %w", tlsrpt.ValidationFailure, errors.New("remote error: tls: handshake failure"))
				return a
			}(),
			want: detailed(notFound, tlsrpt.ValidationFailure, "TLS handshake failed: remote error: tls: handshake failure")},
		{reason: "DANE, no record matches: under the TLSA base domain, its records, dane's detail",
			a: func() *attempt {
				a := at(&TLSPolicy{Mode: TLSDANE, Host: "mx1.a.test", DANE: tlsa}, FailTLS)
				a.TLSResult = dane.CertificateNotTrusted
				a.Err = fmt.Errorf("the server's certificate fails the dane policy: %w",
					&dane.Error{Result: dane.CertificateNotTrusted, Host: "mx1.a.test", Detail: "no usable TLSA record matches"})
				return a
			}(),
			want: detailed(tlsrpt.TLSA("mx1.a.test", []string{"3 1 1 " + strings.Repeat("ab", 32)}), dane.CertificateNotTrusted,
				"no usable TLSA record matches")},
		{reason: "DANE with unusable records only: encrypted, reported tlsa-invalid",
			a: func() *attempt {
				a := at(&TLSPolicy{Mode: TLSDANE, Host: "mx1.a.test", DANE: unusable}, 0)
				a.state, a.check = state, &dane.Error{Result: dane.TLSAInvalid, Host: "mx1.a.test", Detail: "no usable TLSA record"}
				return a
			}(),
			want: detailed(tlsrpt.TLSA("mx1.a.test", []string{"1 1 1 " + strings.Repeat("ab", 32)}), dane.TLSAInvalid, "no usable TLSA record")},
		{reason: "MTA-STS enforce, another name: under the recipient domain with the policy's text",
			a: func() *attempt {
				a := at(stsPol, FailTLS)
				a.TLSResult = mtasts.CertificateHostMismatch
				a.Err = fmt.Errorf("the server's certificate fails the mta-sts policy: %w",
					&mtasts.Error{Result: mtasts.CertificateHostMismatch, Host: "mx1.a.test", Detail: `certificate names ["x.test"]`,
						Err: errors.New("x509: certificate is valid for x.test, not mx1.a.test")})
				return a
			}(),
			want: detailed(tlsrpt.STS("a.test", enforce.String()), mtasts.CertificateHostMismatch,
				`certificate names ["x.test"]: x509: certificate is valid for x.test, not mx1.a.test`)},
		{reason: "MTA-STS testing: the session went on, the check's failure counts (RFC 8461, Section 5)",
			a: func() *attempt {
				a := at(&TLSPolicy{Mode: TLSMTASTSTesting, Host: "mx1.a.test", MTASTS: testing_}, 0)
				a.state, a.check = state, &mtasts.Error{Result: mtasts.CertificateExpired, Host: "mx1.a.test", Detail: "expired"}
				return a
			}(),
			want: detailed(tlsrpt.STS("a.test", testing_.String()), mtasts.CertificateExpired, "expired")},
		{reason: "MTA-STS testing, a host outside the mx patterns: validation-failure whatever its TLS (enforce would not use it)",
			a: func() *attempt {
				a := at(&TLSPolicy{Mode: TLSMTASTSTesting, Host: "mx1.a.test", MTASTS: testing_}, 0)
				a.Target.Host, a.Target.TLS.Host, a.state = "mx9.a.test", "mx9.a.test", state
				return a
			}(),
			want: func() *tlsrpt.Session {
				s := detailed(tlsrpt.STS("a.test", testing_.String()), tlsrpt.ValidationFailure, reasonNotInSTS)
				s.MXHost = "mx9.a.test"
				return s
			}()},
		{reason: "the MTA-STS fetch failed, nothing cached: sts-policy-fetch-error under the recipient domain, no text, no connection details",
			a: func() *attempt {
				a := at(&TLSPolicy{Host: "mx1.a.test", MTASTSFailure: fetchErr}, 0)
				a.state = state
				return a
			}(),
			want: &tlsrpt.Session{Policy: tlsrpt.Policy{Type: tlsrpt.PolicySTS, Domain: "a.test"}, Failure: mtasts.FetchError,
				ReasonCode: "GET https://mta-sts.a.test/.well-known/mta-sts.txt: HTTP status 500"}},
		{reason: "DANE wins over a failed MTA-STS lookup (RFC 8461, Section 2): counted under DANE",
			a: func() *attempt {
				a := at(&TLSPolicy{Mode: TLSDANE, Host: "mx1.a.test", DANE: tlsa, MTASTSFailure: fetchErr}, 0)
				a.state = state
				return a
			}(),
			want: &tlsrpt.Session{Policy: tlsrpt.TLSA("mx1.a.test", []string{"3 1 1 " + strings.Repeat("ab", 32)})}},
		{reason: "the HELO name from the greeting when the EHLO reply's first word is no domain (go-smtp's \"250-Hello client\")",
			a: func() *attempt {
				a := at(nil, 0)
				a.hello = smtpReply{code: 250, lines: []string{"250-Hello client.test", "250 PIPELINING"}}
				return a
			}(),
			want: func() *tlsrpt.Session {
				s := detailed(notFound, tlsrpt.StartTLSNotSupported, reasonNoOffer)
				s.HELO = "greeter.a.test"
				return s
			}()},
		{reason: "an address literal names the server too",
			a: func() *attempt {
				a := at(nil, 0)
				a.hello = smtpReply{code: 250, lines: []string{"250 [192.0.2.1] at your service"}}
				return a
			}(),
			want: func() *tlsrpt.Session {
				s := detailed(notFound, tlsrpt.StartTLSNotSupported, reasonNoOffer)
				s.HELO = "[192.0.2.1]"
				return s
			}()},
		{reason: "the HELO name from the greeting when there is no EHLO reply",
			a: func() *attempt {
				a := at(nil, 0)
				a.hello = smtpReply{}
				return a
			}(),
			want: func() *tlsrpt.Session {
				s := detailed(notFound, tlsrpt.StartTLSNotSupported, reasonNoOffer)
				s.HELO = "greeter.a.test"
				return s
			}()},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			start := time.Now()
			tt.a.Start = start
			dl := &dialing{d: &Dialer{StartTLS: !tt.noStart}, domain: "a.test"}
			if tt.domain != "" {
				dl.domain = tt.domain
			}
			s, ok := dl.tlsSession(tt.a)
			if tt.want == nil {
				assert.False(t, ok, "counted: %+v", s)
				return
			}
			require.True(t, ok, "not counted")
			want := *tt.want
			want.Time = start
			assert.Equal(t, want, s)
		})
	}
}

// reportDay is the day the tests' sessions are counted on (oneDay).
var reportDay = tlsrpt.Day{Year: 2026, Month: time.May, Day: 1}

// oneDay is a Store that counts every session on reportDay, so that what
// a test reports does not change with the date it runs on.
type oneDay struct{ tlsrpt.Store }

func (s oneDay) Add(ctx context.Context, k tlsrpt.Key, n int64) error {
	k.Day = reportDay
	return s.Store.Add(ctx, k, n)
}

func newReportCollector() *tlsrpt.Collector {
	return &tlsrpt.Collector{Store: oneDay{&tlsrpt.MemoryStore{}}}
}

var reportSubmitter = tlsrpt.Submitter{Domain: "mail.sender.example", Organization: "Sender Inc."}

// reportOf is the report of domain on reportDay.
func reportOf(t *testing.T, c *tlsrpt.Collector, domain string) *tlsrpt.Report {
	t.Helper()
	r, err := c.Report(t.Context(), reportSubmitter, domain, reportDay)
	require.NoError(t, err)
	return r
}

// policyCounts is a report's count of successes and failures, per policy
// type, and its failures' result types, in order.
func policyCounts(r *tlsrpt.Report) (counts map[tlsrpt.PolicyType]tlsrpt.Summary, results []TLSResult) {
	counts = map[tlsrpt.PolicyType]tlsrpt.Summary{}
	for _, p := range r.Policies {
		counts[p.Policy.Type] = p.Summary
		for _, f := range p.FailureDetails {
			results = append(results, f.ResultType)
		}
	}
	return counts, results
}

// TestDialerTLSReports: a Dial's attempts counted on the wire, each TLS
// session once, under the policy it applied; attempts that never got to
// TLS are not counted (RFC 8460, Section 4.3.4).
func TestDialerTLSReports(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	good := ca.Issue(t, testpki.Template{CommonName: "mx.test", DNSNames: []string{"mx1.a.test", "mx2.a.test"}})
	other := ca.Issue(t, testpki.Template{CommonName: "mx.test", DNSNames: []string{"mx1.a.test", "mx2.a.test"}})
	wrongName := ca.Issue(t, testpki.Template{CommonName: "mx9.a.test", DNSNames: []string{"mx9.a.test"}})
	rejecting := func(t testing.TB) string { return smtptest.Serve(t, smtptest.Greet("554 5.7.1 no service")).Addr }
	local := netip.MustParseAddr("127.0.0.1")
	tests := []struct {
		reason  string
		dialer  func(t *testing.T) (*Dialer, *testNet)
		servers map[string]func(t testing.TB) string // address -> server
		domain  string
		reports map[string]map[tlsrpt.PolicyType]tlsrpt.Summary
		results map[string][]TLSResult // per report
		detail  *tlsrpt.FailureDetail  // the first failure's, when given
		script  bool                   // the Conn's server is an smtpScript, which takes no message
	}{
		{reason: "a refused connect and a 554 greeting are no TLS sessions: only the one that got TLS counts",
			dialer: startTLSTest, domain: "three.test",
			servers: map[string]func(t testing.TB) string{"192.0.2.21:25": smtptest.ClosedPort, "192.0.2.22:25": rejecting,
				"192.0.2.23:25": mailServer(good)},
			reports: map[string]map[tlsrpt.PolicyType]tlsrpt.Summary{"three.test": {tlsrpt.PolicyNotFound: {TotalSuccessful: 1}}},
			results: map[string][]TLSResult{"three.test": nil}},
		{reason: "a failed opportunistic handshake counts once; its plaintext retry is the same session",
			dialer: startTLSTest, domain: "two.test",
			servers: map[string]func(t testing.TB) string{"192.0.2.11:25": (&smtpScript{upgrade: breakTLS}).serve},
			reports: map[string]map[tlsrpt.PolicyType]tlsrpt.Summary{"two.test": {tlsrpt.PolicyNotFound: {TotalFailure: 1}}},
			results: map[string][]TLSResult{"two.test": {tlsrpt.ValidationFailure}},
			detail: &tlsrpt.FailureDetail{ResultType: tlsrpt.ValidationFailure, SendingMTAIP: local, ReceivingMXHostname: "mx1.two.test",
				ReceivingMXHELO: "mx.test", ReceivingIP: netip.MustParseAddr("192.0.2.11"), FailedSessionCount: 1,
				FailureReasonCode: "TLS handshake failed: tls: first record does not look like a TLS handshake; retried in plaintext"},
			script: true},
		{reason: "STARTTLS not offered: plaintext under no policy is a failure to negotiate TLS",
			dialer: startTLSTest, domain: "two.test",
			servers: map[string]func(t testing.TB) string{"192.0.2.11:25": mailServer(nil)},
			reports: map[string]map[tlsrpt.PolicyType]tlsrpt.Summary{"two.test": {tlsrpt.PolicyNotFound: {TotalFailure: 1}}},
			results: map[string][]TLSResult{"two.test": {tlsrpt.StartTLSNotSupported}}},
		{reason: "DANE: the host whose key no record matches, counted under its TLSA base domain; the next host's success under its own",
			dialer:  func(t *testing.T) (*Dialer, *testNet) { d, n, _ := daneStartTLS(t, good); return d, n },
			domain:  "a.test",
			servers: map[string]func(t testing.TB) string{"192.0.2.1:25": mailServer(other), "192.0.2.2:25": mailServer(good)},
			reports: map[string]map[tlsrpt.PolicyType]tlsrpt.Summary{
				"mx1.a.test": {tlsrpt.PolicyTLSA: {TotalFailure: 1}}, "mx2.a.test": {tlsrpt.PolicyTLSA: {TotalSuccessful: 1}},
				"a.test": {}},
			results: map[string][]TLSResult{"mx1.a.test": {dane.CertificateNotTrusted}}},
		{reason: "MTA-STS enforce: the host with another name and the next host's success, both under the recipient domain",
			dialer:  func(t *testing.T) (*Dialer, *testNet) { d, n, _ := mtastsStartTLS(t, "enforce", ca); return d, n },
			domain:  "a.test",
			servers: map[string]func(t testing.TB) string{"192.0.2.1:25": mailServer(wrongName), "192.0.2.2:25": mailServer(good)},
			reports: map[string]map[tlsrpt.PolicyType]tlsrpt.Summary{"a.test": {tlsrpt.PolicySTS: {TotalSuccessful: 1, TotalFailure: 1}}},
			results: map[string][]TLSResult{"a.test": {mtasts.CertificateHostMismatch}}},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			d, n := tt.dialer(t)
			for addr, serve := range tt.servers {
				n.set(addr, serve(t))
			}
			for _, addr := range []string{"192.0.2.12:25", "192.0.2.2:25"} {
				if _, ok := tt.servers[addr]; !ok {
					n.set(addr, mailServer(good)(t))
				}
			}
			c := newReportCollector()
			d.TLSReports = c
			conn, err := d.Dial(t.Context(), tt.domain)
			require.NoError(t, err)
			if tt.script {
				require.NoError(t, conn.Close())
			} else {
				deliver(t, conn)
			}
			for domain, want := range tt.reports {
				counts, results := policyCounts(reportOf(t, c, domain))
				assert.Equal(t, want, counts, domain)
				assert.Equal(t, tt.results[domain], results, domain)
			}
			if tt.detail != nil {
				r := reportOf(t, c, tt.domain)
				require.NotEmpty(t, r.Policies)
				require.NotEmpty(t, r.Policies[0].FailureDetails)
				assert.Equal(t, *tt.detail, r.Policies[0].FailureDetails[0])
			}
		})
	}
}

// failingStore is a Store whose every Add fails, or waits a while first.
type failingStore struct {
	tlsrpt.MemoryStore
	err  error
	wait time.Duration

	mu     sync.Mutex
	ctxErr []error // ctx.Err() at the end of each Add
}

func (s *failingStore) Add(ctx context.Context, k tlsrpt.Key, n int64) error {
	time.Sleep(s.wait)
	s.mu.Lock()
	s.ctxErr = append(s.ctxErr, ctx.Err())
	s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	return s.MemoryStore.Add(ctx, k, n)
}

// TestDialerTLSReportsStoreFails: a Collector that cannot count never
// fails the delivery: the Conn comes back, the trace says what was not
// counted.
func TestDialerTLSReportsStoreFails(t *testing.T) {
	d, n := startTLSTest(t)
	n.set("192.0.2.11:25", mailServer(nil)(t))
	d.TLSReports = &tlsrpt.Collector{Store: &failingStore{err: errors.New("database is down")}}
	var mu sync.Mutex
	var events []Event
	d.Router.Trace = func(_ context.Context, e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	c, err := d.Dial(t.Context(), "two.test")
	require.NoError(t, err, "the delivery goes on")
	deliver(t, c)
	mu.Lock()
	defer mu.Unlock()
	var seen []Event
	for _, e := range events {
		if e.Step == StepTLSReport {
			seen = append(seen, e)
		}
	}
	require.Len(t, seen, 1, "one session, one event")
	assert.ErrorContains(t, seen[0].Err, "database is down")
	assert.Contains(t, seen[0].Message, "not counted (delivery goes on)")
	assert.Equal(t, "mx1.two.test", seen[0].Host)
	assert.Equal(t, "tls-report", StepTLSReport.String())
}

// TestDialerTLSReportsWaited: the Add of a slow Store runs beside the Dial,
// which returns only once it has ended, and with the caller's ctx, which
// the Dial's return does not cancel.
func TestDialerTLSReportsWaited(t *testing.T) {
	d, n := startTLSTest(t)
	n.set("192.0.2.11:25", smtptest.ClosedPort(t))
	n.set("192.0.2.12:25", mailServer(nil)(t))
	s := &failingStore{wait: 200 * time.Millisecond}
	d.TLSReports = &tlsrpt.Collector{Store: s}
	var mu sync.Mutex
	var traced []string
	d.Router.Trace = func(_ context.Context, e Event) {
		if e.Step == StepTLSReport || e.Step == StepGreeted {
			mu.Lock()
			traced = append(traced, e.Step.String())
			mu.Unlock()
		}
	}
	c, err := d.Dial(t.Context(), "two.test")
	require.NoError(t, err)
	defer c.Close()
	counters, _ := s.Counters(t.Context(), tlsrpt.DayOf(time.Now()), "two.test")
	if len(counters) == 0 { // a test run across midnight UTC
		counters, _ = s.Counters(t.Context(), tlsrpt.DayOf(time.Now()).AddDays(-1), "two.test")
	}
	require.Len(t, counters, 1, "counted before Dial returned")
	assert.Equal(t, tlsrpt.StartTLSNotSupported, counters[0].Result)
	s.mu.Lock()
	assert.Equal(t, []error{nil}, s.ctxErr, "the caller's ctx, not one the Dial ended")
	s.mu.Unlock()
	mu.Lock()
	assert.ElementsMatch(t, []string{"greeted", "tls-report"}, traced)
	mu.Unlock()
}

// TestReportDialer: the Dialer that delivers the reports has no
// TLSReports and a Router without MTASTS and DANE, so that a report gets
// through a receiver whose TLS fails its policy (RFC 8460, Section 3: "MUST
// deliver reports despite any TLS-related failures") and is never counted
// in a report itself: the DANE host whose key no record matches, which the
// mail Dialer passes over, takes the report.
func TestReportDialer(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	good := ca.Issue(t, testpki.Template{CommonName: "mx.test"})
	other := ca.Issue(t, testpki.Template{CommonName: "mx.test"})
	mail, n, _ := daneStartTLS(t, good)
	n.set("192.0.2.1:25", mailServer(other)(t))
	n.set("192.0.2.2:25", smtptest.ClosedPort(t))
	mail.TLSReports = newReportCollector()
	_, err := mail.Dial(t.Context(), "a.test")
	require.ErrorIs(t, err, ErrNoConnection, "the mail waits: no host passes DANE")
	assert.Equal(t, tlsrpt.Summary{TotalFailure: 1}, reportOf(t, mail.TLSReports, "mx1.a.test").Policies[0].Summary)

	reports := *mail
	reports.Router = &Router{Resolver: mail.Router.Resolver} // the same DNS, no TLS policies
	reports.TLSReports = nil
	c, err := reports.Dial(t.Context(), "a.test")
	require.NoError(t, err, "the report gets through")
	assert.Equal(t, "mx1.a.test", c.Target.Host)
	assert.NotNil(t, c.TLSState, "over TLS still, opportunistic")
	deliver(t, c)
	assert.Equal(t, tlsrpt.Summary{TotalFailure: 1}, reportOf(t, mail.TLSReports, "mx1.a.test").Policies[0].Summary,
		"the report's own delivery counted nowhere")
}

var updateGolden = flag.Bool("update", false, "rewrite testdata/tlsreport.golden with the current output")

// TestTLSReportRun: the TLS report of a real run, the one docs/tlsrpt.md
// shows. shop.example has three MX hosts, each a go-smtp server on
// loopback: mx1 has a DANE-EE record (DNSSEC-signed, as a validating
// resolver vouches) for a key it does not present; mx2 and mx3 have no
// TLSA records (an authenticated denial) and fall under the domain's
// MTA-STS policy in mode enforce, fetched over HTTPS, and mx2's
// certificate names another host. The Dialer passes over mx1 and mx2 and
// delivers to mx3; its TLSReports then give two reports: shop.example's
// (the MTA-STS policy: one success, one certificate-host-mismatch) and
// mx1.shop.example's (the TLSA record: one certificate-not-trusted). The
// TLSA record's key is fixed (testpki.KeyFrom) and the sessions are
// counted on one day (oneDay), so the reports are the same on every run;
// the addresses are the zone's, mapped to the loopback servers, and the
// sending address is the sockets' own, 127.0.0.1.
func TestTLSReportRun(t *testing.T) {
	const policy = "version: STSv1\nmode: enforce\nmx: *.shop.example\nmax_age: 604800\n"
	mailCA := testpki.NewRoot(t, "mail CA")
	right := mailCA.Issue(t, testpki.Template{CommonName: "mx1.shop.example", DNSNames: []string{"mx1.shop.example"},
		Key: testpki.KeyFrom("mx1.shop.example, the key its TLSA record names")})
	mx1 := mailCA.Issue(t, testpki.Template{CommonName: "mx1.shop.example", DNSNames: []string{"mx1.shop.example"}}) // another key
	mx2 := mailCA.Issue(t, testpki.Template{CommonName: "mail.elsewhere.example", DNSNames: []string{"mail.elsewhere.example"}})
	mx3 := mailCA.Issue(t, testpki.Template{CommonName: "mx3.shop.example", DNSNames: []string{"mx3.shop.example"}})
	dns := &validatingServer{rrs: dnstest.RRs(
		"shop.example. 300 IN MX 10 mx1.shop.example.", "shop.example. 300 IN MX 20 mx2.shop.example.",
		"shop.example. 300 IN MX 30 mx3.shop.example.",
		"mx1.shop.example. 300 IN A 192.0.2.1", "mx2.shop.example. 300 IN A 192.0.2.2", "mx3.shop.example. 300 IN A 192.0.2.3",
		tlsaFor(t, "mx1.shop.example", right),
		`_mta-sts.shop.example. 300 IN TXT "v=STSv1; id=20260501"`)}

	policyCA := testpki.NewRoot(t, "policy CA")
	policyHost := policyCA.Issue(t, testpki.Template{CommonName: "mta-sts.shop.example", DNSNames: []string{"mta-sts.shop.example"}})
	client := testpki.ServeHTTPS(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, policy)
	}), testpki.Pool(policyCA), policyHost.TLS())

	n := newTestNet()
	for i, cert := range []*testpki.Cert{mx1, mx2, mx3} {
		c := cert.TLS()
		n.set(fmt.Sprintf("192.0.2.%d:25", i+1), smtptest.StartMail(t, fmt.Sprintf("mx%d.shop.example", i+1), &c).Addr)
	}
	reports := newReportCollector()
	d := &Dialer{
		Router: &Router{
			Resolver: &DNSResolver{Servers: []string{dnstest.Serve(t, dns)}, Timeout: 2 * time.Second, Attempts: 1, DNSSEC: true},
			DANE:     true,
			MTASTS:   &mtasts.Client{Fetcher: mtasts.Fetcher{Client: client, Timeout: 5 * time.Second}},
			RootCAs:  testpki.Pool(mailCA),
		},
		DialContext: n.dial,
		StartTLS:    true,
		Hello:       "mail.sender.example",
		TLSReports:  reports,
	}
	c, err := d.Dial(t.Context(), "shop.example")
	require.NoError(t, err)
	require.Equal(t, "mx3.shop.example", c.Target.Host)
	deliver(t, c)

	due, err := reports.Store.Pending(t.Context(), reportDay.AddDays(1))
	require.NoError(t, err)
	var domains []string
	for _, dd := range due {
		domains = append(domains, dd.Domain)
	}
	assert.ElementsMatch(t, []string{"shop.example", "mx1.shop.example"}, domains, "the policy domains with a report due")
	var out bytes.Buffer
	for _, domain := range []string{"shop.example", "mx1.shop.example"} {
		enc := json.NewEncoder(&out)
		enc.SetIndent("", "  ")
		require.NoError(t, enc.Encode(reportOf(t, reports, domain)))
	}
	const golden = "testdata/tlsreport.golden"
	if *updateGolden {
		require.NoError(t, os.WriteFile(golden, out.Bytes(), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), out.String(), "the reports of the run (go test -run TestTLSReportRun -update rewrites %s)", golden)

	doc, err := os.ReadFile("docs/tlsrpt.md")
	require.NoError(t, err)
	assert.Contains(t, string(doc), "```json\n"+string(want)+"```\n", "docs/tlsrpt.md shows %s as it is", golden)
}

// BenchmarkDialTLSReports: a Dial with StartTLS to a go-smtp server on
// loopback (opportunistic TLS, one target), without TLSReports and with a
// Collector over a MemoryStore: what counting each session costs beside
// the session itself.
func BenchmarkDialTLSReports(b *testing.B) {
	ca := testpki.NewRoot(b, "CA")
	cert := ca.Issue(b, testpki.Template{CommonName: "mx.one.test", DNSNames: []string{"mx.one.test"}})
	n := newTestNet()
	n.set("192.0.2.1:25", mailServer(cert)(b))
	for _, bc := range []struct {
		name    string
		reports *tlsrpt.Collector
	}{{"nil", nil}, {"memory", &tlsrpt.Collector{}}} {
		b.Run(bc.name, func(b *testing.B) {
			d := &Dialer{Router: &Router{Resolver: testZone(b, "test.", dialZone)}, DialContext: n.dial, StartTLS: true,
				Hello: "client.test", TLSReports: bc.reports}
			b.ReportAllocs()
			for b.Loop() {
				c, err := d.Dial(b.Context(), "one.test")
				if err != nil {
					b.Fatal(err)
				}
				_ = c.Close()
			}
		})
	}
}
