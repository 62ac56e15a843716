package mxroute

import (
	"context"
	"net"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
	"github.com/mxroute-go/mxroute/mtasts"
)

// goResolver is a pure-Go net.Resolver that asks only addr.
func goResolver(addr string) *net.Resolver {
	return &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}}
}

func systemTestServer(t *testing.T) string {
	return serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		switch {
		case q.Name == "two.test." && q.Qtype == dns.TypeMX:
			writeReply(w, req, 0, "two.test. 60 IN MX 20 b.two.test.", "two.test. 60 IN MX 10 a.two.test.")
		case q.Name == "null.test." && q.Qtype == dns.TypeMX:
			writeReply(w, req, 0, "null.test. 60 IN MX 0 .")
		case q.Name == "a.two.test." && q.Qtype == dns.TypeA:
			writeReply(w, req, 0, "a.two.test. 60 IN A 192.0.2.2", "a.two.test. 60 IN A 192.0.2.1")
		case q.Name == "a.two.test." && q.Qtype == dns.TypeAAAA:
			writeReply(w, req, 0, "a.two.test. 60 IN AAAA 2001:db8::1")
		case q.Name == "b.two.test." && q.Qtype == dns.TypeA:
			writeReply(w, req, 0, "b.two.test. 60 IN A 192.0.2.3")
		case q.Name == "_mta-sts.two.test." && q.Qtype == dns.TypeTXT:
			writeReply(w, req, 0, `_mta-sts.two.test. 60 IN TXT "v=STSv1;\009" "id=1;"`, `_mta-sts.two.test. 60 IN TXT "say \"hi\" \\ \255"`)
		case q.Name == "alias.test." && q.Qtype == dns.TypeCNAME:
			writeReply(w, req, 0, "alias.test. 60 IN CNAME a.two.test.")
		case q.Name == "gone.test.":
			writeReply(w, req, dns.RcodeNameError)
		case q.Name == "broken.test.":
			writeReply(w, req, dns.RcodeServerFailure)
		case q.Name == "silent.test.":
			// no reply
		default:
			writeReply(w, req, 0) // NODATA
		}
	})
}

func TestSystemResolver(t *testing.T) {
	s := SystemResolver{Resolver: goResolver(systemTestServer(t))}
	tests := []struct {
		name, qname string
		qtype       uint16
		wantRcode   int
		wantRRs     []string
		reason      string
	}{
		{"MX", "two.test.", dns.TypeMX, 0, []string{"two.test.\t0\tIN\tMX\t10 a.two.test.", "two.test.\t0\tIN\tMX\t20 b.two.test."}, "Go sorts; owner is the name asked; TTL unknown"},
		{"null MX", "null.test.", dns.TypeMX, 0, []string{"null.test.\t0\tIN\tMX\t0 ."}, "the null MX survives for the router to see"},
		{"A in order", "a.two.test.", dns.TypeA, 0, []string{"a.two.test.\t0\tIN\tA\t192.0.2.2", "a.two.test.\t0\tIN\tA\t192.0.2.1"}, "resolver order kept"},
		{"AAAA", "a.two.test.", dns.TypeAAAA, 0, []string{"a.two.test.\t0\tIN\tAAAA\t2001:db8::1"}, ""},
		{"CNAME", "alias.test.", dns.TypeCNAME, 0, []string{"alias.test.\t0\tIN\tCNAME\ta.two.test."}, ""},
		{"TXT", "_mta-sts.two.test.", dns.TypeTXT, 0, []string{"_mta-sts.two.test.\t0\tIN\tTXT\t\"v=STSv1;\\009id=1;\"", "_mta-sts.two.test.\t0\tIN\tTXT\t\"say \\\"hi\\\" \\\\ \\255\""},
			"a record's strings joined by the standard library, escaped back into the presentation form miekg/dns keeps"},
		{"TXT NODATA", "two.test.", dns.TypeTXT, 0, nil, "no TXT records: NOERROR, empty"},
		{"NODATA", "two.test.", dns.TypeAAAA, 0, nil, "no records: NOERROR, empty"},
		{"NXDOMAIN as NODATA", "gone.test.", dns.TypeMX, 0, nil, "the standard library hides NXDOMAIN: answered as NODATA"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := s.Resolve(t.Context(), tt.qname, tt.qtype)
			require.NoError(t, err, tt.reason)
			assert.Equal(t, tt.wantRcode, m.Rcode, tt.reason)
			var got []string
			for _, rr := range m.Answer {
				got = append(got, rr.String())
			}
			assert.Equal(t, tt.wantRRs, got, tt.reason)
			require.Len(t, m.Question, 1)
			assert.Equal(t, tt.qname, m.Question[0].Name)
		})
	}
}

func TestSystemResolverErrors(t *testing.T) {
	s := SystemResolver{Resolver: goResolver(systemTestServer(t))}
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	_, err := s.Resolve(ctx, "silent.test.", dns.TypeMX)
	assert.Error(t, err, "no answer is an error: temporary for the router")

	_, err = s.Resolve(t.Context(), "broken.test.", dns.TypeMX)
	var dnsErr *net.DNSError
	require.ErrorAs(t, err, &dnsErr, "Go reports SERVFAIL as a temporary DNSError, passed on as an error")
	assert.True(t, dnsErr.IsTemporary)

	_, err = s.Resolve(t.Context(), "two.test.", dns.TypeTLSA)
	assert.ErrorContains(t, err, "TLSA")
}

func TestSystemResolverRoute(t *testing.T) {
	r := &Router{Resolver: SystemResolver{Resolver: goResolver(systemTestServer(t))}, Family: AnyFamily}
	rt, err := r.Route(t.Context(), "two.test")
	require.NoError(t, err)
	assert.Equal(t, []Target{
		{Host: "a.two.test", Preference: 10, Addr: netip.MustParseAddr("2001:db8::1")},
		{Host: "a.two.test", Preference: 10, Addr: netip.MustParseAddr("192.0.2.2")},
		{Host: "a.two.test", Preference: 10, Addr: netip.MustParseAddr("192.0.2.1")},
		{Host: "b.two.test", Preference: 20, Addr: netip.MustParseAddr("192.0.2.3")},
	}, rt.Targets())

	_, err = r.Route(t.Context(), "null.test")
	assert.ErrorIs(t, err, ErrNullMX)

	_, err = r.Route(t.Context(), "gone.test")
	assert.ErrorIs(t, err, ErrNoMailHost, "NXDOMAIN looks like NODATA through the standard library")
	assert.False(t, IsTemporary(err), "but it still bounces")

	_, err = r.Route(t.Context(), "broken.test")
	assert.ErrorIs(t, err, ErrTemporary)
}

func TestSystemResolverDefault(t *testing.T) {
	assert.Same(t, net.DefaultResolver, SystemResolver{}.resolver())
}

// TestSystemResolverMTASTS: Router.MTASTS through a SystemResolver finds the
// policy: the TXT question is answered by LookupTXT, and the record (here
// with a tab, which must come back as a tab) is read as published. Before,
// SystemResolver refused TXT questions, so the route went on as though the
// domain had no MTA-STS, silently.
func TestSystemResolverMTASTS(t *testing.T) {
	ph := newPolicyHost(t, stsPolicy("enforce", "mx1.a.test"))
	zone := append(stsZone(""), `_mta-sts.a.test. 300 IN TXT "v=STSv1;\009" "id=1;"`)
	addr := dnstest.Serve(t, &validatingServer{rrs: dnstest.RRs(zone...), insecure: []string{"test."}})
	r := &Router{Resolver: SystemResolver{Resolver: goResolver(addr)}, MTASTS: &mtasts.Client{Fetcher: ph.fetcher}}
	rt, err := r.Route(t.Context(), "a.test")
	require.NoError(t, err)
	assert.EqualValues(t, 1, ph.requests.Load(), "the policy was fetched")
	require.Len(t, rt.Hosts, 2)
	require.NotNil(t, rt.Hosts[0].TLS)
	assert.Equal(t, TLSMTASTS, rt.Hosts[0].TLS.Mode)
	assert.ErrorIs(t, rt.Hosts[1].Err, ErrMTASTS, "mx2 matches no pattern of the enforced policy")
}

func TestTXTPresentation(t *testing.T) {
	long := strings.Repeat("a", 300)
	tests := []struct {
		raw    string
		want   []string
		reason string
	}{
		{"v=STSv1; id=1;", []string{"v=STSv1; id=1;"}, "printable ASCII as it is"},
		{"a\tb\"c\\d\xff", []string{`a\009b\"c\\d\255`}, "as miekg/dns escapes: \\DDD, \\\", \\\\"},
		{long, []string{long[:255], long[255:]}, "at most 255 bytes a string"},
		{"", []string{""}, "an empty record"},
	}
	for _, tt := range tests {
		got := txtPresentation(tt.raw)
		assert.Equal(t, tt.want, got, tt.reason)
		var back strings.Builder
		for _, s := range got {
			back.WriteString(txtBytes(s))
		}
		assert.Equal(t, tt.raw, back.String(), "txtBytes undoes it: %s", tt.reason)
	}
}
