package mxroute

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/dnstest"
)

// zoneRouter returns a ZoneResolver over a zone written in the test.
func testZone(t testing.TB, origin, data string) *ZoneResolver {
	t.Helper()
	z, err := NewZoneResolver(strings.NewReader(data), origin)
	require.NoError(t, err)
	return z
}

// countingResolver counts the questions it passes to next.
type countingResolver struct {
	next  Resolver
	mu    sync.Mutex
	asked []string // "name TYPE"
}

func (c *countingResolver) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	c.mu.Lock()
	c.asked = append(c.asked, name+" "+dns.TypeToString[qtype])
	c.mu.Unlock()
	return c.next.Resolve(ctx, name, qtype)
}

func (c *countingResolver) questions() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.asked...)
}

// reply builds a response to name/qtype with the given rcode and answers.
func reply(name string, qtype uint16, rcode int, answers ...string) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response, m.Rcode = true, rcode
	m.Answer = dnstest.RRs(answers...)
	return m
}

// serveDNS starts a DNS server on loopback, UDP and TCP.
func serveDNS(t testing.TB, h dns.HandlerFunc) string { return dnstest.Serve(t, h) }

// writeReply writes a reply to req with rcode and records; AA and RA are set,
// as Go's resolver wants them.
func writeReply(w dns.ResponseWriter, req *dns.Msg, rcode int, rrs ...string) {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.Authoritative, m.RecursionAvailable = true, true
	m.Answer = dnstest.RRs(rrs...)
	_ = w.WriteMsg(m)
}

// targetAddrs returns the addresses of rt's targets, in order, as strings.
func targetAddrs(rt *Route) []string {
	var out []string
	for _, tg := range rt.Targets() {
		out = append(out, tg.Addr.String())
	}
	return out
}
