package mxroute

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const zrZone = `
$TTL 300
$ORIGIN zone.
@        IN SOA ns.zone. hostmaster.zone. 1 3600 600 86400 60
@        IN NS  ns
@        IN MX  10 mx
@        IN A   192.0.2.1
ns       IN A   192.0.2.53
mx       IN A   192.0.2.12
         IN AAAA 2001:db8::1
         IN A   192.0.2.11
a        IN CNAME b
b        IN CNAME c
c        IN MX  5 mx
out      IN CNAME www.elsewhere.
x        IN CNAME y
y        IN CNAME x
dangling IN CNAME nothing
a.b.deep IN TXT "only leaf"
*.w      IN MX 10 mx
real.w   IN A  192.0.2.99
sub      IN NS ns.other.
`

func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		h := rr.Header()
		out = append(out, fmt.Sprintf("%s %s %s", h.Name, dns.TypeToString[h.Rrtype], strings.TrimPrefix(rr.String(), h.String())))
	}
	return out
}

func TestZoneResolver(t *testing.T) {
	z := testZone(t, "zone", zrZone)
	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		wantRcode int
		wantAns   []string
		wantSOA   bool
		reason    string
	}{
		{"MX at apex", "zone.", dns.TypeMX, 0, []string{"zone. MX 10 mx.zone."}, false, "plain answer"},
		{"order kept", "mx.zone.", dns.TypeA, 0, []string{"mx.zone. A 192.0.2.12", "mx.zone. A 192.0.2.11"}, false, "file order is resolver order"},
		{"case-insensitive", "MX.ZoNe.", dns.TypeAAAA, 0, []string{"mx.zone. AAAA 2001:db8::1"}, false, "RFC 4343"},
		{"no trailing dot", "mx.zone", dns.TypeAAAA, 0, []string{"mx.zone. AAAA 2001:db8::1"}, false, "accepted"},
		{"NODATA", "ns.zone.", dns.TypeMX, 0, nil, true, "the name exists without MX: SOA in authority"},
		{"NXDOMAIN", "nope.zone.", dns.TypeMX, dns.RcodeNameError, nil, true, "no such name"},
		{"CNAME chain", "a.zone.", dns.TypeMX, 0, []string{"a.zone. CNAME b.zone.", "b.zone. CNAME c.zone.", "c.zone. MX 5 mx.zone."}, false, "chased within the zone"},
		{"CNAME asked", "a.zone.", dns.TypeCNAME, 0, []string{"a.zone. CNAME b.zone."}, false, "the CNAME itself"},
		{"CNAME out of zone", "out.zone.", dns.TypeMX, 0, []string{"out.zone. CNAME www.elsewhere."}, false, "the chain stops at the zone's edge"},
		{"CNAME loop", "x.zone.", dns.TypeMX, 0, []string{"x.zone. CNAME y.zone.", "y.zone. CNAME x.zone."}, false, "terminates; the caller sees the loop"},
		{"dangling CNAME", "dangling.zone.", dns.TypeA, dns.RcodeNameError, []string{"dangling.zone. CNAME nothing.zone."}, true, "RFC 6604: the rcode is the chain end's"},
		{"empty non-terminal", "b.deep.zone.", dns.TypeMX, 0, nil, true, "exists (a name lies below it): NODATA, not NXDOMAIN"},
		{"empty non-terminal, higher", "deep.zone.", dns.TypeA, 0, nil, true, "likewise"},
		{"wildcard", "foo.w.zone.", dns.TypeMX, 0, []string{"foo.w.zone. MX 10 mx.zone."}, false, "RFC 4592: synthesized with the query name as owner"},
		{"wildcard deeper", "x.foo.w.zone.", dns.TypeMX, 0, []string{"x.foo.w.zone. MX 10 mx.zone."}, false, "covers any depth below a missing name"},
		{"wildcard other type", "foo.w.zone.", dns.TypeA, 0, nil, true, "the wildcard owner exists: NODATA"},
		{"wildcard skips existing", "real.w.zone.", dns.TypeMX, 0, nil, true, "RFC 4592, Section 2.2.1: an existing name is not covered"},
		{"wildcard not below existing", "q.real.w.zone.", dns.TypeMX, dns.RcodeNameError, nil, true, "the closest encloser is real.w.zone, which has no wildcard"},
		{"delegation", "sub.zone.", dns.TypeMX, dns.RcodeRefused, nil, false, "below the cut the zone holds no data"},
		{"under delegation", "x.sub.zone.", dns.TypeA, dns.RcodeRefused, nil, false, "likewise"},
		{"outside", "example.org.", dns.TypeMX, dns.RcodeRefused, nil, false, "not our zone"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := z.Resolve(t.Context(), tt.qname, tt.qtype)
			require.NoError(t, err)
			assert.Equal(t, tt.wantRcode, m.Rcode, "%s: rcode %s", tt.reason, dns.RcodeToString[m.Rcode])
			assert.Equal(t, tt.wantAns, rrStrings(m.Answer), tt.reason)
			assert.Equal(t, tt.wantSOA, len(m.Ns) == 1 && m.Ns[0].Header().Rrtype == dns.TypeSOA, "SOA in authority: %s", tt.reason)
			assert.True(t, m.Response && m.Authoritative && m.RecursionAvailable, "AA and RA for Go's resolver")
			require.Len(t, m.Question, 1)
			assert.Equal(t, dns.Fqdn(tt.qname), m.Question[0].Name)
		})
	}
}

func TestZoneResolverCopies(t *testing.T) {
	z := testZone(t, "zone", zrZone)
	m, err := z.Resolve(t.Context(), "mx.zone.", dns.TypeA)
	require.NoError(t, err)
	m.Answer[0].(*dns.A).A[3] = 99
	m.Answer[0].Header().Name = "evil."
	m2, err := z.Resolve(t.Context(), "mx.zone.", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, []string{"mx.zone. A 192.0.2.12", "mx.zone. A 192.0.2.11"}, rrStrings(m2.Answer), "stored records are never handed out")
}

func TestZoneResolverAdd(t *testing.T) {
	z := testZone(t, "one.", "$ORIGIN one.\n@ 60 IN SOA ns h 1 2 3 4 5\nalias 60 IN CNAME host.two.\n")
	require.NoError(t, z.Add(strings.NewReader("$ORIGIN two.\n@ 60 IN SOA ns h 1 2 3 4 5\nhost 60 IN A 192.0.2.2\n"), "two"))
	m, err := z.Resolve(t.Context(), "alias.one.", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, []string{"alias.one. CNAME host.two.", "host.two. A 192.0.2.2"}, rrStrings(m.Answer), "chased across zones held")

	err = z.Add(strings.NewReader("$ORIGIN two.\n@ 60 IN SOA ns h 1 2 3 4 5\n"), "two.")
	assert.ErrorContains(t, err, "already loaded")
}

func TestZoneResolverChildZone(t *testing.T) {
	z := testZone(t, "zone", zrZone)
	require.NoError(t, z.Add(strings.NewReader("$ORIGIN sub.zone.\n@ 60 IN SOA ns h 1 2 3 4 5\n@ 60 IN MX 10 mx.zone.\n"), "sub.zone"))
	m, err := z.Resolve(t.Context(), "sub.zone.", dns.TypeMX)
	require.NoError(t, err)
	assert.Equal(t, []string{"sub.zone. MX 10 mx.zone."}, rrStrings(m.Answer), "a delegation whose child zone is held is answered from it")
}

func TestZoneResolverNoSOA(t *testing.T) {
	z := testZone(t, "bare.test", "mx 60 IN A 192.0.2.7\n")
	m, err := z.Resolve(t.Context(), "mx.bare.test.", dns.TypeA)
	require.NoError(t, err)
	assert.Len(t, m.Answer, 1, "the origin is the apex")
	m, err = z.Resolve(t.Context(), "nope.bare.test.", dns.TypeA)
	require.NoError(t, err)
	assert.Equal(t, dns.RcodeNameError, m.Rcode)
	assert.Empty(t, m.Ns, "no SOA to give")
}

func TestZoneResolverLoadErrors(t *testing.T) {
	tests := []struct {
		name, data, want, reason string
	}{
		{"syntax", "$ORIGIN z.\n@ 60 IN SOA ns h 1 2 3 4 5\n\nmx 60 IN MX ten mx\n", "line: 4", "the parser's error names the line"},
		{"outside the apex", "$ORIGIN z.\n@ 60 IN SOA ns h 1 2 3 4 5\nhost.other. 60 IN A 192.0.2.1\n", "outside the zone", "a zone holds only its own names"},
		{"two SOA", "$ORIGIN z.\n@ 60 IN SOA ns h 1 2 3 4 5\n@ 60 IN SOA ns h 2 2 3 4 5\n", "more than one soa", "one zone per file"},
		{"include", "$INCLUDE /etc/passwd\n", "include", "a zone file may not read other files"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewZoneResolver(strings.NewReader(tt.data), "z.")
			require.Error(t, err, tt.reason)
			assert.Contains(t, strings.ToLower(err.Error()), tt.want, tt.reason)
			assert.Contains(t, err.Error(), `"z."`, "the error quotes the zone")
		})
	}
	_, err := NewZoneResolver(strings.NewReader(""), "bad..origin")
	assert.Error(t, err)
}

func TestZoneResolverConcurrent(t *testing.T) {
	z := testZone(t, "zone", zrZone)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if i%4 == 0 {
				origin := fmt.Sprintf("extra%d.", i)
				assert.NoError(t, z.Add(strings.NewReader("@ 60 IN A 192.0.2.1\n"), origin))
			}
			for range 100 {
				m, err := z.Resolve(t.Context(), "a.zone.", dns.TypeMX)
				if assert.NoError(t, err) {
					assert.Len(t, m.Answer, 3)
				}
			}
		})
	}
	wg.Wait()
}

func TestZoneResolverCancelled(t *testing.T) {
	verifyNoLeaks(t)
	z := testZone(t, "zone", zrZone)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := z.Resolve(ctx, "zone.", dns.TypeMX)
	assert.ErrorIs(t, err, context.Canceled)
}

// TestZoneResolverRootZone: a root zone "." answers like any other zone,
// NXDOMAIN for names it does not hold, and never loops (issue 9, item 10):
// the walk up the labels ends at the root.
func TestZoneResolverRootZone(t *testing.T) {
	z := testZone(t, ".", `. 3600 IN SOA a.root. hostmaster.root. 1 7200 3600 86400 300
. IN NS a.root.
a.root. IN A 192.0.2.53
example. IN MX 10 mx.example.
mx.example. IN A 192.0.2.25
sub.deleg. IN NS ns.elsewhere.
*.wild. IN MX 10 mx.example.
`)
	tests := []struct {
		name      string
		qtype     uint16
		wantRcode int
		wantAns   int
		reason    string
	}{
		{"example.", dns.TypeMX, dns.RcodeSuccess, 1, "a name in the root zone"},
		{"mx.example.", dns.TypeA, dns.RcodeSuccess, 1, "a name two labels down"},
		{"nope.", dns.TypeMX, dns.RcodeNameError, 0, "a TLD the zone does not hold: NXDOMAIN, not REFUSED"},
		{"a.b.nope.", dns.TypeMX, dns.RcodeNameError, 0, "deeper: the walk up ends at the root"},
		{"example.", dns.TypeAAAA, dns.RcodeSuccess, 0, "NODATA"},
		{".", dns.TypeMX, dns.RcodeSuccess, 0, "the apex itself: NODATA"},
		{"x.wild.", dns.TypeMX, dns.RcodeSuccess, 1, "a wildcard one label below the root"},
		{"x.sub.deleg.", dns.TypeMX, dns.RcodeRefused, 0, "below a delegation the zone does not hold"},
	}
	for _, tt := range tests {
		t.Run(tt.name+" "+dns.TypeToString[tt.qtype], func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			done := make(chan *dns.Msg, 1)
			go func() {
				m, err := z.Resolve(ctx, tt.name, tt.qtype)
				assert.NoError(t, err)
				done <- m
			}()
			select {
			case m := <-done:
				assert.Equal(t, dns.RcodeToString[tt.wantRcode], dns.RcodeToString[m.Rcode], tt.reason)
				assert.Len(t, m.Answer, tt.wantAns, tt.reason)
				if tt.wantRcode != dns.RcodeRefused && tt.wantAns == 0 {
					assert.NotEmpty(t, m.Ns, "a negative answer carries the SOA")
				}
			case <-ctx.Done():
				t.Fatal("the root zone made Resolve loop")
			}
		})
	}
	rt, err := (&Router{Resolver: z}).Route(t.Context(), "example")
	require.NoError(t, err)
	assert.Equal(t, "mx.example", rt.Hosts[0].Name)
	_, err = (&Router{Resolver: z}).Route(t.Context(), "nope")
	assert.ErrorIs(t, err, ErrNoSuchDomain)
}
