package mxroute

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/internal/dnstest"
	"github.com/mxroute-go/mxroute/internal/testpki"
	"github.com/mxroute-go/mxroute/mtasts"
)

// validatingServer answers as a validating recursive resolver would: the
// records given (presentation format), CNAMEs chased within them,
// NXDOMAIN or NODATA with a SOA otherwise; the AD bit on every reply but
// those for names at or below an insecure zone; rcodes forced per
// "name TYPE" (FQDN, e.g. "_25._tcp.mx.a.test. TLSA") in fail. It records
// the questions asked.
type validatingServer struct {
	rrs      []dns.RR
	insecure []string       // zones answered without AD (FQDNs)
	fail     map[string]int // "name TYPE" -> rcode
	delay    time.Duration  // every reply delayed so

	mu    sync.Mutex
	asked []string
}

func (s *validatingServer) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	q := req.Question[0]
	name := strings.ToLower(q.Name)
	key := name + " " + dns.TypeToString[q.Qtype]
	s.mu.Lock()
	s.asked = append(s.asked, key)
	s.mu.Unlock()
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	m := new(dns.Msg)
	m.SetReply(req)
	m.RecursionAvailable = true
	m.AuthenticatedData = true
	for _, z := range s.insecure {
		if dns.IsSubDomain(z, name) {
			m.AuthenticatedData = false
		}
	}
	s.mu.Lock()
	rc, failed := s.fail[key]
	all := s.rrs
	s.mu.Unlock()
	if failed {
		m.Rcode, m.AuthenticatedData = rc, false
		_ = w.WriteMsg(m)
		return
	}
	for range 10 {
		exists, cname := false, ""
		for _, rr := range all {
			h := rr.Header()
			if !strings.EqualFold(h.Name, name) {
				continue
			}
			exists = true
			switch {
			case h.Rrtype == q.Qtype:
				m.Answer = append(m.Answer, rr)
			case h.Rrtype == dns.TypeCNAME:
				m.Answer = append(m.Answer, rr)
				cname = strings.ToLower(rr.(*dns.CNAME).Target)
			}
		}
		switch {
		case cname != "" && q.Qtype != dns.TypeCNAME:
			name = cname
			continue
		case !exists:
			m.Rcode = dns.RcodeNameError
		}
		break
	}
	if len(m.Answer) == 0 || m.Rcode == dns.RcodeNameError {
		m.Ns = dnstest.RRs("test. 300 IN SOA ns.test. admin.test. 1 3600 600 86400 300")
	}
	_ = w.WriteMsg(m)
}

// set replaces the records and the forced failures.
func (s *validatingServer) set(fail map[string]int, rrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.rrs, s.fail = dnstest.RRs(rrs...), fail
}

func (s *validatingServer) questions() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.asked...)
}

// daneRouter routes through s over the wire, as a DANE sender: a
// DNSResolver with DNSSEC (a loopback server's AD bit is believed).
func daneRouter(t testing.TB, s *validatingServer) *Router {
	addr := dnstest.Serve(t, s)
	return &Router{Resolver: &DNSResolver{Servers: []string{addr}, Timeout: 2 * time.Second, Attempts: 1, DNSSEC: true}, DANE: true}
}

// tlsaFor is a TLSA record at _25._tcp.<host> for cert: DANE-EE(3), SPKI,
// SHA2-256 ("3 1 1", what most operators publish).
func tlsaFor(t testing.TB, host string, cert *testpki.Cert) string {
	rec, err := dane.NewRecord(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, cert.Cert)
	require.NoError(t, err)
	return "_25._tcp." + host + ". 300 IN TLSA " + rec.String()
}

// TestDANEDecisions: what the TLSA lookups of each host make of it (RFC 7672,
// Section 2.2), over the wire from a server answering as a validating
// resolver.
func TestDANEDecisions(t *testing.T) {
	root := testpki.NewRoot(t, "dane decisions CA")
	leaf := root.Issue(t, testpki.Template{CommonName: "mx.a.test", DNSNames: []string{"mx.a.test"}})
	tlsa := func(host string) string { return tlsaFor(t, host, leaf) }
	base := []string{
		"a.test. 300 IN MX 10 mx.a.test.",
		"mx.a.test. 300 IN A 192.0.2.1",
	}
	tests := []struct {
		name     string
		rrs      []string
		insecure []string
		fail     map[string]int
		// want: the host's TLS mode, or "unusable"; base: the TLSA base domain
		want, base string
		wantAsked  []string // questions that must have been asked
		notAsked   []string // questions that must not have been
		reason     string
	}{
		{name: "usable TLSA", rrs: append(base, tlsa("mx.a.test")), want: "dane", base: "mx.a.test",
			reason: "RFC 7672, Section 2.2: a secure RRset with a usable record: DANE required"},
		{name: "authenticated denial", rrs: base, want: "opportunistic",
			wantAsked: []string{"_25._tcp.mx.a.test. TLSA"},
			reason:    "RFC 7672, Section 2.2: NXDOMAIN with AD is a secure denial: no DANE"},
		{name: "NODATA with AD", rrs: append(base, "_25._tcp.mx.a.test. 300 IN TXT \"x\""), want: "opportunistic",
			reason: "NODATA with AD is a secure denial too"},
		{name: "TLSA SERVFAIL", rrs: append(base, tlsa("mx.a.test")), fail: map[string]int{"_25._tcp.mx.a.test. TLSA": dns.RcodeServerFailure},
			want: "unusable", reason: "RFC 7672, Section 2.1.1: a failed lookup where the zone is signed: the host is unusable, temporary"},
		{name: "TLSA REFUSED", rrs: base, fail: map[string]int{"_25._tcp.mx.a.test. TLSA": dns.RcodeRefused},
			want: "unusable", reason: "any failure, not only SERVFAIL"},
		{name: "TLSA insecure below a signed zone", rrs: append(base, tlsa("mx.a.test")), insecure: []string{"_25._tcp.mx.a.test."},
			want: "opportunistic", reason: "RFC 7672, Section 2.2: an insecure TLSA RRset (no AD, no SERVFAIL) is not used: no DANE, the host stays usable"},
		{name: "MX RRset insecure", rrs: append(base, tlsa("mx.a.test")), insecure: []string{"a.test."},
			want: "opportunistic", notAsked: []string{"_25._tcp.mx.a.test. TLSA"},
			reason: "RFC 7672, Section 2.2.1: DANE only for a secure MX RRset; no TLSA question at all"},
		{name: "addresses insecure", rrs: []string{"a.test. 300 IN MX 10 mx.b.test.", "mx.b.test. 300 IN A 192.0.2.1", tlsa("mx.b.test")},
			insecure: []string{"b.test."}, want: "opportunistic",
			reason: "RFC 7672, Section 2.2.1: the host's address records must be secure too"},
		{name: "addresses insecure, TLSA SERVFAIL", rrs: []string{"a.test. 300 IN MX 10 mx.b.test.", "mx.b.test. 300 IN A 192.0.2.1"},
			insecure: []string{"b.test."}, fail: map[string]int{"_25._tcp.mx.b.test. TLSA": dns.RcodeServerFailure}, want: "opportunistic",
			reason: "an unsigned host zone whose servers fail TLSA questions (common) is not made unusable: DANE does not apply to it"},
		{name: "one family fails, the other secure", rrs: append(base, tlsa("mx.a.test")),
			fail: map[string]int{"mx.a.test. AAAA": dns.RcodeServerFailure}, want: "dane", base: "mx.a.test",
			reason: "a failed AAAA lookup leaves the host usable by IPv4 and must not switch DANE off"},
		{name: "only unusable records", rrs: append(base, "_25._tcp.mx.a.test. 300 IN TLSA 1 1 1 "+strings.Repeat("ab", 32)),
			want: "dane", base: "mx.a.test",
			reason: "RFC 7672, Section 2.2: a secure RRset of unusable records still means TLS (dane.ModeEncrypt)"},
		{name: "CNAME: TLSA at the expanded name", rrs: []string{"a.test. 300 IN MX 10 mx.a.test.", "mx.a.test. 300 IN CNAME srv.a.test.",
			"srv.a.test. 300 IN A 192.0.2.1", tlsa("srv.a.test"), tlsa("mx.a.test")}, want: "dane", base: "srv.a.test",
			reason: "RFC 7672, Section 2.2.2: a secure CNAME expansion: the expanded name first"},
		{name: "CNAME: no TLSA at the expanded name", rrs: []string{"a.test. 300 IN MX 10 mx.a.test.", "mx.a.test. 300 IN CNAME srv.a.test.",
			"srv.a.test. 300 IN A 192.0.2.1", tlsa("mx.a.test")}, want: "dane", base: "mx.a.test",
			wantAsked: []string{"_25._tcp.srv.a.test. TLSA", "_25._tcp.mx.a.test. TLSA"},
			reason:    "RFC 7672, Section 2.2.2: then the original name"},
		{name: "CNAME: expanded lookup fails", rrs: []string{"a.test. 300 IN MX 10 mx.a.test.", "mx.a.test. 300 IN CNAME srv.a.test.",
			"srv.a.test. 300 IN A 192.0.2.1", tlsa("mx.a.test")}, fail: map[string]int{"_25._tcp.srv.a.test. TLSA": dns.RcodeServerFailure},
			want: "unusable", reason: "a failure at the expanded name is not a denial: no falling back to the original"},
		{name: "CNAME into an insecure zone", rrs: []string{"a.test. 300 IN MX 10 mx.a.test.", "mx.a.test. 300 IN CNAME srv.b.test.",
			"srv.b.test. 300 IN A 192.0.2.1", tlsa("mx.a.test")}, insecure: []string{"b.test."}, want: "opportunistic",
			reason: "the address chain is insecure: DANE does not apply"},
		{name: "TLSA owner is a CNAME", rrs: append(base, "_25._tcp.mx.a.test. 300 IN CNAME tlsa.provider.test.",
			strings.Replace(tlsa("x"), "_25._tcp.x.", "tlsa.provider.test.", 1)), want: "dane", base: "mx.a.test",
			reason: "RFC 7672, Section 2.2.3 / RFC 7671: a CNAME at the TLSA name is followed; the base domain stays the host's"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := &validatingServer{rrs: dnstest.RRs(tt.rrs...), insecure: tt.insecure, fail: tt.fail}
			var events []Event
			var mu sync.Mutex
			r := daneRouter(t, s)
			r.Trace = func(_ context.Context, e Event) { mu.Lock(); events = append(events, e); mu.Unlock() }
			rt, err := r.Route(t.Context(), "a.test")
			for _, q := range tt.wantAsked {
				assert.Contains(t, s.questions(), q, tt.reason)
			}
			for _, q := range tt.notAsked {
				assert.NotContains(t, s.questions(), q, tt.reason)
			}
			if tt.want == "unusable" {
				require.Error(t, err, tt.reason)
				assert.True(t, IsTemporary(err), "defer, never bounce: %s", tt.reason)
				assert.ErrorIs(t, err, ErrNoAddress)
				assert.ErrorIs(t, err, dane.DNSSECInvalid, "the route's error carries the RFC 8460 result")
				require.NotNil(t, rt)
				he := rt.Hosts[0].Err
				require.Error(t, he)
				assert.True(t, IsTemporary(he))
				assert.ErrorIs(t, he, ErrTemporary)
				var de *dane.Error
				require.ErrorAs(t, he, &de)
				assert.Equal(t, dane.DNSSECInvalid, de.Result)
				assert.True(t, hasStep(events, StepTLSA, "unusable"), "traced")
				return
			}
			require.NoError(t, err, tt.reason)
			h := rt.Hosts[0]
			require.NotNil(t, h.TLS, "every host has a policy with DANE on")
			assert.Equal(t, tt.want, h.TLS.Mode.String(), tt.reason)
			assert.Equal(t, h.TLS, rt.Targets()[0].TLS, "the Target carries the host's policy")
			if tt.want == "dane" {
				require.NotNil(t, h.TLS.DANE)
				assert.Equal(t, tt.base, h.TLS.DANE.ServerName(), "TLSA base domain: %s", tt.reason)
				assert.Equal(t, "mx.a.test", h.TLS.DANE.Host, "the MX name stays a reference identifier (RFC 7672, Section 3.2.2)")
				assert.True(t, h.TLS.Required())
				assert.Equal(t, tt.base, h.TLS.TLSConfig().ServerName, "SNI is the TLSA base domain (RFC 7672, Section 8.1)")
				assert.True(t, rt.Targets()[0].Authentic, "Target carries Route.Authentic")
			} else {
				assert.Nil(t, h.TLS.DANE)
				assert.False(t, h.TLS.Required())
			}
		})
	}
}

// hasStep reports whether events has step with msg in its Message.
func hasStep(events []Event, step Step, msg string) bool {
	for _, e := range events {
		if e.Step == step && strings.Contains(e.Message, msg) {
			return true
		}
	}
	return false
}

// TestDANEOnlyAsked: without Router.DANE no TLSA question is asked and no
// Host gets a policy; with it, TLSA goes out with the addresses, once per
// host.
func TestDANEOnlyAsked(t *testing.T) {
	root := testpki.NewRoot(t, "CA")
	leaf := root.Issue(t, testpki.Template{CommonName: "mx.a.test"})
	s := &validatingServer{rrs: dnstest.RRs("a.test. 300 IN MX 10 mx.a.test.", "a.test. 300 IN MX 20 mx2.a.test.",
		"mx.a.test. 300 IN A 192.0.2.1", "mx2.a.test. 300 IN AAAA 2001:db8::2", tlsaFor(t, "mx.a.test", leaf))}
	r := daneRouter(t, s)
	r.DANE = false
	rt, err := r.Route(t.Context(), "a.test")
	require.NoError(t, err)
	assert.Nil(t, rt.Hosts[0].TLS, "no policy without MTASTS or DANE")
	for _, q := range s.questions() {
		assert.NotContains(t, q, "TLSA")
	}
	s.mu.Lock()
	s.asked = nil
	s.mu.Unlock()
	r.DANE = true
	rt, err = r.Route(t.Context(), "a.test")
	require.NoError(t, err)
	assert.ElementsMatch(t, []string{"a.test. MX", "mx.a.test. AAAA", "mx.a.test. A", "_25._tcp.mx.a.test. TLSA",
		"mx2.a.test. AAAA", "mx2.a.test. A", "_25._tcp.mx2.a.test. TLSA"}, s.questions())
	assert.Equal(t, TLSDANE, rt.Hosts[0].TLS.Mode)
	assert.Equal(t, TLSOpportunistic, rt.Hosts[1].TLS.Mode)
	assert.Equal(t, "mx2.a.test", rt.Hosts[1].TLS.TLSConfig().ServerName)
}

// TestDANEStreamAndCache: Targets yields what Route gives, policies
// included, skipping a host whose TLSA lookup fails; a warm Cache answers
// the TLSA questions too.
func TestDANEStreamAndCache(t *testing.T) {
	root := testpki.NewRoot(t, "CA")
	leaf := root.Issue(t, testpki.Template{CommonName: "mx2.a.test"})
	s := &validatingServer{rrs: dnstest.RRs("a.test. 300 IN MX 10 mx1.a.test.", "a.test. 300 IN MX 20 mx2.a.test.",
		"mx1.a.test. 300 IN A 192.0.2.1", "mx2.a.test. 300 IN A 192.0.2.2", tlsaFor(t, "mx2.a.test", leaf)),
		fail: map[string]int{"_25._tcp.mx1.a.test. TLSA": dns.RcodeServerFailure}}
	r := daneRouter(t, s)
	r.Resolver = &Cache{Resolver: r.Resolver, FailureTTL: time.Second}
	for round := range 2 {
		rt, err := r.Route(t.Context(), "a.test")
		require.NoError(t, err, "round %d", round)
		require.Len(t, rt.Hosts, 2)
		assert.ErrorIs(t, rt.Hosts[0].Err, dane.DNSSECInvalid, "round %d: mx1's TLSA lookup failed", round)
		assert.Equal(t, TLSDANE, rt.Hosts[1].TLS.Mode)
		var streamed []Target
		for tg, err := range r.Targets(t.Context(), "a.test") {
			require.NoError(t, err)
			streamed = append(streamed, tg)
		}
		assert.Equal(t, rt.Targets(), streamed, "round %d: Targets streams Route's targets, with their policies", round)
	}
	n := 0
	for _, q := range s.questions() {
		if q == "_25._tcp.mx2.a.test. TLSA" {
			n++
		}
	}
	assert.Equal(t, 1, n, "the Cache answers the TLSA question after the first route")
}

// TestDANEImplicitMX: an implicit MX whose NODATA is authentic gets the
// TLSA records of the domain itself.
func TestDANEImplicitMX(t *testing.T) {
	root := testpki.NewRoot(t, "CA")
	leaf := root.Issue(t, testpki.Template{CommonName: "a.test"})
	s := &validatingServer{rrs: dnstest.RRs("a.test. 300 IN A 192.0.2.1", tlsaFor(t, "a.test", leaf))}
	rt, err := daneRouter(t, s).Route(t.Context(), "a.test")
	require.NoError(t, err)
	require.True(t, rt.Implicit)
	assert.Equal(t, TLSDANE, rt.Hosts[0].TLS.Mode, "RFC 7672, Section 2.2.1: the implicit MX's NODATA is secure")
}

// TestDANETrace: the trace names the rule and the base domain.
func TestDANETrace(t *testing.T) {
	root := testpki.NewRoot(t, "CA")
	leaf := root.Issue(t, testpki.Template{CommonName: "mx.a.test"})
	s := &validatingServer{rrs: dnstest.RRs("a.test. 300 IN MX 10 mx.a.test.", "mx.a.test. 300 IN A 192.0.2.1", tlsaFor(t, "mx.a.test", leaf))}
	r := daneRouter(t, s)
	var got []Event
	r.Trace = func(_ context.Context, e Event) {
		if e.Step == StepTLSA {
			got = append(got, e)
		}
	}
	_, err := r.Route(t.Context(), "a.test")
	require.NoError(t, err)
	require.Len(t, got, 1)
	assert.Equal(t, "RFC 7672, Section 2.2", got[0].Rule)
	assert.Equal(t, "mx.a.test", got[0].Target)
	assert.Equal(t, 1, got[0].Count)
	assert.True(t, got[0].Authentic)
	assert.Equal(t, "tlsa", got[0].Step.String())
	assert.Equal(t, "mx.a.test: 1 TLSA record(s) at _25._tcp.mx.a.test: DANE required (authenticated TLS)", got[0].Message)
}

// TestDANETraceInsecureMX: an MX RRset that is not authentic makes one
// domain-level StepTLSA event (Host ""), however many hosts the route has,
// and no TLSA question; without MTASTS as with it.
func TestDANETraceInsecureMX(t *testing.T) {
	for _, withSTS := range []bool{false, true} {
		s := &validatingServer{insecure: []string{"a.test."}, rrs: dnstest.RRs(
			"a.test. 300 IN MX 10 mx1.b.test.", "a.test. 300 IN MX 20 mx2.b.test.",
			"mx1.b.test. 300 IN A 192.0.2.1", "mx2.b.test. 300 IN A 192.0.2.2")}
		r := daneRouter(t, s)
		if withSTS {
			r.MTASTS = &mtasts.Client{TXT: func(context.Context, string) ([]string, error) { return nil, nil }}
		}
		var got []Event
		r.Trace = func(_ context.Context, e Event) {
			if e.Step == StepTLSA {
				got = append(got, e)
			}
		}
		rt, err := r.Route(t.Context(), "a.test")
		require.NoError(t, err)
		require.Len(t, rt.Hosts, 2)
		require.Len(t, got, 1, "MTASTS %v: one event for the route, not one per host", withSTS)
		assert.Equal(t, "", got[0].Host)
		assert.Equal(t, "RFC 7672, Section 2.2.1", got[0].Rule)
		assert.Equal(t, "MX RRset of a.test not authenticated: DANE does not apply, no TLSA question asked", got[0].Message)
		for _, q := range s.questions() {
			assert.NotContains(t, q, "TLSA", "MTASTS %v: no TLSA question", withSTS)
		}
	}
}

// TestDANEAdditional: with DANE and an authentic MX RRset, the additional
// section's addresses (never authenticated) are not used: the host's own
// lookups are, and DANE applies.
func TestDANEAdditional(t *testing.T) {
	root := testpki.NewRoot(t, "CA")
	leaf := root.Issue(t, testpki.Template{CommonName: "mx.a.test"})
	s := &validatingServer{rrs: dnstest.RRs("a.test. 300 IN MX 10 mx.a.test.", "mx.a.test. 300 IN A 192.0.2.1", tlsaFor(t, "mx.a.test", leaf))}
	extra := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		if req.Question[0].Qtype != dns.TypeMX {
			s.ServeDNS(w, req)
			return
		}
		s.ServeDNS(additionalWriter{w}, req)
	})
	r := &Router{Resolver: &DNSResolver{Servers: []string{dnstest.Serve(t, extra)}, Timeout: 2 * time.Second, Attempts: 1, DNSSEC: true},
		DANE: true, UseAdditional: true}
	rt, err := r.Route(t.Context(), "a.test")
	require.NoError(t, err)
	assert.Equal(t, TLSDANE, rt.Hosts[0].TLS.Mode)
	assert.Contains(t, s.questions(), "mx.a.test. A", "the address was asked, not taken from the additional section")
}

// additionalWriter adds an A record for mx.a.test to the additional section.
type additionalWriter struct{ dns.ResponseWriter }

func (w additionalWriter) WriteMsg(m *dns.Msg) error {
	m.Extra = append(m.Extra, dnstest.RRs("mx.a.test. 300 IN A 192.0.2.1")...)
	return w.ResponseWriter.WriteMsg(m)
}

// TestTLSPolicyImplicitAndBounces: an implicit MX whose TLSA lookup fails
// defers; a domain that does not exist still bounces with MTA-STS and DANE
// on (the policy lookup is stopped with the route).
func TestTLSPolicyImplicitAndBounces(t *testing.T) {
	s := &validatingServer{rrs: dnstest.RRs("a.test. 300 IN A 192.0.2.1"),
		fail: map[string]int{"_25._tcp.a.test. TLSA": dns.RcodeServerFailure}}
	r := daneRouter(t, s)
	r.MTASTS = &mtasts.Client{}
	_, err := r.Route(t.Context(), "a.test")
	require.Error(t, err)
	assert.True(t, IsTemporary(err), "RFC 7672, Section 2.1.1: defer")
	assert.ErrorIs(t, err, dane.DNSSECInvalid)
	_, err = r.Route(t.Context(), "nowhere.test")
	assert.ErrorIs(t, err, ErrNoSuchDomain)
	assert.False(t, IsTemporary(err), "NXDOMAIN bounces whatever the TLS policies")
}

// TestDANENextHopNames: with a secure MX RRset, a DANE-TA(2) certificate
// may name the next-hop domain, as given or after CNAMEs, instead of the MX
// host or the TLSA base domain (RFC 7672, Section 3.2.2; Postfix's
// "nexthop, hostname"). The names are checked with the policy the route
// gives the host.
func TestDANENextHopNames(t *testing.T) {
	ca := testpki.NewRoot(t, "next-hop CA")
	ta, err := dane.NewRecord(dane.UsageDANETA, dane.SelectorCert, dane.MatchSHA256, ca.Cert)
	require.NoError(t, err)
	rrs := []string{
		"a.test. 300 IN MX 10 mx.b.test.", "alias.test. 300 IN CNAME a.test.",
		"mx.b.test. 300 IN A 192.0.2.1", "_25._tcp.mx.b.test. 300 IN TLSA " + ta.String(),
		"c.test. 300 IN A 192.0.2.3", "_25._tcp.c.test. 300 IN TLSA " + ta.String(),
		"calias.test. 300 IN CNAME c.test.",
	}
	tests := []struct {
		domain string
		names  []string // the leaf's DNS SANs
		want   dane.Result
		reason string
	}{
		{"a.test", []string{"a.test"}, "", "the next-hop domain is a reference identifier"},
		{"alias.test", []string{"alias.test"}, "", "the next-hop domain as given, before its CNAME"},
		{"alias.test", []string{"a.test"}, "", "the next-hop domain after CNAMEs"},
		{"a.test", []string{"mx.b.test"}, "", "the MX host name, as before"},
		{"a.test", []string{"alias.test"}, dane.CertificateHostMismatch, "a name that leads to the domain is not the domain routed"},
		{"a.test", []string{"other.test"}, dane.CertificateHostMismatch, "any other name is refused"},
		{"a.test", []string{"*.a.test"}, dane.CertificateHostMismatch, "a wildcard for the names below the domain does not name the domain (RFC 6125, Section 6.4.3)"},
		{"calias.test", []string{"calias.test"}, "", "implicit MX: the domain as given, its CNAME chain and NODATA secure"},
		{"calias.test", []string{"other.test"}, dane.CertificateHostMismatch, "implicit MX: any other name is refused"},
	}
	for _, tt := range tests {
		t.Run(tt.domain+"/"+strings.Join(tt.names, ","), func(t *testing.T) {
			s := &validatingServer{rrs: dnstest.RRs(rrs...)}
			rt, err := daneRouter(t, s).Route(t.Context(), tt.domain)
			require.NoError(t, err)
			p := rt.Hosts[0].TLS
			require.Equal(t, TLSDANE, p.Mode)
			leaf := ca.Issue(t, testpki.Template{DNSNames: tt.names})
			err = p.Verify(tls.ConnectionState{PeerCertificates: []*x509.Certificate{leaf.Cert, ca.Cert}})
			if tt.want == "" {
				assert.NoError(t, err, tt.reason)
			} else {
				assert.ErrorIs(t, err, tt.want, tt.reason)
			}
		})
	}
}

// TestNextHopNames: the next-hop domain is a reference identifier only when
// the MX RRset is secure; an insecure one proves nothing of the hosts.
func TestNextHopNames(t *testing.T) {
	tests := []struct {
		rt     Route
		want   []string
		reason string
	}{
		{Route{Domain: "a.test", Canonical: "a.test", Authentic: true}, []string{"a.test"}, "secure: the domain"},
		{Route{Domain: "alias.test", Canonical: "a.test", Authentic: true}, []string{"alias.test", "a.test"}, "secure: as given and after CNAMEs"},
		{Route{Domain: "a.test", Canonical: "a.test"}, nil, "insecure MX RRset: none (RFC 7672, Section 3.2.2)"},
		{Route{Domain: "alias.test", Canonical: "a.test"}, nil, "insecure: none, CNAME or not"},
	}
	for _, tt := range tests {
		ro := &routing{rt: &tt.rt}
		assert.Equal(t, tt.want, ro.nextHopNames(), tt.reason)
	}
}

// TestDANEUnavailable: Router.DANE through a Resolver that never reports
// authentic answers says so once in the trace of every route, Route and
// Targets alike, before the MX question, instead of the event of an
// unauthenticated MX RRset; a Resolver that may report AD, or that cannot
// tell, makes no such event.
func TestDANEUnavailable(t *testing.T) {
	zone, err := NewZoneResolver(strings.NewReader(`$ORIGIN a.test.
@ 300 IN SOA ns admin 1 3600 600 86400 300
@ 300 IN MX 10 mx1
@ 300 IN MX 20 mx2
mx1 300 IN A 192.0.2.1
mx2 300 IN A 192.0.2.2
`), "a.test")
	require.NoError(t, err)
	s := &validatingServer{rrs: dnstest.RRs("a.test. 300 IN MX 10 mx1.a.test.", "a.test. 300 IN MX 20 mx2.a.test.",
		"mx1.a.test. 300 IN A 192.0.2.1", "mx2.a.test. 300 IN A 192.0.2.2")}
	addr := dnstest.Serve(t, s)
	wire := func(dnssec bool) *DNSResolver {
		return &DNSResolver{Servers: []string{addr}, Timeout: 2 * time.Second, Attempts: 1, DNSSEC: dnssec}
	}
	tests := []struct {
		name   string
		res    Resolver
		why    string // in the event's Message; "" = no event
		reason string
	}{
		{"ZoneResolver", zone, "ZoneResolver validates nothing", "a ZoneResolver never sets AD"},
		{"Cache of ZoneResolver", &Cache{Resolver: zone}, "Cache in front of", "a Cache answers as what it caches"},
		{"DNSResolver without DNSSEC", wire(false), "without DNSSEC", "AD is cleared in every reply"},
		{"Cache of DNSResolver without DNSSEC", &Cache{Resolver: wire(false)}, "without DNSSEC", "through a Cache too"},
		{"DNSResolver with DNSSEC", wire(true), "", "a trusted (loopback) validating server: DANE may apply"},
		{"ResolverFunc", ResolverFunc(wire(false).Resolve), "", "a ResolverFunc is believed: nothing to say"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var got []Event
			r := &Router{Resolver: tt.res, DANE: true, Trace: func(_ context.Context, e Event) {
				mu.Lock()
				got = append(got, e)
				mu.Unlock()
			}}
			check := func(how string) {
				t.Helper()
				var un, domainTLSA []Event
				for _, e := range got {
					switch {
					case e.Step == StepDANEUnavailable:
						un = append(un, e)
					case e.Step == StepTLSA && e.Host == "":
						domainTLSA = append(domainTLSA, e)
					}
				}
				if tt.why == "" {
					assert.Empty(t, un, "%s: %s", how, tt.reason)
					return
				}
				require.Len(t, un, 1, "%s: one event per route: %s", how, tt.reason)
				assert.Equal(t, un[0], got[0], "%s: before the MX question", how)
				assert.Equal(t, "a.test", un[0].Domain)
				assert.Equal(t, "RFC 7672, Section 2.2; RFC 4035, Section 4.9.3", un[0].Rule)
				assert.Contains(t, un[0].Message, tt.why)
				assert.Contains(t, un[0].Message, "DANE can never apply")
				assert.Equal(t, "dane-unavailable", un[0].Step.String())
				assert.Empty(t, domainTLSA, "%s: no second event for the unauthenticated MX RRset", how)
			}
			rt, err := r.Route(t.Context(), "a.test")
			require.NoError(t, err)
			require.Len(t, rt.Hosts, 2)
			check("Route")
			got = nil
			for _, err := range r.Targets(t.Context(), "a.test") {
				require.NoError(t, err)
			}
			check("Targets")
			got = nil
			r.DANE = false
			_, err = r.Route(t.Context(), "a.test")
			require.NoError(t, err)
			for _, e := range got {
				assert.NotEqual(t, StepDANEUnavailable, e.Step, "without DANE nothing is said")
			}
		})
	}
}

// TestNeverAD: what each Resolver says of the AD bit, without asking DNS.
func TestNeverAD(t *testing.T) {
	tests := []struct {
		res    Resolver
		never  bool
		reason string
	}{
		{&ZoneResolver{}, true, "a ZoneResolver validates nothing"},
		{SystemResolver{}, true, "the standard library hides the AD bit"},
		{&SystemResolver{}, true, "a *SystemResolver too"},
		{defaultResolver, true, "the default (a nil Router.Resolver): a DNSResolver without DNSSEC"},
		{&Cache{}, true, "a zero Cache is in front of the default"},
		{&DNSResolver{DNSSEC: true, Servers: []string{"192.0.2.53:53"}}, true, "AD from a server across the network is not believed"},
		{&DNSResolver{DNSSEC: true, Servers: []string{"192.0.2.53:53", "[::1]:53"}}, false, "one loopback server is enough"},
		{&DNSResolver{DNSSEC: true, TrustAD: true, Servers: []string{"192.0.2.53:53"}}, false, "TrustAD believes it"},
		{&Cache{Resolver: &DNSResolver{DNSSEC: true, Servers: []string{"127.0.0.1:53"}}}, false, "a Cache in front of a trusted one"},
		{ResolverFunc(nil), false, "a ResolverFunc cannot tell: believed"},
	}
	for _, tt := range tests {
		why := neverAD(tt.res)
		assert.Equal(t, tt.never, why != "", "%s: %q", tt.reason, why)
	}
}
