// Package dnstest runs DNS servers on loopback for tests: real miekg/dns
// servers on the wire, so that what the resolvers do with UDP, TCP,
// truncation and timeouts is tested, not mocked.
package dnstest

import (
	"net"
	"testing"

	"github.com/miekg/dns"
)

// Serve starts a server answering with h on one loopback port, UDP and
// TCP, and returns its "127.0.0.1:port" address. The server stops when
// the test ends.
func Serve(t testing.TB, h dns.Handler) string {
	t.Helper()
	pc, ln, err := Listen()
	if err != nil {
		t.Fatalf("dnstest: %v", err)
	}
	for _, srv := range []*dns.Server{{PacketConn: pc, Handler: h}, {Listener: ln, Handler: h}} {
		started := make(chan struct{})
		srv.NotifyStartedFunc = func() { close(started) }
		go func() { _ = srv.ActivateAndServe() }()
		<-started
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	return pc.LocalAddr().String()
}

// Listen opens a UDP and a TCP socket on the same free loopback port, for a
// DNS server on both. The kernel picks the UDP port; the same TCP port may
// be in use (by another test's connection), so it tries again with another.
func Listen() (net.PacketConn, net.Listener, error) {
	var err error
	for range 20 {
		var pc net.PacketConn
		if pc, err = net.ListenPacket("udp", "127.0.0.1:0"); err != nil {
			return nil, nil, err
		}
		var ln net.Listener
		if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err == nil {
			return pc, ln, nil
		}
		pc.Close()
	}
	return nil, nil, err
}

// RRs parses records in presentation format, or panics: test data only.
func RRs(s ...string) []dns.RR {
	out := make([]dns.RR, 0, len(s))
	for _, line := range s {
		rr, err := dns.NewRR(line)
		if err != nil {
			panic("dnstest: " + err.Error())
		}
		out = append(out, rr)
	}
	return out
}

// WithAD wraps h so that its replies to questions at or below one of
// zones carry the AD bit and all others have it clear, as a validating
// resolver answers for names in signed zones (RFC 4035, Section 3.2.3) and
// in unsigned ones. Without zones, every reply carries it. A DNSResolver
// with DNSSEC set believes the bit from a loopback server.
func WithAD(h dns.Handler, zones ...string) dns.Handler {
	return dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		ad := len(zones) == 0
		if len(req.Question) == 1 {
			for _, z := range zones {
				ad = ad || dns.IsSubDomain(dns.Fqdn(z), req.Question[0].Name)
			}
		}
		h.ServeDNS(adWriter{w, ad}, req)
	})
}

// adWriter sets or clears the AD bit of every message written.
type adWriter struct {
	dns.ResponseWriter
	ad bool
}

func (w adWriter) WriteMsg(m *dns.Msg) error {
	m.AuthenticatedData = w.ad
	return w.ResponseWriter.WriteMsg(m)
}
