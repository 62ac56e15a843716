package main

import (
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var tlsDomains = zonesDir + "tls.example.domains"

// lintFindings runs lint --json and returns each domain's findings as
// "check host".
func lintFindings(t *testing.T, a ...string) (map[string][]string, int) {
	t.Helper()
	res := runBinary(t, append(list("lint", "--json"), a...)...)
	found := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(res.stdout), "\n") {
		var l jsonLint
		require.NoError(t, json.Unmarshal([]byte(line), &l), res.stdout+res.stderr)
		found[l.Domain] = []string{}
		for _, f := range l.Findings {
			require.NotEmpty(t, f.Rule, "every finding cites its rule")
			found[l.Domain] = append(found[l.Domain], strings.TrimSpace(f.Check+" "+f.Host))
		}
	}
	return found, res.status
}

// Each domain of the TLS zone plants one fault: lint finds it, and nothing
// else, with or without --mta-sts and --dane (lint's TLS checks run always),
// over the wire with the DNSSEC status (--dane or --dnssec: tlsa-unsigned
// too) and offline from the zone file (no DNSSEC status: no tlsa-unsigned).
func TestLintTLSZone(t *testing.T) {
	t.Parallel()
	ps := servePolicies(t, stsPolicies, "nopolicy.tls.example")
	server := tlsDNS(t)
	want := map[string][]string{
		"good.tls.example":      {},
		"badrecord.tls.example": {"sts-record-invalid"},
		"nopolicy.tls.example":  {"sts-policy-unavailable"},
		"mismatch.tls.example":  {"sts-mx-mismatch mx1.tls.example"},
		"shortage.tls.example":  {"sts-max-age-short"},
		"unsigned.tls.example":  {"tlsa-unsigned mx.insecure.tls.example"},
		"pkix.tls.example":      {"tlsa-unusable mx-pkix.tls.example"},
		"norpt.tls.example":     {"tlsrpt-missing"},
		"danenorpt.tls.example": {"tlsrpt-missing mx3.tls.example"},
		"badrpt.tls.example":    {"tlsrpt-invalid"},
	}
	offline := map[string][]string{}
	for d, f := range want {
		offline[d] = f
	}
	offline["unsigned.tls.example"] = []string{}
	tests := []struct {
		name       string
		args       []string
		want       map[string][]string
		wantStatus int
		reason     string
	}{
		{"--dane", list("--server", server, "--dane"), want, 2, "the DNSSEC status is known: every fault"},
		{"--dnssec", list("--server", server, "--dnssec"), want, 2, "--dnssec knows the status too (mx-not-authenticated finds nothing: every MX RRset and host is signed but mx.insecure's, and that host's finding is tlsa-unsigned's)"},
		{"no TLS flags", list("--server", server), offline, 2, "no DNSSEC status: tlsa-unsigned cannot tell; every other check runs"},
		{"zone", list("--zone", tlsZone), offline, 2, "offline, from the zone file: the same"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			a := args(tt.args, ps.flags, list("--from", tlsDomains))
			found, status := lintFindings(t, a...)
			if tt.name == "--dnssec" {
				// mx.insecure's addresses are not authenticated either.
				assert.Equal(t, []string{"mx-not-authenticated mx.insecure.tls.example", "tlsa-unsigned mx.insecure.tls.example"}, found["unsigned.tls.example"])
				found["unsigned.tls.example"] = want["unsigned.tls.example"]
			}
			assert.Equal(t, tt.want, found, tt.reason)
			assert.Equal(t, tt.wantStatus, status, tt.reason)
		})
	}
}

// The text of lint's TLS findings, as the manual shows it.
func TestLintTLSGolden(t *testing.T) {
	t.Parallel()
	ps := servePolicies(t, stsPolicies, "nopolicy.tls.example")
	res := runBinary(t, args(list("lint", "--dane", "--server", tlsDNS(t)), ps.flags, list("--from", tlsDomains))...)
	assert.Equal(t, 2, res.status, res.stderr)
	assert.Empty(t, res.stderr)
	golden(t, "lint_tls", res.stdout)
	res = runBinary(t, args(list("lint", "--json", "--dane", "--server", tlsDNS(t)), ps.flags, list("mismatch.tls.example", "pkix.tls.example"))...)
	assert.Equal(t, 2, res.status, res.stderr)
	golden(t, "lint_tls_json", res.stdout)
}

// With --mta-sts, lint routes as an MTA-STS sender: a domain whose only MX
// the policy excludes is a route that defers (route-failed) besides
// sts-mx-mismatch, and the excluded host is no failed lookup.
func TestLintMTASTSRoute(t *testing.T) {
	t.Parallel()
	ps := servePolicies(t, stsPolicies)
	found, status := lintFindings(t, args(list("--zone", tlsZone, "--mta-sts"), ps.flags, list("mismatch.tls.example", "good.tls.example"))...)
	assert.Equal(t, 2, status)
	assert.Equal(t, map[string][]string{
		"mismatch.tls.example": {"route-failed", "sts-mx-mismatch mx1.tls.example"},
		"good.tls.example":     {},
	}, found, "no mx-lookup-failed for the host the policy excludes")
	assert.Equal(t, int64(2), ps.requests.Load(), "one fetch per policy domain, the Router's and lint's checks together")
}

// sts-record-invalid: every way a record meant as MTA-STS leaves the
// domain without a policy (RFC 8461, Section 3.1); records that are not
// MTA-STS at all are no finding.
func TestLintSTSRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		txts    []string
		want    string // the finding's message; "" for none
		fetches int64
		reason  string
	}{
		{"valid", list(`"v=STSv1; id=20240101"`), "", 1, "a record, a policy"},
		{"two strings", list(`"v=STSv1; " "id=1;"`), "", 1, "Section 3.1: the strings of a record are concatenated"},
		{"other TXT beside it", list(`"v=STSv1; id=1"`, `"google-site-verification=abc"`), "", 1, "records not beginning with v=STSv1 are discarded"},
		{"no semicolon", list(`"v=STSv1 id=1"`),
			`_mta-sts.a.sts.test: "v=STSv1 id=1" does not begin with "v=STSv1;" and is discarded: senders see no MTA-STS policy`, 0,
			"a record meant as MTA-STS that senders discard, in silence"},
		{"wrong case", list(`"v=STSV1; id=1"`),
			`_mta-sts.a.sts.test: "v=STSV1; id=1" does not begin with "v=STSv1;" and is discarded: senders see no MTA-STS policy`, 0,
			`the version is case-sensitive (%s"v=STSv1")`},
		{"bad id", list(`"v=STSv1; id=2024-01-01"`),
			`_mta-sts.a.sts.test: malformed MTA-STS TXT record "v=STSv1; id=2024-01-01": id "2024-01-01" is not 1 to 32 letters and digits: senders see no MTA-STS policy`, 0,
			"sts-id = 1*32(ALPHA / DIGIT)"},
		{"no id", list(`"v=STSv1;"`),
			`_mta-sts.a.sts.test: malformed MTA-STS TXT record "v=STSv1;": no fields: senders see no MTA-STS policy`, 0,
			"the id is required"},
		{"two records", list(`"v=STSv1; id=1"`, `"v=STSv1; id=2"`),
			`_mta-sts.a.sts.test: more than one MTA-STS TXT record: ["v=STSv1; id=1" "v=STSv1; id=2"]: senders see no MTA-STS policy`, 0,
			"unless exactly one record is left, there is no policy"},
		{"escaped control byte", list(`"v=STSv1; id=1\027x"`),
			`_mta-sts.a.sts.test: malformed MTA-STS TXT record "v=STSv1; id=1\x1bx": malformed field "id=1\x1bx": senders see no MTA-STS policy`, 0,
			"the record's presentation-form escapes are unescaped before parsing, and quoted back in the message"},
		{"other TXT only", list(`"spf-ish"`), "", 0, "no record: no MTA-STS, no finding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := servePolicies(t, map[string]string{"a.sts.test": "version: STSv1\nmode: testing\nmx: mx.sts.test\nmax_age: 604800\n"})
			zone := stsTestZone(t, tt.txts...)
			res := runBinary(t, args(list("lint", "--json", "--zone", zone), ps.flags, list("a.sts.test"))...)
			var l jsonLint
			require.NoError(t, json.Unmarshal([]byte(res.stdout), &l), res.stdout+res.stderr)
			if tt.want == "" {
				assert.Empty(t, l.Findings, tt.reason)
				assert.Equal(t, 0, res.status)
			} else {
				require.Len(t, l.Findings, 1, tt.reason)
				assert.Equal(t, "sts-record-invalid", l.Findings[0].Check)
				assert.Equal(t, tt.want, l.Findings[0].Message, tt.reason)
				assert.Equal(t, 2, res.status, "an error")
			}
			assert.Equal(t, tt.fetches, ps.requests.Load(), "a valid record, one fetch; none, none (%s)", tt.reason)
		})
	}
}

// sts-policy-unavailable: the policy cannot be had, with the RFC 8460
// result a sender reports; a policy host that stalls or trickles is given
// up within the domain's --timeout (half of it: the route goes on), never
// waited for.
func TestLintSTSFetch(t *testing.T) {
	t.Parallel()
	huge := "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 604800\n" + strings.Repeat("x: y\n", 20000)
	tests := []struct {
		name   string
		body   string
		flags  func(ps *policyServer) []string
		want   string // a part of the message
		reason string
	}{
		{"404", "", nil, "(RFC 8460 sts-policy-fetch-error): HTTP status 404 from https://mta-sts.a.sts.test/.well-known/mta-sts.txt",
			"not found"},
		{"text/html", "html", nil, `(RFC 8460 sts-policy-invalid): media type "text/html" from https://mta-sts.a.sts.test/.well-known/mta-sts.txt, not text/plain`,
			"Section 3.3: the media type is text/plain"},
		{"bad policy", "version: STSv1\nmode: enforcing\nmx: mx.sts.test\nmax_age: 1\n", nil,
			`(RFC 8460 sts-policy-invalid): https://mta-sts.a.sts.test/.well-known/mta-sts.txt: malformed MTA-STS policy: mode "enforcing" is not enforce, testing or none`,
			"a policy that does not parse"},
		{"huge", huge, nil, "(RFC 8460 sts-policy-invalid): policy at https://mta-sts.a.sts.test/.well-known/mta-sts.txt is larger than 65536 bytes",
			"the body is bounded"},
		{"untrusted CA", "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 604800\n",
			func(ps *policyServer) []string { return ps.flags[2:] }, // no --ca-file
			"(RFC 8460 sts-webpki-invalid)", "without --ca-file the test CA is not trusted"},
		{"hang", "hang", nil, "(RFC 8460 sts-policy-fetch-error)", "a server that never answers: the fetch gives up"},
		{"TLS stalls", "", func(*policyServer) []string { return list("--connect-to", ":443="+stalledListener(t)) },
			"(RFC 8460 sts-policy-fetch-error)", "a server that accepts and never says a word: the handshake is given up"},
		{"huge header", "bigheader", nil, "server response headers exceeded 65536 bytes", "the response's header is bounded (64 KiB)"},
		{"trickle", "trickle", nil, "(RFC 8460 sts-policy-fetch-error)", "a server that trickles bytes: the fetch gives up"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			bodies := map[string]string{}
			if tt.body != "" {
				bodies["a.sts.test"] = tt.body
			}
			ps := servePolicies(t, bodies, "a.sts.test")
			flags := ps.flags
			if tt.flags != nil {
				flags = tt.flags(ps)
			}
			zone := stsTestZone(t, `"v=STSv1; id=1"`)
			res := runBinary(t, args(list("lint", "--json", "--timeout", "2s", "--zone", zone), flags, list("a.sts.test"))...)
			var l jsonLint
			require.NoError(t, json.Unmarshal([]byte(res.stdout), &l), res.stdout+res.stderr)
			require.Len(t, l.Findings, 1, "%s: %v", tt.reason, l.Findings)
			assert.Equal(t, "sts-policy-unavailable", l.Findings[0].Check)
			assert.Contains(t, l.Findings[0].Message, tt.want, tt.reason)
			assert.True(t, strings.HasPrefix(l.Findings[0].Message, "record id 1, but no policy"), l.Findings[0].Message)
			assert.Equal(t, 2, res.status)
		})
	}
}

// tlsrpt-invalid and tlsrpt-missing: every way a _smtp._tls record leaves
// the domain without reports (RFC 8460, Section 3), and when its absence is
// worth an info (MTA-STS published) or nothing (no policy to report on).
func TestLintTLSRPTRecord(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		sts    bool     // the domain publishes MTA-STS
		txts   []string // at _smtp._tls.a.sts.test, presentation form
		want   string   // "check: message"; "" for none
		reason string
	}{
		{"valid", true, list(`"v=TLSRPTv1; rua=mailto:r@a.sts.test"`), "", "a record: reports"},
		{"two strings", true, list(`"v=TLSRPTv1;" " rua=https://r.sts.test/"`), "", "the strings of a record are concatenated"},
		{"other TXT beside it", true, list(`"v=TLSRPTv1; rua=mailto:r@a.sts.test"`, `"v=spf1 -all"`), "", "records not beginning with v=TLSRPTv1 are discarded"},
		{"none, with MTA-STS", true, nil,
			"tlsrpt-missing: MTA-STS is published (_mta-sts.a.sts.test, id 1), but no TLSRPT record at _smtp._tls.a.sts.test: senders report policy failures to no one",
			"a policy and no one to report its failures to"},
		{"none, without MTA-STS", false, nil, "", "no policy, nothing to report: no finding"},
		{"no semicolon", true, list(`"v=TLSRPTv1 rua=mailto:r@a.sts.test"`),
			`tlsrpt-invalid: _smtp._tls.a.sts.test: "v=TLSRPTv1 rua=mailto:r@a.sts.test" does not begin with "v=TLSRPTv1" and ";", and is discarded: senders send no TLS report`,
			"a record meant as TLSRPT that senders discard, in silence (and no tlsrpt-missing besides)"},
		{"wrong case, without MTA-STS", false, list(`"v=tlsrptv1; rua=mailto:r@a.sts.test"`),
			`tlsrpt-invalid: _smtp._tls.a.sts.test: "v=tlsrptv1; rua=mailto:r@a.sts.test" does not begin with "v=TLSRPTv1" and ";", and is discarded: senders send no TLS report`,
			`the version is case-sensitive (%s"v=TLSRPTv1"); a broken record is a finding with or without a policy`},
		{"no rua", true, list(`"v=TLSRPTv1; x=1"`),
			`tlsrpt-invalid: _smtp._tls.a.sts.test: malformed TLSRPT TXT record "v=TLSRPTv1; x=1": no rua field: senders send no TLS report`,
			"rua is required"},
		{"unencoded !", true, list(`"v=TLSRPTv1; rua=mailto:a@a.sts.test,mailto:b@a.sts.test!x"`),
			`tlsrpt-invalid: _smtp._tls.a.sts.test: malformed TLSRPT TXT record "v=TLSRPTv1; rua=mailto:a@a.sts.test,mailto:b@a.sts.test!x": rua URI "mailto:b@a.sts.test!x": '!' must be percent-encoded: senders send no TLS report`,
			"Section 3: commas, exclamation points and semicolons in a URI MUST be encoded"},
		{"two records", true, list(`"v=TLSRPTv1; rua=mailto:a@a.sts.test"`, `"v=TLSRPTv1; rua=mailto:b@a.sts.test"`),
			`tlsrpt-invalid: _smtp._tls.a.sts.test: more than one TLSRPT TXT record: ["v=TLSRPTv1; rua=mailto:a@a.sts.test" "v=TLSRPTv1; rua=mailto:b@a.sts.test"]: senders send no TLS report`,
			"unless exactly one record is left, the domain has no TLSRPT"},
		{"escaped control byte", true, list(`"v=TLSRPTv1; rua=mailto:r@a.sts.test\027"`),
			`tlsrpt-invalid: _smtp._tls.a.sts.test: malformed TLSRPT TXT record "v=TLSRPTv1; rua=mailto:r@a.sts.test\x1b": rua URI "mailto:r@a.sts.test\x1b": '\x1b' is not a URI character: senders send no TLS report`,
			"unescaped before parsing, quoted back in the message"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ps := servePolicies(t, map[string]string{"a.sts.test": "version: STSv1\nmode: enforce\nmx: mx.sts.test\nmax_age: 604800\n"})
			var sts []string
			if tt.sts {
				sts = list(`"v=STSv1; id=1"`)
			}
			zone := stsTestZone(t, sts...)
			data, err := os.ReadFile(zone)
			require.NoError(t, err)
			data = []byte(strings.Replace(string(data), stsTestTLSRPT, "", 1)) // the records are the case's
			for _, txt := range tt.txts {
				data = append(data, "_smtp._tls.a IN TXT "+txt+"\n"...)
			}
			require.NoError(t, os.WriteFile(zone, data, 0o644))
			res := runBinary(t, args(list("lint", "--json", "--zone", zone), ps.flags, list("a.sts.test"))...)
			var l jsonLint
			require.NoError(t, json.Unmarshal([]byte(res.stdout), &l), res.stdout+res.stderr)
			if tt.want == "" {
				assert.Empty(t, l.Findings, tt.reason)
				assert.Equal(t, 0, res.status)
				return
			}
			require.Len(t, l.Findings, 1, "%s: %v", tt.reason, l.Findings)
			assert.Equal(t, tt.want, l.Findings[0].Check+": "+l.Findings[0].Message, tt.reason)
			assert.Equal(t, "RFC 8460, Section 3", l.Findings[0].Rule)
			if l.Findings[0].Check == "tlsrpt-missing" {
				assert.Equal(t, 0, res.status, "info leaves the exit status alone")
			} else {
				assert.Equal(t, 1, res.status, "a warning")
			}
		})
	}
}
