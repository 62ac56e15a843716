package rfcvectors

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/internal/dnstest"
)

func TestVectorTable(t *testing.T) {
	require.GreaterOrEqual(t, len(All), 40)
	seen := map[string]bool{}
	for _, v := range All {
		assert.False(t, seen[v.Name], "duplicate vector name %q", v.Name)
		seen[v.Name] = true
		assert.True(t, strings.HasPrefix(v.RFC, "RFC "), "%q cites no RFC section", v.Name)
		assert.NotEmpty(t, v.Reason, "%q gives no reason", v.Name)
		assert.True(t, v.Want != nil || v.WantErr != nil, "%q expects nothing", v.Name)
		if v.WantErr != nil {
			assert.NotEmpty(t, v.WantStatus, "%q: an error needs its status code", v.Name)
		}
	}
}

// TestVectorsZoneResolver runs every vector against the zone files directly.
func TestVectorsZoneResolver(t *testing.T) {
	z, err := NewZoneResolver()
	require.NoError(t, err)
	for _, v := range All {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			rt, err := v.Router(v.WithFaults(z)).Route(t.Context(), v.Domain)
			Check(t, v, rt, err)
		})
	}
}

// TestVectorsDNSResolver runs every vector over the wire: a miekg/dns server
// on loopback serves the same zones (faults included) and the Router asks it
// through DNSResolver, UDP first.
func TestVectorsDNSResolver(t *testing.T) {
	z, err := NewZoneResolver()
	require.NoError(t, err)
	for _, v := range All {
		t.Run(v.Name, func(t *testing.T) {
			t.Parallel()
			addr := serve(t, v, z)
			res := &mxroute.DNSResolver{Servers: []string{addr}, Timeout: 300 * time.Millisecond, Attempts: 1}
			rt, err := v.Router(res).Route(t.Context(), v.Domain)
			Check(t, v, rt, err)
		})
	}
}

// serve starts a loopback DNS server that answers from z, with the
// vector's faults, and returns its address.
func serve(t *testing.T, v Vector, z mxroute.Resolver) string {
	t.Helper()
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		if len(req.Question) != 1 {
			return
		}
		q := req.Question[0]
		var resp *dns.Msg
		if f, ok := v.Fault(q.Name, q.Qtype); ok {
			if f.Drop {
				return // no response at all
			}
			resp = f.Reply(q.Name, q.Qtype)
		} else {
			var err error
			if resp, err = z.Resolve(context.Background(), q.Name, q.Qtype); err != nil {
				resp = FaultReply(q.Name, q.Qtype, dns.RcodeServerFailure)
			}
		}
		resp.Id = req.Id
		resp.Compress = true
		_ = w.WriteMsg(resp)
	})
	return dnstest.Serve(t, h)
}
