package mxroute

import (
	"context"
	"net"
	"strings"
	"sync"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/require"
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
	for _, s := range answers {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	return m
}

// serveDNS starts a miekg/dns server on one loopback port, UDP and TCP,
// and returns its address. It stops when the test ends.
func serveDNS(t testing.TB, h dns.HandlerFunc) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	ln, err := net.Listen("tcp", pc.LocalAddr().String())
	require.NoError(t, err)
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// writeReply writes a reply to req with rcode and records; AA and RA are set,
// as Go's resolver wants them.
func writeReply(w dns.ResponseWriter, req *dns.Msg, rcode int, rrs ...string) {
	m := new(dns.Msg)
	m.SetRcode(req, rcode)
	m.Authoritative, m.RecursionAvailable = true, true
	for _, s := range rrs {
		rr, err := dns.NewRR(s)
		if err != nil {
			panic(err)
		}
		m.Answer = append(m.Answer, rr)
	}
	_ = w.WriteMsg(m)
}
