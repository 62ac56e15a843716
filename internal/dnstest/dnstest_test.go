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
