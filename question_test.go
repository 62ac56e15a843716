package mxroute

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
)

func TestLookup(t *testing.T) {
	// Each case scripts the responses, question by question.
	type step struct {
		name string
		msg  *dns.Msg
		err  error
	}
	tests := []struct {
		name      string
		reason    string
		steps     []step
		wantKind  answerKind
		wantName  string
		wantChain []string
		wantRRs   int
		wantErr   bool
		wantCNAME bool
	}{
		{
			name: "records", reason: "NOERROR with records of the type",
			steps:    []step{{"a.test.", reply("a.test.", dns.TypeMX, 0, "a.test. 60 IN MX 10 mx.a.test."), nil}},
			wantKind: found, wantName: "a.test.", wantRRs: 1,
		},
		{
			name: "owner compared case-insensitively", reason: "DNS names are case-insensitive (RFC 4343)",
			steps:    []step{{"a.test.", reply("a.test.", dns.TypeMX, 0, "A.TeSt. 60 IN MX 10 mx.a.test."), nil}},
			wantKind: found, wantName: "a.test.", wantRRs: 1,
		},
		{
			name: "NODATA", reason: "NOERROR and no records from a recursive resolver (RA): the name exists without the type",
			steps:    []step{{"a.test.", withRA(reply("a.test.", dns.TypeMX, 0)), nil}},
			wantKind: noData, wantName: "a.test.",
		},
		{
			name: "NXDOMAIN", reason: "the name does not exist",
			steps:    []step{{"a.test.", reply("a.test.", dns.TypeMX, dns.RcodeNameError), nil}},
			wantKind: noDomain, wantName: "a.test.",
		},
		{
			name: "unrelated records ignored", reason: "only records owned by the name asked are believed",
			steps: []step{{"a.test.", reply("a.test.", dns.TypeMX, 0,
				"evil.test. 60 IN MX 10 attacker.example.", "a.test. 60 IN A 192.0.2.1"), nil}},
			wantKind: noData, wantName: "a.test.",
		},
		{
			name: "chain in one response", reason: "RFC 5321, Section 5.1: the CNAME's target is processed as the initial name",
			steps: []step{{"a.test.", reply("a.test.", dns.TypeMX, 0,
				"a.test. 60 IN CNAME b.test.", "b.test. 60 IN CNAME C.test.", "c.test. 60 IN MX 10 mx.c.test."), nil}},
			wantKind: found, wantName: "c.test.", wantChain: []string{"b.test.", "c.test."}, wantRRs: 1,
		},
		{
			name: "chain ends unresolved, asked again", reason: "an authoritative server stops at its zone's edge",
			steps: []step{
				{"a.test.", reply("a.test.", dns.TypeMX, 0, "a.test. 60 IN CNAME b.other."), nil},
				{"b.other.", reply("b.other.", dns.TypeMX, 0, "b.other. 60 IN MX 5 mx.other."), nil},
			},
			wantKind: found, wantName: "b.other.", wantChain: []string{"b.other."}, wantRRs: 1,
		},
		{
			name: "chain to NODATA, asked again", reason: "the second answer decides NODATA",
			steps: []step{
				{"a.test.", reply("a.test.", dns.TypeMX, 0, "a.test. 60 IN CNAME b.other."), nil},
				{"b.other.", withRA(reply("b.other.", dns.TypeMX, 0)), nil},
			},
			wantKind: noData, wantName: "b.other.", wantChain: []string{"b.other."},
		},
		{
			name: "chain to NXDOMAIN", reason: "RFC 6604: the rcode is about the chain's last name",
			steps:    []step{{"a.test.", reply("a.test.", dns.TypeMX, dns.RcodeNameError, "a.test. 60 IN CNAME gone.test."), nil}},
			wantKind: noDomain, wantName: "gone.test.", wantChain: []string{"gone.test."},
		},
		{
			name: "loop in one response", reason: "a loop is an error, not an endless walk",
			steps: []step{{"a.test.", reply("a.test.", dns.TypeMX, 0,
				"a.test. 60 IN CNAME b.test.", "b.test. 60 IN CNAME a.test."), nil}},
			wantErr: true, wantCNAME: true,
		},
		{
			name: "loop across questions", reason: "names seen in earlier responses count too",
			steps: []step{
				{"a.test.", reply("a.test.", dns.TypeMX, 0, "a.test. 60 IN CNAME b.other."), nil},
				{"b.other.", reply("b.other.", dns.TypeMX, 0, "b.other. 60 IN CNAME a.test."), nil},
			},
			wantErr: true, wantCNAME: true,
		},
		{
			name: "self loop", reason: "a CNAME to itself",
			steps:   []step{{"a.test.", reply("a.test.", dns.TypeMX, 0, "a.test. 60 IN CNAME a.test."), nil}},
			wantErr: true, wantCNAME: true,
		},
		{
			name: "SERVFAIL", reason: "temporary",
			steps:   []step{{"a.test.", reply("a.test.", dns.TypeMX, dns.RcodeServerFailure), nil}},
			wantErr: true,
		},
		{
			name: "REFUSED", reason: "temporary: says nothing about the name",
			steps:   []step{{"a.test.", reply("a.test.", dns.TypeMX, dns.RcodeRefused), nil}},
			wantErr: true,
		},
		{
			name: "referral", reason: "RFC 1034, Section 4.3.1: a referral is no answer; never NODATA, never a bounce",
			steps:   []step{{"a.test.", withNs(reply("a.test.", dns.TypeMX, 0), false, "test. 60 IN NS ns.test."), nil}},
			wantErr: true,
		},
		{
			name: "lame reply", reason: "NOERROR, no answer, no SOA, neither AA nor RA: a lame referral (golang/go#15434), temporary, never NODATA",
			steps:   []step{{"a.test.", reply("a.test.", dns.TypeMX, 0), nil}},
			wantErr: true,
		},
		{
			name: "lame reply at the end of a chain", reason: "the server asked for the CNAME's target knows nothing of it: temporary",
			steps: []step{
				{"a.test.", reply("a.test.", dns.TypeMX, 0, "a.test. 60 IN CNAME b.other."), nil},
				{"b.other.", reply("b.other.", dns.TypeMX, 0), nil},
			},
			wantErr: true,
		},
		{
			name: "authoritative NODATA", reason: "AA set, no SOA: the server speaks for the zone, so it is NODATA",
			steps:    []step{{"a.test.", withAA(reply("a.test.", dns.TypeMX, 0)), nil}},
			wantKind: noData, wantName: "a.test.",
		},
		{
			name: "authoritative NODATA with NS", reason: "AA set: the server speaks for the zone, so it is NODATA",
			steps:    []step{{"a.test.", withNs(reply("a.test.", dns.TypeMX, 0), true, "test. 60 IN NS ns.test."), nil}},
			wantKind: noData, wantName: "a.test.",
		},
		{
			name: "NODATA with SOA, no AA", reason: "RFC 2308, Section 2.2: the SOA marks NODATA, as a recursive resolver passes it on",
			steps:    []step{{"a.test.", withNs(reply("a.test.", dns.TypeMX, 0), false, "test. 60 IN SOA ns.test. h.test. 1 2 3 4 5", "test. 60 IN NS ns.test."), nil}},
			wantKind: noData, wantName: "a.test.",
		},
		{
			name: "resolver error", reason: "no response is temporary",
			steps:   []step{{"a.test.", nil, errors.New("i/o timeout")}},
			wantErr: true,
		},
		{
			name: "nil response", reason: "a Resolver that returns neither is treated as no response",
			steps:   []step{{"a.test.", nil, nil}},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := 0
			res := ResolverFunc(func(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
				require.Less(t, i, len(tt.steps), "unexpected question %s", name)
				s := tt.steps[i]
				i++
				assert.Equal(t, s.name, name)
				return s.msg, s.err
			})
			a, err := lookup(t.Context(), res, "a.test.", dns.TypeMX, defaultMaxMX)
			assert.Equal(t, len(tt.steps), i, "questions asked")
			if tt.wantErr {
				require.NotNil(t, err, tt.reason)
				assert.Equal(t, tt.wantCNAME, err.cname, tt.reason)
				return
			}
			require.Nil(t, err, tt.reason)
			assert.Equal(t, tt.wantKind, a.kind, tt.reason)
			assert.Equal(t, tt.wantName, a.name, tt.reason)
			assert.Equal(t, tt.wantChain, a.chain, tt.reason)
			assert.Len(t, a.rrs, tt.wantRRs, tt.reason)
		})
	}
}

func TestLookupCancelled(t *testing.T) {
	verifyNoLeaks(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	called := false
	res := ResolverFunc(func(context.Context, string, uint16) (*dns.Msg, error) { called = true; return nil, nil })
	_, err := lookup(ctx, res, "a.test.", dns.TypeMX, defaultMaxMX)
	require.NotNil(t, err)
	assert.ErrorIs(t, err.cause, context.Canceled)
	assert.False(t, called, "no question once the context is done")
}

func label(i int) string {
	return string(rune('a'+i%26)) + string(rune('a'+i/26%26))
}

// withNs puts records in the authority section and sets AA.
func withNs(m *dns.Msg, aa bool, rrs ...string) *dns.Msg {
	m.Authoritative = aa
	m.Ns = dnstest.RRs(rrs...)
	return m
}

// TestRecordsCapKeepsMostPreferred: an MX RRset over MaxMX is cut at its
// least preferred end, whatever order the response lists it in, with
// memory bounded by twice the cap.
func TestRecordsCapKeepsMostPreferred(t *testing.T) {
	mx := func(pref uint16, host string) dns.RR {
		return &dns.MX{Hdr: dns.RR_Header{Name: "c.test.", Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60}, Preference: pref, Mx: host + ".c.test."}
	}
	prefs := func(rrs []dns.RR) []uint16 {
		out := make([]uint16, len(rrs))
		for i, rr := range rrs {
			out[i] = rr.(*dns.MX).Preference
		}
		return out
	}
	var descending []dns.RR
	for i := range 1000 {
		descending = append(descending, mx(uint16(1000-i), fmt.Sprint("h", i)))
	}
	tests := []struct {
		name   string
		rrs    []dns.RR
		limit  int
		want   []uint16
		reason string
	}{
		{"under the cap", []dns.RR{mx(30, "a"), mx(10, "b"), mx(20, "c")}, 3, []uint16{30, 10, 20},
			"nothing to cut: response order kept (the router sorts)"},
		{"best last", []dns.RR{mx(50, "a"), mx(40, "b"), mx(30, "c"), mx(20, "d"), mx(10, "e")}, 2, []uint16{10, 20},
			"RFC 5321 §5.1: lowest preference tried first, so the cap cuts the highest"},
		{"ties keep response order", []dns.RR{mx(20, "a"), mx(10, "b"), mx(20, "c"), mx(10, "d")}, 3, []uint16{10, 10, 20},
			"both 10s, then the first 20"},
		{"many compactions", descending, 5, []uint16{1, 2, 3, 4, 5},
			"1000 records in reverse order: the five best survive every compaction"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := records(tt.rrs, "C.test.", dns.TypeMX, tt.limit)
			assert.Equal(t, tt.want, prefs(got), tt.reason)
			assert.LessOrEqual(t, cap(got), 2*tt.limit, "memory bounded by twice the cap")
		})
	}
	got := records(tests[1].rrs, "c.test.", dns.TypeMX, 2)
	assert.Equal(t, "e.c.test.", got[0].(*dns.MX).Mx, "the record itself, not only its preference")
}

// withRA sets RA, as a recursive resolver does in every reply.
func withRA(m *dns.Msg) *dns.Msg { m.RecursionAvailable = true; return m }

// withAA sets AA, as an authoritative server does.
func withAA(m *dns.Msg) *dns.Msg { m.Authoritative = true; return m }
