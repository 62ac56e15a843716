package mxroute

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/mxroute-go/mxroute/internal/dnstest"
)

// The attacker's address: it must never be a target.
const attackerAddr = "203.0.113.66"

// victimZone is what the honest DNS says: the victim's one MX and its
// addresses, and the attacker's own host, which resolves like any other, so
// that a planted MX pointing at it would really route mail there.
func victimZone() *dnstest.Zone {
	return dnstest.NewZone(
		"victim.test. 60 IN MX 10 mx.victim.test.",
		"mx.victim.test. 60 IN A 192.0.2.25",
		"mx.victim.test. 60 IN AAAA 2001:db8::25",
		"evil.attacker.example. 60 IN A "+attackerAddr,
	)
}

// poison is what a cache-poisoning attempt plants in the MX reply: records
// for the mail host and for other names, the wrong class, a CNAME, all
// pointing at the attacker.
var poison = dnstest.RRs(
	"mx.victim.test. 60 IN A "+attackerAddr, // the MX host's address, in the MX reply
	"mx.victim.test. 60 IN AAAA 2001:db8:bad::66",
	"other.test. 60 IN MX 0 evil.attacker.example.",  // an MX for another domain
	"VICTIM.test. 60 CH MX 0 evil.attacker.example.", // the right owner, the wrong class
	"victim.test. 60 IN A "+attackerAddr,             // the right owner, a type not asked
	"evil.attacker.example. 60 IN A "+attackerAddr,
	"unrelated.test. 60 IN CNAME evil.attacker.example.",
)

// verifyNoLeaks fails the test if it leaves goroutines behind. It runs after
// the test's own cleanups (the servers' shutdown), so it must be called
// first; tests using it are not parallel, so that other tests' goroutines
// do not count.
func verifyNoLeaks(t *testing.T) {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// withLiveness runs f and fails the test if it has not returned within a
// minute: not a timing assertion (every timeout in these tests is well under
// a second), a guard that turns a hang into a failure.
func withLiveness(t *testing.T, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { defer close(done); f() }()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("did not return: hung on a hostile server")
	}
}

// TestHostileServer routes through DNSResolver against a loopback server
// that attacks in one way per case. The attacker's address must never be a
// target, and a server that does not answer properly defers the mail.
func TestHostileServer(t *testing.T) {
	verifyNoLeaks(t)
	tests := []struct {
		attack      dnstest.Attack
		delay       time.Duration
		domain      string
		wantTargets []string // nil: an error is wanted
		wantErr     error
		reason      string
	}{
		{dnstest.Honest, 0, "victim.test", []string{"2001:db8::25", "192.0.2.25"}, nil,
			"the baseline: the honest route"},
		{dnstest.Poison, 0, "victim.test", []string{"2001:db8::25", "192.0.2.25"}, nil,
			"records unrelated to the question (other owners, other types, class CH) in any section are ignored"},
		{dnstest.WrongQuestion, 0, "victim.test", nil, ErrTemporary,
			"RFC 5452, Section 3: a reply to another question is no reply"},
		{dnstest.WrongID, 0, "victim.test", nil, ErrTemporary,
			"RFC 5452, Section 3: a reply under another ID is no reply"},
		{dnstest.ForgedFirst, 0, "victim.test", []string{"2001:db8::25", "192.0.2.25"}, nil,
			"forged and garbage datagrams are dropped, and the honest reply behind them is still taken"},
		{dnstest.TruncatedThenGarbage, 0, "victim.test", nil, ErrTemporary,
			"a truncated reply is never used as the answer; garbage over TCP fails the attempt"},
		{dnstest.TruncatedTwice, 0, "victim.test", nil, ErrTemporary,
			"a reply truncated over TCP too is incomplete: defer"},
		{dnstest.EndlessCNAME, 0, "victim.test", nil, ErrCNAME,
			"RFC 1034, Section 3.6.2: a chain of fresh names is cut at 10 links, not followed forever"},
		{dnstest.Late, 600 * time.Millisecond, "victim.test", nil, ErrTemporary,
			"a reply after the attempt's timeout is no reply"},
		{dnstest.Silent, 0, "victim.test", nil, ErrTemporary,
			"no reply at all defers the mail"},
	}
	for _, tt := range tests {
		t.Run(tt.attack.String(), func(t *testing.T) {
			t.Parallel()
			h := &dnstest.Hostile{Attack: tt.attack, Backend: victimZone(), Plant: poison, PlantOn: dns.TypeMX, Delay: tt.delay}
			if tt.attack == dnstest.WrongQuestion || tt.attack == dnstest.WrongID {
				h.PlantOn = 0 // the wrong reply carries the attacker's records for every question
			}
			addr := dnstest.Serve(t, h)
			r := &Router{Resolver: &DNSResolver{Servers: []string{addr}, Timeout: 250 * time.Millisecond, Attempts: 1}}
			// The deadline only ends a runaway, should a protection fail.
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			var rt *Route
			var err error
			withLiveness(t, func() { rt, err = r.Route(ctx, tt.domain) })
			for _, tg := range rt.Targets() {
				assert.NotEqual(t, attackerAddr, tg.Addr.String(), tt.reason)
			}
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr, tt.reason)
				assert.True(t, IsTemporary(err), "a hostile server defers the mail, never bounces it: %s", tt.reason)
				if tt.attack == dnstest.EndlessCNAME {
					assert.LessOrEqual(t, h.Queries(), int64(maxCNAMEs+1), "the chain is cut: at most one question per link")
				}
				return
			}
			require.NoError(t, err, tt.reason)
			assert.Equal(t, tt.wantTargets, targetAddrs(rt), tt.reason)
		})
	}
}

// TestHostileResolverDirect feeds hostile responses to the router through a
// ResolverFunc, so that the router's own checks are tested apart from
// DNSResolver's: a custom Resolver may pass anything on.
func TestHostileResolverDirect(t *testing.T) {
	honest := victimZone()
	ask := func(name string, qtype uint16) *dns.Msg {
		q := new(dns.Msg)
		q.SetQuestion(name, qtype)
		return honest.Reply(q)
	}
	tests := []struct {
		name        string
		mangle      func(name string, qtype uint16, m *dns.Msg) // applied to every reply
		wantTargets []string
		wantErr     error
		reason      string
	}{
		{"honest", func(string, uint16, *dns.Msg) {}, []string{"2001:db8::25", "192.0.2.25"}, nil, "the baseline"},
		{"question for another name", func(_ string, qtype uint16, m *dns.Msg) {
			m.Question[0].Name = "attacker.example."
			if qtype == dns.TypeMX {
				m.Answer = dnstest.RRs("victim.test. 60 IN MX 0 evil.attacker.example.")
			}
		}, nil, ErrTemporary, "RFC 5452, Section 3: the question section must be the one asked"},
		{"question for another type", func(_ string, _ uint16, m *dns.Msg) { m.Question[0].Qtype = dns.TypeTXT },
			nil, ErrTemporary, "the type is part of the question"},
		{"question for another class", func(_ string, _ uint16, m *dns.Msg) { m.Question[0].Qclass = dns.ClassCHAOS },
			nil, ErrTemporary, "the class is part of the question"},
		{"no question", func(_ string, _ uint16, m *dns.Msg) { m.Question = nil },
			nil, ErrTemporary, "a reply without a question answers nothing"},
		{"question in another case", func(_ string, _ uint16, m *dns.Msg) { m.Question[0].Name = strings.ToUpper(m.Question[0].Name) },
			[]string{"2001:db8::25", "192.0.2.25"}, nil, "RFC 4343: names compare case-insensitively (0x20 randomisation)"},
		{"owners in another case", func(_ string, _ uint16, m *dns.Msg) {
			for _, rr := range m.Answer {
				rr.Header().Name = strings.ToUpper(rr.Header().Name)
			}
		}, []string{"2001:db8::25", "192.0.2.25"}, nil, "RFC 4343: owner names compare case-insensitively"},
		{"truncated", func(_ string, qtype uint16, m *dns.Msg) { m.Truncated = qtype == dns.TypeMX },
			nil, ErrTemporary, "RFC 2181, Section 9: a truncated reply is incomplete"},
		{"poison in every section", func(_ string, qtype uint16, m *dns.Msg) {
			if qtype == dns.TypeMX {
				m.Answer = append(m.Answer, poison...)
				m.Ns = append(m.Ns, poison...)
				m.Extra = append(m.Extra, poison...)
			}
		}, []string{"2001:db8::25", "192.0.2.25"}, nil, "only records of the question's type and class owned by its name are used"},
		{"nil records", func(_ string, _ uint16, m *dns.Msg) { m.Answer = append([]dns.RR{nil}, m.Answer...) },
			[]string{"2001:db8::25", "192.0.2.25"}, nil, "a nil record in a hand-built reply is skipped, not a panic"},
		{"wrong-class MX only", func(_ string, qtype uint16, m *dns.Msg) {
			if qtype == dns.TypeMX {
				m.Answer = dnstest.RRs("victim.test. 60 CH MX 10 evil.attacker.example.")
			}
		}, nil, ErrNoMailHost, "class CH records are no MX: NODATA, the implicit MX, which has no address"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			res := ResolverFunc(func(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
				m := ask(name, qtype)
				tt.mangle(name, qtype, m)
				return m, nil
			})
			rt, err := (&Router{Resolver: res}).Route(t.Context(), "victim.test")
			for _, tg := range rt.Targets() {
				assert.NotEqual(t, attackerAddr, tg.Addr.String(), tt.reason)
			}
			if tt.wantErr != nil {
				require.ErrorIs(t, err, tt.wantErr, tt.reason)
				return
			}
			require.NoError(t, err, tt.reason)
			assert.Equal(t, tt.wantTargets, targetAddrs(rt), tt.reason)
		})
	}
}

// TestHugeRRsets: a 65,535-record MX or A RRset handed over by a Resolver
// is capped (MaxMX, MaxAddrsPerHost, or their defaults 100 and 64): the
// route is as small as the cap, and only the capped hosts are looked up.
func TestHugeRRsets(t *testing.T) {
	const n = 65535
	mxs := make([]dns.RR, n)
	as := make([]dns.RR, n)
	for i := range n {
		mxs[i] = &dns.MX{Hdr: dns.RR_Header{Name: "huge.test.", Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: 60},
			Preference: uint16(min(i, 1) + i%7), Mx: fmt.Sprintf("mx%d.huge.test.", i)}
		as[i] = &dns.A{Hdr: dns.RR_Header{Name: "mx0.huge.test.", Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
			A: net.IPv4(10, byte(i>>16), byte(i>>8), byte(i))}
	}
	tests := []struct {
		name      string
		router    Router
		wantHosts int
		wantAddrs int // of the first host
		reason    string
	}{
		{"defaults", Router{}, defaultMaxMX, defaultMaxAddrsPerHost, "100 MX records, 64 addresses per host"},
		{"configured", Router{MaxMX: 7, MaxAddrsPerHost: 3}, 7, 3, "the caps are configurable"},
		{"dual stack capped per host", Router{MaxMX: 1, MaxAddrsPerHost: 5}, 1, 5, "A and AAAA together are capped"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &countingResolver{next: ResolverFunc(func(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
				m := reply(name, qtype, 0)
				switch {
				case qtype == dns.TypeMX:
					m.Answer = mxs
				case qtype == dns.TypeA && name == "mx0.huge.test.":
					m.Answer = as
				case qtype == dns.TypeAAAA && name == "mx0.huge.test.":
					for i := range 10 {
						m.Answer = append(m.Answer, &dns.AAAA{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeAAAA, Class: dns.ClassINET, Ttl: 60},
							AAAA: netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(i + 1)}).AsSlice()})
					}
				}
				return m, nil
			})}
			tt.router.Resolver = c
			rt, err := tt.router.Route(t.Context(), "huge.test")
			require.NoError(t, err)
			assert.Len(t, rt.Hosts, tt.wantHosts, tt.reason)
			assert.Len(t, c.questions(), 1+2*tt.wantHosts, "only the capped hosts are looked up")
			require.Equal(t, "mx0.huge.test", rt.Hosts[0].Name)
			assert.Len(t, rt.Hosts[0].Addrs, tt.wantAddrs, tt.reason)
		})
	}
}

// TestHugeRRsetOverTheWire: the largest RRsets one DNS message can carry
// (truncated over UDP, then as many compressed records as fit in 65,535
// bytes over TCP) come through DNSResolver and are capped by the router.
func TestHugeRRsetOverTheWire(t *testing.T) {
	addr := dnstest.Serve(t, &dnstest.Hostile{Attack: dnstest.Huge})
	res := &DNSResolver{Servers: []string{addr}, Timeout: 5 * time.Second, Attempts: 1}

	m, err := res.Resolve(t.Context(), "huge.test.", dns.TypeMX)
	require.NoError(t, err)
	assert.Greater(t, len(m.Answer), 2000, "the whole RRset came over TCP")
	m.Compress = true
	t.Logf("%d MX records in one %d-byte message (compressed)", len(m.Answer), m.Len())
	m, err = res.Resolve(t.Context(), "mx0.huge.test.", dns.TypeA)
	require.NoError(t, err)
	assert.Greater(t, len(m.Answer), 3000)
	m.Compress = true
	t.Logf("%d A records in one %d-byte message (compressed)", len(m.Answer), m.Len())

	rt, err := (&Router{Resolver: res, Family: IPv6Only}).Route(t.Context(), "huge.test")
	require.ErrorIs(t, err, ErrNoAddress, "no host has an AAAA record")
	require.NotNil(t, rt)
	assert.Len(t, rt.Hosts, defaultMaxMX, "the MX RRset is capped at 100")

	rt, err = (&Router{Resolver: res, Family: IPv4Only, MaxHosts: 1}).Route(t.Context(), "huge.test")
	require.NoError(t, err)
	require.Len(t, rt.Hosts, 1)
	assert.Len(t, rt.Hosts[0].Addrs, defaultMaxAddrsPerHost, "the A RRset is capped at 64")
}

// TestEndlessCNAMEInOneResponse: a response carrying a 1,000-link chain is
// cut at the limit, however long the message.
func TestEndlessCNAMEInOneResponse(t *testing.T) {
	var fresh atomic.Int64 // every name is new: no loop to detect, only length
	res := ResolverFunc(func(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
		m := reply(name, qtype, 0)
		prev := name
		for range 1000 {
			next := fmt.Sprintf("c%d.test.", fresh.Add(1))
			m.Answer = append(m.Answer, &dns.CNAME{Hdr: dns.RR_Header{Name: prev, Rrtype: dns.TypeCNAME, Class: dns.ClassINET, Ttl: 60}, Target: next})
			prev = next
		}
		return m, nil
	})
	// The deadline only ends a runaway chain, should the limit fail.
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := (&Router{Resolver: res}).Route(ctx, "chain.test")
	require.ErrorIs(t, err, ErrCNAME, "RFC 1034, Section 3.6.2: the chain is cut at 10 links")
	assert.True(t, IsTemporary(err))
}

// TestDNSResolverForgeries: DNSResolver alone against each forgery; the
// router is not involved.
func TestDNSResolverForgeries(t *testing.T) {
	verifyNoLeaks(t)
	tests := []struct {
		attack  dnstest.Attack
		wantErr bool
		reason  string
	}{
		{dnstest.WrongQuestion, true, "a reply to another question is dropped; nothing else comes: error"},
		{dnstest.WrongID, true, "a reply under another ID is dropped; nothing else comes: error"},
		{dnstest.ForgedFirst, false, "the honest reply after the forgeries is taken"},
		{dnstest.TruncatedThenGarbage, true, "the truncated UDP reply is not returned when TCP fails"},
		{dnstest.TruncatedTwice, true, "TC over TCP: incomplete, not returned"},
		{dnstest.Silent, true, "no reply"},
	}
	for _, tt := range tests {
		t.Run(tt.attack.String(), func(t *testing.T) {
			t.Parallel()
			h := &dnstest.Hostile{Attack: tt.attack, Backend: victimZone(), Plant: poison}
			addr := dnstest.Serve(t, h)
			var m *dns.Msg
			var err error
			withLiveness(t, func() {
				m, err = (&DNSResolver{Servers: []string{addr}, Timeout: 250 * time.Millisecond, Attempts: 1}).Resolve(t.Context(), "victim.test.", dns.TypeMX)
			})
			if tt.wantErr {
				require.Error(t, err, tt.reason)
				assert.Nil(t, m)
				return
			}
			require.NoError(t, err, tt.reason)
			require.Len(t, m.Answer, 1, tt.reason)
			assert.Equal(t, victimZone().RRs[0].String(), m.Answer[0].String(), tt.reason)
		})
	}
}

// TestDNSResolverDeadline: the caller's deadline ends the exchange with a
// server that answers too late, and nothing is left running.
func TestDNSResolverDeadline(t *testing.T) {
	verifyNoLeaks(t)
	addr := dnstest.Serve(t, &dnstest.Hostile{Attack: dnstest.Late, Delay: 400 * time.Millisecond, Backend: victimZone()})
	ctx, cancel := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancel()
	var err error
	withLiveness(t, func() {
		_, err = (&DNSResolver{Servers: []string{addr}, Timeout: time.Minute, Attempts: 3}).Resolve(ctx, "victim.test.", dns.TypeMX)
	})
	require.ErrorIs(t, err, context.DeadlineExceeded, "the caller's deadline, not the one-minute attempt timeout, ends the wait")
	rt, rerr := (&Router{Resolver: &DNSResolver{Servers: []string{addr}, Timeout: time.Minute}}).Route(ctx, "victim.test")
	assert.Nil(t, rt)
	require.ErrorIs(t, rerr, ErrTemporary)
	assert.ErrorIs(t, rerr, context.DeadlineExceeded)
}

// TestDNSResolverLateReplyNotUsed: the first question is answered, with a
// forged MX, only after its attempt timed out; the retry gets the honest
// answer. The late reply arrives on a socket already closed, under an ID no
// longer waited for, and is never used.
func TestDNSResolverLateReplyNotUsed(t *testing.T) {
	verifyNoLeaks(t)
	var first atomic.Bool
	honest := victimZone()
	addr := dnstest.Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := honest.Reply(req)
		if first.CompareAndSwap(false, true) {
			time.Sleep(400 * time.Millisecond)
			m.Answer = dnstest.RRs("victim.test. 60 IN MX 0 evil.attacker.example.")
		}
		_ = w.WriteMsg(m)
	}))
	var m *dns.Msg
	var err error
	withLiveness(t, func() {
		m, err = (&DNSResolver{Servers: []string{addr}, Timeout: 150 * time.Millisecond, Attempts: 2}).Resolve(t.Context(), "victim.test.", dns.TypeMX)
	})
	require.NoError(t, err)
	require.Len(t, m.Answer, 1)
	assert.Equal(t, "mx.victim.test.", m.Answer[0].(*dns.MX).Mx, "the retry's honest answer, not the late forged one")
}
