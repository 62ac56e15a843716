package mxroute

import (
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAddrsOf(t *testing.T) {
	var rrs []dns.RR
	for _, s := range []string{"h. 60 IN A 192.0.2.2", "h. 60 IN AAAA 2001:db8::1", "h. 60 IN A 192.0.2.1", "h. 60 IN TXT \"x\""} {
		rr, err := dns.NewRR(s)
		require.NoError(t, err)
		rrs = append(rrs, rr)
	}
	rrs = append(rrs, &dns.A{Hdr: dns.RR_Header{Name: "h.", Rrtype: dns.TypeA, Class: dns.ClassINET}}) // no address: skipped
	assert.Equal(t, mustAddrs("192.0.2.2", "2001:db8::1", "192.0.2.1"), addrsOf(rrs), "order kept, junk skipped")
	assert.Nil(t, addrsOf(nil))
}

func TestHostError(t *testing.T) {
	temp := &lookupError{detail: "A lookup for h.: SERVFAIL"}
	loop := &lookupError{cname: true, detail: "CNAME loop"}
	tests := []struct {
		name          string
		host          mxHost
		family        Family
		wantErr       error
		wantTemporary bool
		wantDetail    string
		reason        string
	}{
		{"temporary wins", mxHost{v6: addrResult{looked: true, err: temp}, v4: addrResult{looked: true, ans: answer{kind: noDomain}}},
			AnyFamily, ErrTemporary, true, temp.detail, "the host may answer later: wait for it"},
		{"CNAME fault", mxHost{v6: addrResult{looked: true, err: loop}, v4: addrResult{looked: true, err: loop}},
			AnyFamily, ErrCNAME, true, "CNAME loop", "a loop may be mended"},
		{"NXDOMAIN", mxHost{v6: addrResult{looked: true, ans: answer{kind: noDomain}}, v4: addrResult{looked: true, ans: answer{kind: noDomain}}},
			AnyFamily, ErrNoAddress, false, "host does not exist (NXDOMAIN)", "permanent"},
		{"NODATA", mxHost{v6: addrResult{looked: true, ans: answer{kind: noData}}, v4: addrResult{looked: true, ans: answer{kind: noData}}},
			AnyFamily, ErrNoAddress, false, "no A or AAAA records", "permanent"},
		{"family excluded", mxHost{v6: addrResult{looked: true, addrs: mustAddrs("2001:db8::1")}, v4: addrResult{looked: true, ans: answer{kind: noData}}},
			IPv4Only, ErrNoAddress, false, "only IPv6 addresses, and the family policy is IPv4Only", "says why"},
		{"IPv6 only, no AAAA", mxHost{v6: addrResult{looked: true, ans: answer{kind: noData}}},
			IPv6Only, ErrNoAddress, false, "no AAAA records", "only AAAA was asked"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.host.name = "h"
			e := hostError("d.test", &tt.host, tt.family)
			assert.ErrorIs(t, e, tt.wantErr, tt.reason)
			assert.Equal(t, tt.wantTemporary, e.Temporary, tt.reason)
			assert.Equal(t, tt.wantDetail, e.Detail)
			assert.Equal(t, "h", e.Host)
			assert.Equal(t, "d.test", e.Domain)
		})
	}
}
