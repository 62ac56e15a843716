package rfcvectors

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute"
)

// NewZoneResolver loads Zones into one ZoneResolver.
func NewZoneResolver() (*mxroute.ZoneResolver, error) {
	var z *mxroute.ZoneResolver
	for _, zone := range Zones() {
		var err error
		if z == nil {
			z, err = mxroute.NewZoneResolver(strings.NewReader(zone.Data), zone.Origin)
		} else {
			err = z.Add(strings.NewReader(zone.Data), zone.Origin)
		}
		if err != nil {
			return nil, err
		}
	}
	return z, nil
}

// Router returns a Router with the vector's settings over res, with a
// seeded Rand.
func (v Vector) Router(res mxroute.Resolver) *mxroute.Router {
	return &mxroute.Router{
		Resolver:   res,
		LocalNames: v.LocalNames,
		LocalAddrs: v.LocalAddrs,
		Rand:       rand.New(rand.NewPCG(1, 2)),
		MaxHosts:   v.MaxHosts,
		MaxAddrs:   v.MaxAddrs,
		Family:     v.Family,

		AllowLoopback: v.AllowLoopback,
	}
}

// Fault returns the fault for a question, if the vector injects one.
func (v Vector) Fault(name string, qtype uint16) (Fault, bool) {
	for _, f := range v.Faults {
		if strings.EqualFold(f.Name, name) && f.Qtype == qtype {
			return f, true
		}
	}
	return Fault{}, false
}

// WithFaults wraps next so that the vector's faults happen: an rcode
// response in place of the answer, or an error for a dropped question.
func (v Vector) WithFaults(next mxroute.Resolver) mxroute.Resolver {
	return mxroute.ResolverFunc(func(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
		f, ok := v.Fault(name, qtype)
		switch {
		case !ok:
			return next.Resolve(ctx, name, qtype)
		case f.Drop:
			return nil, fmt.Errorf("%s %s: no response (injected timeout)", name, dns.TypeToString[qtype])
		}
		return f.Reply(name, qtype), nil
	})
}

// Reply is the response a fault gives.
func (f Fault) Reply(name string, qtype uint16) *dns.Msg {
	if f.Lame {
		m := new(dns.Msg)
		m.SetQuestion(name, qtype)
		m.Response = true
		return m
	}
	if !f.Referral {
		return FaultReply(name, qtype, f.Rcode)
	}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response = true
	m.Ns = []dns.RR{&dns.NS{Hdr: dns.RR_Header{Name: name, Rrtype: dns.TypeNS, Class: dns.ClassINET, Ttl: 3600}, Ns: "ns.elsewhere.example."}}
	return m
}

// FaultReply is the response a fault gives: the question and an rcode.
func FaultReply(name string, qtype uint16, rcode int) *dns.Msg {
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	m.Response, m.RecursionAvailable = true, true
	m.Rcode = rcode
	return m
}

// Check asserts that Route's result is what the vector wants.
func Check(t testing.TB, v Vector, rt *mxroute.Route, err error) {
	t.Helper()
	if v.WantErr == nil {
		require.NoError(t, err, "%s: %s", v.RFC, v.Reason)
	} else {
		require.ErrorIs(t, err, v.WantErr, "%s: %s", v.RFC, v.Reason)
		var e *mxroute.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, v.WantStatus, e.Status, "status: %s", v.Reason)
		assert.Equal(t, v.WantTemporary, e.Temporary, "temporary: %s", v.Reason)
		assert.Equal(t, v.WantTemporary, mxroute.IsTemporary(err))
		assert.Empty(t, rt.Targets(), "a failed route has nothing to try")
		if v.Want == nil {
			if !errors.Is(err, mxroute.ErrNoAddress) {
				assert.Nil(t, rt, "only ErrNoAddress comes with a route")
			}
			return
		}
		require.NotNil(t, rt)
	}
	require.NotNil(t, rt)
	assert.Equal(t, normalize(*v.Want), normalize(got(rt)), "%s: %s", v.RFC, v.Reason)
	n := 0
	for _, h := range rt.Hosts {
		n += len(h.Addrs)
		if h.Err != nil {
			assert.Empty(t, h.Addrs, "a host with an error has no addresses")
		}
	}
	assert.Len(t, rt.Targets(), n, "Targets flattens every host's addresses")
}

// got turns a Route into the vectors' form.
func got(rt *mxroute.Route) Route {
	out := Route{Domain: rt.Domain, Canonical: rt.Canonical, Implicit: rt.Implicit}
	for _, h := range rt.Hosts {
		wh := Host{Name: h.Name, Pref: h.Preference}
		for _, a := range h.Addrs {
			wh.Addrs = append(wh.Addrs, a.String())
		}
		var e *mxroute.Error
		if errors.As(h.Err, &e) {
			wh.Err, wh.Temporary = e.Err, e.Temporary
		} else if h.Err != nil {
			wh.Err = h.Err
		}
		out.Hosts = append(out.Hosts, wh)
	}
	return out
}

// normalize sorts hosts of equal preference by name: their order is random
// by design, every other order is significant.
func normalize(r Route) Route {
	r.Hosts = slices.Clone(r.Hosts)
	slices.SortStableFunc(r.Hosts, func(a, b Host) int {
		return cmp.Or(cmp.Compare(a.Pref, b.Pref), cmp.Compare(a.Name, b.Name))
	})
	return r
}
