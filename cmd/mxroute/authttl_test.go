package main

import (
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
)

// TestMXTTLOfTopBit: lint judges the TTL senders use. RFC 2181, Section 8:
// a TTL with the most significant bit set is read as 0, so a published
// 2^31 is no week-long TTL but none at all (mx-ttl-short), as the
// library's Cache reads it.
func TestMXTTLOfTopBit(t *testing.T) {
	mx := func(ttl uint32) dns.RR {
		return &dns.MX{Hdr: dns.RR_Header{Name: "a.example.", Rrtype: dns.TypeMX, Class: dns.ClassINET, Ttl: ttl}, Preference: 10, Mx: "mx.a.example."}
	}
	tests := []struct {
		ttls   []uint32
		want   uint32
		reason string
	}{
		{[]uint32{3600}, 3600, "an ordinary TTL"},
		{[]uint32{1 << 31}, 0, "the top bit set: 0"},
		{[]uint32{3600, 0xffffffff}, 0, "the smallest of the RRset, the top-bit one counting as 0"},
		{[]uint32{0x7fffffff}, 0x7fffffff, "the largest valid TTL stays"},
	}
	for _, tt := range tests {
		m := new(dns.Msg)
		for _, ttl := range tt.ttls {
			m.Answer = append(m.Answer, mx(ttl))
		}
		got, found := mxTTLOf(m, "A.example.")
		assert.True(t, found, tt.reason)
		assert.Equal(t, tt.want, got, tt.reason)
	}
}
