package dnstest

import (
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestServe(t *testing.T) {
	addr := Serve(t, dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.Answer = RRs(req.Question[0].Name + " 60 IN A 192.0.2.1")
		_ = w.WriteMsg(m)
	}))
	for _, network := range []string{"udp", "tcp"} {
		q := new(dns.Msg)
		q.SetQuestion("h.test.", dns.TypeA)
		resp, _, err := (&dns.Client{Net: network, Timeout: 2 * time.Second}).Exchange(q, addr)
		require.NoError(t, err, network)
		require.Len(t, resp.Answer, 1, network)
		assert.Equal(t, "h.test.", resp.Answer[0].Header().Name)
	}
}

func TestRRs(t *testing.T) {
	assert.Len(t, RRs("a. 60 IN A 192.0.2.1", "a. 60 IN MX 10 b."), 2)
	assert.Panics(t, func() { RRs("not a record") })
}

// WithAD sets AD on replies for names in the signed zones, clears it for
// the rest, and sets it everywhere without zones; over UDP and TCP alike.
func TestWithAD(t *testing.T) {
	answer := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(req)
		m.AuthenticatedData = true // what WithAD says wins
		_ = w.WriteMsg(m)
	})
	signed := Serve(t, WithAD(answer, "signed.test", "other.test."))
	all := Serve(t, WithAD(answer))
	tests := []struct {
		name   string
		server string
		qname  string
		want   bool
		reason string
	}{
		{"zone apex", signed, "signed.test.", true, "the zone itself"},
		{"below the zone", signed, "mx.SIGNED.test.", true, "names compare case-insensitively"},
		{"second zone", signed, "a.other.test.", true, "every zone given"},
		{"unsigned", signed, "unsigned.test.", false, "outside the zones: cleared"},
		{"suffix is not a zone", signed, "notsigned.test.", false, "labels, not string suffixes"},
		{"no zones", all, "anything.test.", true, "no zones: every reply"},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			q := new(dns.Msg)
			q.SetQuestion(tt.qname, dns.TypeMX)
			resp, _, err := (&dns.Client{Net: network, Timeout: 2 * time.Second}).Exchange(q, tt.server)
			require.NoError(t, err, tt.name)
			assert.Equal(t, tt.want, resp.AuthenticatedData, "%s over %s: %s", tt.name, network, tt.reason)
		}
	}
}
