package mxroute

import (
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestLoopGuard(t *testing.T) {
	// The vega-gw.vega.ru MX set of the classic relay example.
	mk := func() []*mxHost {
		return []*mxHost{
			{name: "vega-gw.vega.ru", pref: 0, v4: addrResult{addrs: mustAddrs("194.226.43.1")}},
			{name: "ns.relarn.ru", pref: 10, v4: addrResult{addrs: mustAddrs("198.51.100.10")}, v6: addrResult{addrs: mustAddrs("2001:db8:10::10")}},
			{name: "twin.relarn.ru", pref: 10},
			{name: "relay.relarn.ru", pref: 20, v4: addrResult{addrs: mustAddrs("198.51.100.20")}},
		}
	}
	tests := []struct {
		name        string
		router      Router
		wantKept    []string
		wantDropped []string
		wantSelf    bool
		reason      string
	}{
		{"no local identity", Router{}, []string{"vega-gw.vega.ru", "ns.relarn.ru", "twin.relarn.ru", "relay.relarn.ru"}, nil, false,
			"LocalNames and LocalAddrs empty: no pruning"},
		{"backup relay by name", Router{LocalNames: []string{"ns.relarn.ru"}}, []string{"vega-gw.vega.ru"},
			[]string{"ns.relarn.ru", "twin.relarn.ru", "relay.relarn.ru"}, true,
			"RFC 5321, Section 5.1: this host's preference level and every higher number go, its equal-preference twin too"},
		{"name case and dot", Router{LocalNames: []string{"NS.Relarn.RU."}}, []string{"vega-gw.vega.ru"},
			[]string{"ns.relarn.ru", "twin.relarn.ru", "relay.relarn.ru"}, true, "names match case-insensitively, trailing dot ignored"},
		{"last relay", Router{LocalNames: []string{"relay.relarn.ru"}}, []string{"vega-gw.vega.ru", "ns.relarn.ru", "twin.relarn.ru"},
			[]string{"relay.relarn.ru"}, true, "the worst MX may use all better ones"},
		{"primary", Router{LocalNames: []string{"vega-gw.vega.ru"}}, []string{}, []string{"vega-gw.vega.ru", "ns.relarn.ru", "twin.relarn.ru", "relay.relarn.ru"}, true,
			"nothing left: the caller reports the loop"},
		{"by IPv6 address", Router{LocalAddrs: mustAddrs("2001:db8:10::10")}, []string{"vega-gw.vega.ru"},
			[]string{"ns.relarn.ru", "twin.relarn.ru", "relay.relarn.ru"}, true, "any address of the host counts"},
		{"by mapped address", Router{LocalAddrs: mustAddrs("::ffff:198.51.100.20")}, []string{"vega-gw.vega.ru", "ns.relarn.ru", "twin.relarn.ru"},
			[]string{"relay.relarn.ru"}, true, "an IPv4-mapped address is the IPv4 address"},
		{"zoned address", Router{LocalAddrs: []netip.Addr{netip.MustParseAddr("2001:db8:10::10%eth0")}}, []string{"vega-gw.vega.ru"},
			[]string{"ns.relarn.ru", "twin.relarn.ru", "relay.relarn.ru"}, true, "an interface zone does not hide the address"},
		{"unrelated identity", Router{LocalNames: []string{"mail.example"}, LocalAddrs: mustAddrs("192.0.2.99")},
			[]string{"vega-gw.vega.ru", "ns.relarn.ru", "twin.relarn.ru", "relay.relarn.ru"}, nil, false, "not in the list: no pruning"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hosts := mk()
			ro := &routing{r: &tt.router, hosts: hosts, rt: &Route{Canonical: "vega-gw.vega.ru"}}
			err := ro.loopGuard(t.Context())
			kept, dropped, self := ro.hosts, hosts[len(ro.hosts):], ro.self
			assert.Equal(t, len(kept) == 0, err != nil, "ErrLoop when nothing is left")
			if tt.wantKept == nil {
				tt.wantKept = []string{}
			}
			assert.Equal(t, tt.wantKept, append([]string{}, names(kept)...), tt.reason)
			assert.Equal(t, tt.wantDropped, names(dropped), tt.reason)
			assert.Equal(t, tt.wantSelf, self, tt.reason)
		})
	}
}
