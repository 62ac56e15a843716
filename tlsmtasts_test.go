package mxroute

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
	"github.com/mxroute-go/mxroute/internal/testpki"
	"github.com/mxroute-go/mxroute/mtasts"
)

// policyHost is an HTTPS server on loopback serving the MTA-STS policy of
// a.test at https://mta-sts.a.test/.well-known/mta-sts.txt, with a
// certificate from a CA made by the test; Fetcher trusts that CA (through
// its *http.Client) and dials the server for any name.
type policyHost struct {
	mu       sync.Mutex
	body     string // "" : HTTP 500; "hang": no answer until the request ends
	requests atomic.Int64
	fetcher  mtasts.Fetcher
}

func newPolicyHost(t *testing.T, body string) *policyHost {
	ph := &policyHost{body: body}
	ca := testpki.NewRoot(t, "mta-sts test CA")
	cert := ca.Issue(t, testpki.Template{CommonName: "mta-sts.a.test", DNSNames: []string{"mta-sts.a.test"}})
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ph.requests.Add(1)
		ph.mu.Lock()
		body := ph.body
		ph.mu.Unlock()
		if body == "hang" {
			<-r.Context().Done()
			return
		}
		if body == "" || r.URL.Path != "/.well-known/mta-sts.txt" {
			http.Error(w, "no", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, body)
	})
	client := testpki.ServeHTTPS(t, h, testpki.Pool(ca), cert.TLS())
	ph.fetcher = mtasts.Fetcher{Client: client, Timeout: 5 * time.Second}
	return ph
}

func (ph *policyHost) serve(body string) {
	ph.mu.Lock()
	defer ph.mu.Unlock()
	ph.body = body
}

func stsPolicy(mode string, mx ...string) string {
	s := "version: STSv1\nmode: " + mode + "\n"
	for _, m := range mx {
		s += "mx: " + m + "\n"
	}
	return s + "max_age: 86400\n"
}

// stsZone is a.test with two MX hosts and the _mta-sts record (id given;
// "" for none).
func stsZone(id string) []string {
	rrs := []string{
		"a.test. 300 IN MX 10 mx1.a.test.",
		"a.test. 300 IN MX 20 mx2.other.test.",
		"mx1.a.test. 300 IN A 192.0.2.1",
		"mx2.other.test. 300 IN A 192.0.2.2",
	}
	if id != "" {
		rrs = append(rrs, `_mta-sts.a.test. 300 IN TXT "v=STSv1; " "id=`+id+`;"`)
	}
	return rrs
}

// stsRouter routes a.test through s (unsigned: no AD) with an MTA-STS
// Client whose TXT questions the Router asks.
func stsRouter(t *testing.T, s *validatingServer, ph *policyHost) *Router {
	r := daneRouter(t, s)
	r.DANE = false
	r.MTASTS = &mtasts.Client{Fetcher: ph.fetcher}
	return r
}

// TestMTASTSModes: RFC 8461, Section 5: enforce makes a host matching no
// mx pattern unusable (temporary, with the policy id); testing reports it
// only; none changes nothing; no record, no policy.
func TestMTASTSModes(t *testing.T) {
	tests := []struct {
		name, policy, id string
		wantErr          bool     // the route defers
		want             []string // per host: TLS mode, or "unusable"
		wantFetches      int64
		reason           string
		failure          TLSResult // TLSPolicy.MTASTSFailure's result; "": none
	}{
		{"enforce", stsPolicy("enforce", "*.a.test"), "1", false, []string{"mta-sts", "unusable"}, 1,
			"Section 4.1: mx2.other.test matches no pattern: not used; mx1 needs WebPKI TLS", ""},
		{"enforce, nothing matches", stsPolicy("enforce", "mx.elsewhere.test"), "1", true, []string{"unusable", "unusable"}, 1,
			"Section 5: no host left: the mail waits (temporary), never a bounce", ""},
		{"testing", stsPolicy("testing", "mx.elsewhere.test"), "1", false, []string{"mta-sts-testing", "mta-sts-testing"}, 1,
			"Section 5: in mode testing failures MUST NOT be treated as delivery failures", ""},
		{"none", "version: STSv1\nmode: none\nmax_age: 86400\n", "1", false, []string{"opportunistic", "opportunistic"}, 1,
			"mode none: no MTA-STS", ""},
		{"no record", stsPolicy("enforce", "mx.elsewhere.test"), "", false, []string{"opportunistic", "opportunistic"}, 0,
			"Section 3.3: no TXT record and nothing cached: no policy, no fetch", ""},
		{"fetch fails, nothing cached", "", "1", false, []string{"opportunistic", "opportunistic"}, 1,
			"Section 3.3: no policy could be fetched: deliver as without MTA-STS; the failure kept for TLSRPT", mtasts.FetchError},
		{"invalid policy, nothing cached", "version: STSv1\nmode: sometimes\nmax_age: 86400\n", "1", false,
			[]string{"opportunistic", "opportunistic"}, 1,
			"Section 3.2: an invalid policy is none; RFC 8460's sts-policy-invalid kept for TLSRPT", mtasts.PolicyInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ph := newPolicyHost(t, tt.policy)
			s := &validatingServer{rrs: dnstest.RRs(stsZone(tt.id)...), insecure: []string{"test."}}
			r := stsRouter(t, s, ph)
			var mu sync.Mutex
			var events []Event
			r.Trace = func(_ context.Context, e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
			rt, err := r.Route(t.Context(), "a.test")
			assert.Equal(t, tt.wantFetches, ph.requests.Load(), "fetches")
			if tt.wantErr {
				require.Error(t, err)
				assert.True(t, IsTemporary(err), tt.reason)
				assert.ErrorIs(t, err, ErrNoAddress)
				assert.ErrorIs(t, err, mtasts.ValidationFailure, "the RFC 8460 result reaches the route's error")
			} else {
				require.NoError(t, err, tt.reason)
			}
			require.NotNil(t, rt)
			require.Len(t, rt.Hosts, 2)
			for i, h := range rt.Hosts {
				if tt.want[i] == "unusable" {
					require.Error(t, h.Err, "%s: %s", h.Name, tt.reason)
					assert.True(t, IsTemporary(h.Err))
					assert.ErrorIs(t, h.Err, ErrMTASTS)
					assert.ErrorIs(t, h.Err, mtasts.ValidationFailure)
					assert.Contains(t, h.Err.Error(), "id 1", "reported with the policy id")
					assert.Equal(t, "4.7.0", h.Err.(*Error).Status)
					continue
				}
				require.NoError(t, h.Err, "%s: %s", h.Name, tt.reason)
				require.NotNil(t, h.TLS)
				assert.Equal(t, tt.want[i], h.TLS.Mode.String(), "%s: %s", h.Name, tt.reason)
				if tt.failure == "" {
					assert.NoError(t, h.TLS.MTASTSFailure, "%s: %s", h.Name, tt.reason)
				} else {
					assert.ErrorIs(t, h.TLS.MTASTSFailure, tt.failure, "%s: %s", h.Name, tt.reason)
				}
			}
			assert.True(t, hasStep(events, StepMTASTS, ""), "the policy decision is traced")
			if tt.name == "testing" {
				assert.True(t, hasStep(events, StepMTASTSHost, "reported only"), tt.reason)
			}
		})
	}
}

// TestMTASTSAntiDowngrade: RFC 8461, Sections 3.3 and 5.1: a valid cached
// policy stays in force when the TXT record is removed, when its lookup
// fails, and when the fetch of a new id fails; a cached, confirmed policy
// costs no fetch.
func TestMTASTSAntiDowngrade(t *testing.T) {
	ph := newPolicyHost(t, stsPolicy("enforce", "mx1.a.test"))
	s := &validatingServer{rrs: dnstest.RRs(stsZone("1")...), insecure: []string{"test."}}
	r := stsRouter(t, s, ph)
	enforced := func(step string) {
		t.Helper()
		rt, err := r.Route(t.Context(), "a.test")
		require.NoError(t, err, step)
		assert.Equal(t, TLSMTASTS, rt.Hosts[0].TLS.Mode, step)
		assert.NoError(t, rt.Hosts[0].TLS.MTASTSFailure, "%s: a policy applies: nothing to report on its lookup", step)
		assert.ErrorIs(t, rt.Hosts[1].Err, ErrMTASTS, "%s: mx2 still excluded", step)
		assert.Equal(t, []Target{{Host: "mx1.a.test", Preference: 10, Addr: rt.Hosts[0].Addrs[0], TLS: rt.Hosts[0].TLS}}, rt.Targets(), step)
	}
	enforced("fetched")
	enforced("cached")
	assert.EqualValues(t, 1, ph.requests.Load(), "a cached policy whose id the record confirms is not fetched again")

	s.set(nil, stsZone("")...)
	enforced("TXT record removed")
	s.set(map[string]int{"_mta-sts.a.test. TXT": dns.RcodeServerFailure}, stsZone("1")...)
	enforced("TXT lookup SERVFAIL")
	ph.serve("")
	s.set(nil, stsZone("2")...)
	enforced("new id, fetch fails")
	assert.EqualValues(t, 2, ph.requests.Load(), "the new id was fetched once")
}

// TestMTASTSEscapedTXT: the Router's own TXT question gives the record's
// bytes: miekg/dns holds a TXT string in presentation form, where a tab is
// \009, and the record "v=STSv1;<tab>id=1;" (a tab is white space of the
// grammar, RFC 8461, Section 3.1) is valid. Before, the escaped strings
// were joined as they were, the record was "malformed", and the policy was
// never fetched.
func TestMTASTSEscapedTXT(t *testing.T) {
	ph := newPolicyHost(t, stsPolicy("enforce", "mx1.a.test"))
	zone := append(stsZone(""), `_mta-sts.a.test. 300 IN TXT "v=STSv1;\009" "id=1;\009x=\"y\\"`)
	s := &validatingServer{rrs: dnstest.RRs(zone...), insecure: []string{"test."}}
	r := stsRouter(t, s, ph)
	rt, err := r.Route(t.Context(), "a.test")
	require.NoError(t, err)
	assert.EqualValues(t, 1, ph.requests.Load(), "the record is valid: the policy is fetched")
	assert.Equal(t, TLSMTASTS, rt.Hosts[0].TLS.Mode)
	assert.ErrorIs(t, rt.Hosts[1].Err, ErrMTASTS)
}

func TestTXTBytes(t *testing.T) {
	tests := []struct{ in, want, reason string }{
		{"v=STSv1; id=1;", "v=STSv1; id=1;", "nothing escaped: the string itself"},
		{`v=STSv1;\009id=1;`, "v=STSv1;\tid=1;", "\\DDD is a byte in decimal"},
		{`\"q\"`, `"q"`, "\\X is X"},
		{`a\\b`, `a\b`, "an escaped backslash"},
		{`\255\000`, "\xff\x00", "the extremes of \\DDD"},
		{`\256`, "256", "not a byte: \\2 and then 56"},
		{`\12`, "12", "two digits are no \\DDD"},
		{`end\`, `end\`, "a lone backslash at the end stays"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, txtBytes(tt.in), "%q: %s", tt.in, tt.reason)
	}
}

// TestMTASTSParallel: the TXT question goes out with the MX question, not
// after it: the server holds the MX answer until the TXT question has
// arrived (a sequential router would never get it, and the test would
// fail on its deadline).
func TestMTASTSParallel(t *testing.T) {
	ph := newPolicyHost(t, stsPolicy("enforce", "mx1.a.test"))
	s := &validatingServer{rrs: dnstest.RRs(stsZone("1")...), insecure: []string{"test."}}
	txtAsked := make(chan struct{})
	var once sync.Once
	gated := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		switch req.Question[0].Qtype {
		case dns.TypeTXT:
			once.Do(func() { close(txtAsked) })
		case dns.TypeMX:
			select {
			case <-txtAsked:
			case <-time.After(3 * time.Second):
				dns.HandleFailed(w, req) // the TXT question never came while MX waited
				return
			}
		}
		s.ServeDNS(w, req)
	})
	r := stsRouter(t, s, ph)
	r.Resolver = &DNSResolver{Servers: []string{serveDNS(t, gated)}, Timeout: 5 * time.Second, Attempts: 1}
	rt, err := r.Route(t.Context(), "a.test")
	require.NoError(t, err)
	assert.Equal(t, TLSMTASTS, rt.Hosts[0].TLS.Mode)
}

// TestMTASTSStream: Targets applies the policy as Route does, and a
// cancelled or abandoned stream leaves no goroutine (goleak, TestMain).
func TestMTASTSStream(t *testing.T) {
	ph := newPolicyHost(t, stsPolicy("enforce", "mx2.other.test"))
	s := &validatingServer{rrs: dnstest.RRs(stsZone("1")...), insecure: []string{"test."}}
	r := stsRouter(t, s, ph)
	rt, err := r.Route(t.Context(), "a.test")
	require.NoError(t, err)
	var got []Target
	for tg, err := range r.Targets(t.Context(), "a.test") {
		require.NoError(t, err)
		got = append(got, tg)
	}
	assert.Equal(t, rt.Targets(), got)
	require.Len(t, got, 1)
	assert.Equal(t, "mx2.other.test", got[0].Host, "mx1 excluded by the policy")
	for range r.Targets(t.Context(), "a.test") {
		break // the MTA-STS goroutine and the lookups end with the loop
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err = r.Route(ctx, "a.test")
	assert.True(t, IsTemporary(err), "a cancelled route defers")
}

// TestMTASTSCacheAndZone: with a Cache in front, a warm route asks nothing;
// a ZoneResolver answers the TXT question as well.
func TestMTASTSCacheAndZone(t *testing.T) {
	ph := newPolicyHost(t, stsPolicy("enforce", "mx1.a.test"))
	s := &validatingServer{rrs: dnstest.RRs(stsZone("1")...), insecure: []string{"test."}}
	r := stsRouter(t, s, ph)
	r.Resolver = &Cache{Resolver: r.Resolver}
	for range 2 {
		rt, err := r.Route(t.Context(), "a.test")
		require.NoError(t, err)
		assert.ErrorIs(t, rt.Hosts[1].Err, ErrMTASTS)
	}
	txt := 0
	for _, q := range s.questions() {
		if strings.HasSuffix(q, " TXT") {
			txt++
		}
	}
	assert.Equal(t, 1, txt, "the Cache answered the second TXT question")

	zone := testZone(t, "test.", strings.Join(append(stsZone("1"), "test. 300 IN SOA ns.test. admin.test. 1 3600 600 86400 300"), "\n"))
	r2 := &Router{Resolver: zone, MTASTS: &mtasts.Client{Fetcher: ph.fetcher}}
	rt, err := r2.Route(t.Context(), "a.test")
	require.NoError(t, err)
	assert.ErrorIs(t, rt.Hosts[1].Err, ErrMTASTS, "the ZoneResolver's TXT record found the policy")
}

// TestDANEOverMTASTS: RFC 8461, Section 2: a host with usable TLSA records
// is DANE's, even one that matches no mx pattern of an enforced policy.
func TestDANEOverMTASTS(t *testing.T) {
	root := testpki.NewRoot(t, "CA")
	leaf := root.Issue(t, testpki.Template{CommonName: "mx2.other.test"})
	ph := newPolicyHost(t, stsPolicy("enforce", "mx1.a.test"))
	s := &validatingServer{rrs: dnstest.RRs(append(stsZone("1"), tlsaFor(t, "mx2.other.test", leaf))...)}
	r := stsRouter(t, s, ph)
	r.DANE = true
	var mu sync.Mutex
	var events []Event
	r.Trace = func(_ context.Context, e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
	rt, err := r.Route(t.Context(), "a.test")
	require.NoError(t, err)
	assert.Equal(t, TLSMTASTS, rt.Hosts[0].TLS.Mode)
	require.NoError(t, rt.Hosts[1].Err, "DANE takes precedence")
	assert.Equal(t, TLSDANE, rt.Hosts[1].TLS.Mode)
	assert.True(t, hasStep(events, StepMTASTSHost, "DANE takes precedence"))
	assert.Equal(t, "dane: 1 TLSA record(s) at _25._tcp.mx2.other.test", rt.Hosts[1].TLS.String())
	assert.Equal(t, "mta-sts: policy id 1 (enforce)", rt.Hosts[0].TLS.String())
}

// TestDANEEncryptUnderMTASTS: a secure TLSA RRset of only unusable records
// (DANE's "encrypt", no authentication) does not take precedence over an
// enforced MTA-STS policy: RFC 8461, Section 2 gives DANE precedence for
// usable TLSA records, and with none usable there is no DANE validation to
// defer to. The policy's WebPKI check (which also requires TLS) applies, and
// a host matching no mx pattern stays unusable; otherwise a domain that
// publishes, say, PKIX-EE(1) records by mistake would lose MTA-STS's
// authentication to any certificate an attacker presents.
func TestDANEEncryptUnderMTASTS(t *testing.T) {
	unusable := " 300 IN TLSA 1 1 1 " + strings.Repeat("ab", 32)
	ph := newPolicyHost(t, stsPolicy("enforce", "mx1.a.test"))
	s := &validatingServer{rrs: dnstest.RRs(append(stsZone("1"),
		"_25._tcp.mx1.a.test."+unusable, "_25._tcp.mx2.other.test."+unusable)...)}
	r := stsRouter(t, s, ph)
	r.DANE = true
	rt, err := r.Route(t.Context(), "a.test")
	require.NoError(t, err)
	require.Len(t, rt.Hosts, 2)
	require.NoError(t, rt.Hosts[0].Err)
	assert.Equal(t, TLSMTASTS, rt.Hosts[0].TLS.Mode, "the enforced policy's WebPKI check, not encryption only")
	assert.NotNil(t, rt.Hosts[0].TLS.TLSConfig().VerifyConnection, "the certificate is verified")
	require.Error(t, rt.Hosts[1].Err, "matches no mx pattern of the enforced policy, and has no usable TLSA record")
	assert.ErrorIs(t, rt.Hosts[1].Err, ErrMTASTS)

	// In mode testing nothing is enforced: DANE's "encrypt" (TLS required)
	// stays, which is stricter than the policy's report-only check.
	ph.serve(stsPolicy("testing", "mx1.a.test"))
	s2 := &validatingServer{rrs: dnstest.RRs(append(stsZone("2"),
		"_25._tcp.mx1.a.test."+unusable)...)}
	r2 := stsRouter(t, s2, ph)
	r2.DANE = true
	rt, err = r2.Route(t.Context(), "a.test")
	require.NoError(t, err)
	assert.Equal(t, TLSDANE, rt.Hosts[0].TLS.Mode)
	assert.True(t, rt.Hosts[0].TLS.Required())
}

// TestResolverTXT: the adapter joins a record's strings without spaces
// (RFC 8461, Section 3.1), says nothing for NXDOMAIN and NODATA, and fails
// for a failed lookup.
func TestResolverTXT(t *testing.T) {
	s := &validatingServer{rrs: dnstest.RRs(`a.test. 300 IN TXT "v=STSv1; " "id=1;"`, `a.test. 300 IN TXT "other"`, "b.test. 300 IN A 192.0.2.1"),
		fail: map[string]int{"c.test. TXT": dns.RcodeServerFailure}}
	r := daneRouter(t, s)
	txt := r.resolverTXT(r.Resolver)
	got, err := txt(t.Context(), "a.test")
	require.NoError(t, err)
	assert.Equal(t, []string{"v=STSv1; id=1;", "other"}, got)
	for _, name := range []string{"b.test", "nowhere.test"} {
		got, err = txt(t.Context(), name)
		assert.NoError(t, err, name)
		assert.Nil(t, got, name)
	}
	_, err = txt(t.Context(), "c.test")
	assert.Error(t, err)
}

// TestMTASTSHangingFetch: a policy host that never answers holds the route
// only until ctx ends: the route defers, and the fetch and the lookup's
// goroutine end with it (goleak, TestMain). That fetch failed (RFC 8461,
// Section 3.3: no policy fetched "for any reason"), so the next delivery
// within RetryAfter goes on as without MTA-STS instead of waiting and
// deferring again, attempt after attempt, until the queue bounces the mail.
func TestMTASTSHangingFetch(t *testing.T) {
	ph := newPolicyHost(t, "hang")
	s := &validatingServer{rrs: dnstest.RRs(stsZone("1")...), insecure: []string{"test."}}
	r := stsRouter(t, s, ph)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	n := 0
	var last error
	for _, err := range r.Targets(ctx, "a.test") {
		n++
		last = err
	}
	assert.Equal(t, 1, n, "no target before the policy is known, then the deferral")
	assert.True(t, IsTemporary(last), "the policy is unknown when ctx ends: defer")
	ctx2, cancel2 := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel2()
	rt, err := r.Route(ctx2, "a.test")
	require.NoError(t, err, "the failed fetch is remembered: no policy, deliver")
	require.Len(t, rt.Hosts, 2)
	for _, h := range rt.Hosts {
		assert.Equal(t, TLSOpportunistic, h.TLS.Mode, h.Name)
	}
	assert.Equal(t, int64(1), ph.requests.Load(), "the policy host is not asked again within RetryAfter")
}
