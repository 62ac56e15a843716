package mxroute

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
)

func TestAddrsOf(t *testing.T) {
	var rrs []dns.RR
	for _, s := range []string{"h. 60 IN A 192.0.2.2", "h. 60 IN AAAA 2001:db8::1", "h. 60 IN A 192.0.2.1", "h. 60 IN TXT \"x\""} {
		rr, err := dns.NewRR(s)
		require.NoError(t, err)
		rrs = append(rrs, rr)
	}
	rrs = append(rrs, &dns.A{Hdr: dns.RR_Header{Name: "h.", Rrtype: dns.TypeA, Class: dns.ClassINET}}) // no address: skipped
	assert.Equal(t, mustAddrs("192.0.2.2", "2001:db8::1", "192.0.2.1"), addrsOf(nil, rrs), "order kept, junk skipped")
	assert.Nil(t, addrsOf(nil, nil))
}

// TestUseAdditional: with UseAdditional, addresses in the MX response's
// additional section stand in for lookups of in-bailiwick hosts, family by
// family; without it, or out of bailiwick, they are ignored.
func TestUseAdditional(t *testing.T) {
	answers := map[string][]string{
		"mx.add.test. A":      {"mx.add.test. 300 IN A 192.0.2.1"},
		"mx.add.test. AAAA":   {"mx.add.test. 300 IN AAAA 2001:db8::1"},
		"mx.other.test. A":    {"mx.other.test. 300 IN A 192.0.2.2"},
		"mx.other.test. AAAA": nil,
	}
	tests := []struct {
		name      string
		use       bool
		extra     []string
		wantAddrs []string
		wantAsked []string
		reason    string
	}{
		{"off", false, []string{"mx.add.test. 300 IN A 192.0.2.99", "mx.add.test. 300 IN AAAA 2001:db8::99"},
			[]string{"2001:db8::1", "192.0.2.1", "192.0.2.2"},
			[]string{"add.test. MX", "mx.add.test. AAAA", "mx.add.test. A", "mx.other.test. AAAA", "mx.other.test. A"},
			"off by default: additional records are not answers (RFC 2181, Section 5.4.1)"},
		{"on", true, []string{"mx.add.test. 300 IN A 192.0.2.99", "mx.add.test. 300 IN AAAA 2001:db8::99"},
			[]string{"2001:db8::99", "192.0.2.99", "192.0.2.2"},
			[]string{"add.test. MX", "mx.other.test. AAAA", "mx.other.test. A"},
			"in bailiwick, both families present: no lookup"},
		{"on, one family", true, []string{"mx.add.test. 300 IN A 192.0.2.99"},
			[]string{"2001:db8::1", "192.0.2.99", "192.0.2.2"},
			[]string{"add.test. MX", "mx.add.test. AAAA", "mx.other.test. AAAA", "mx.other.test. A"},
			"a family absent from the additional section is asked"},
		{"on, out of bailiwick", true, []string{"mx.other.test. 300 IN A 192.0.2.98"},
			[]string{"2001:db8::1", "192.0.2.1", "192.0.2.2"},
			[]string{"add.test. MX", "mx.add.test. AAAA", "mx.add.test. A", "mx.other.test. AAAA", "mx.other.test. A"},
			"add.test's server is not to be believed about other.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := &countingResolver{next: ResolverFunc(func(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
				if qtype == dns.TypeMX {
					m := reply(name, qtype, dns.RcodeSuccess, "add.test. 300 IN MX 10 mx.add.test.", "add.test. 300 IN MX 20 mx.other.test.")
					m.Extra = dnstest.RRs(tt.extra...)
					return m, nil
				}
				return reply(name, qtype, dns.RcodeSuccess, answers[name+" "+dns.TypeToString[qtype]]...), nil
			})}
			r := &Router{Resolver: res, UseAdditional: tt.use, MaxLookups: 1} // one at a time: a fixed question order
			rt, err := r.Route(t.Context(), "add.test")
			require.NoError(t, err)
			assert.Equal(t, tt.wantAddrs, targetAddrs(rt), tt.reason)
			assert.Equal(t, tt.wantAsked, res.questions(), tt.reason)
		})
	}
}

// TestOneRoundOfAddressQuestions: with the default MaxLookups, the 60 A and
// AAAA questions of a 30-host dual-stack domain are all in flight at once:
// the resolver answers none until all have arrived, so a smaller limit
// would never be answered (and fail at the deadline).
func TestOneRoundOfAddressQuestions(t *testing.T) {
	const hosts = 30
	var mxs []string
	for i := range hosts {
		mxs = append(mxs, fmt.Sprintf("big.test. 60 IN MX %d mx%d.big.test.", 10*(i+1), i))
	}
	var mu sync.Mutex
	arrived := 0
	all := make(chan struct{})
	res := ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		if qtype == dns.TypeMX {
			return reply(name, qtype, dns.RcodeSuccess, mxs...), nil
		}
		mu.Lock()
		if arrived++; arrived == 2*hosts {
			close(all)
		}
		mu.Unlock()
		select {
		case <-all:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		var i int
		_, _ = fmt.Sscanf(name, "mx%d.", &i) // a distinct address per host
		if qtype == dns.TypeA {
			return reply(name, qtype, dns.RcodeSuccess, fmt.Sprintf("%s 60 IN A 192.0.2.%d", name, i+1)), nil
		}
		return reply(name, qtype, dns.RcodeSuccess, fmt.Sprintf("%s 60 IN AAAA 2001:db8::%x", name, i+1)), nil
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	rt, err := (&Router{Resolver: res}).Route(ctx, "big.test")
	require.NoError(t, err, "every address question was in flight at once")
	require.Len(t, rt.Hosts, hosts)
	for _, h := range rt.Hosts {
		assert.NoError(t, h.Err)
	}
}
