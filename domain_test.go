package mxroute

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseDomain(t *testing.T) {
	tests := []struct {
		name, in string
		want     destination
		bad      bool
		reason   string
	}{
		{"plain", "example.com", destination{name: "example.com"}, false, "already normal"},
		{"case folded", "ExAmPlE.CoM", destination{name: "example.com"}, false, "RFC 5321, Section 2.4: domains are case-insensitive"},
		{"trailing dot", "example.com.", destination{name: "example.com"}, false, "a fully qualified name is the same domain"},
		{"single label", "localhost", destination{name: "localhost"}, false, "syntactically valid; DNS decides"},
		{"digits and hyphens", "1-2.x-y.example", destination{name: "1-2.x-y.example"}, false, "Let-dig and Ldh-str"},
		{"double hyphen", "ab--cd.example", destination{name: "ab--cd.example"}, false, "RFC 5321 allows hyphens inside a label"},
		{"U-label", "Bücher.example", destination{name: "xn--bcher-kva.example"}, false, "RFC 5891: looked up as an A-label"},
		{"A-label", "XN--BCHER-KVA.example", destination{name: "xn--bcher-kva.example"}, false, "A-labels are folded too"},
		{"full-width dot", "bücher。example", destination{name: "xn--bcher-kva.example"}, false, "UTS #46 maps the ideographic full stop"},
		{"ideographic full stop", "example\u3002com", destination{name: "example.com"}, false, "RFC 3490, Section 3.1: U+3002 separates labels, in an ASCII name too"},
		{"fullwidth full stop", "example\uff0ecom", destination{name: "example.com"}, false, "RFC 3490, Section 3.1: U+FF0E separates labels"},
		{"halfwidth ideographic full stop", "example\uff61com", destination{name: "example.com"}, false, "RFC 3490, Section 3.1: U+FF61 separates labels"},
		{"trailing ideographic full stop", "b\u00fccher.example\u3002", destination{name: "xn--bcher-kva.example"}, false, "a trailing separator of any of the four kinds is the root, like a trailing dot"},
		{"trailing fullwidth full stop", "example.com\uff0e", destination{name: "example.com"}, false, "a trailing U+FF0E is a trailing dot"},
		{"two trailing separators", "example.com\uff61.", destination{}, true, "an empty label, whatever the separators"},
		{"IPv4 literal", "[192.0.2.1]", destination{literal: netip.MustParseAddr("192.0.2.1")}, false, "RFC 5321, Section 4.1.3"},
		{"IPv6 literal", "[IPv6:2001:db8::1]", destination{literal: netip.MustParseAddr("2001:db8::1")}, false, "RFC 5321, Section 4.1.3"},
		{"IPv6 literal lower tag", "[ipv6:2001:DB8::1]", destination{literal: netip.MustParseAddr("2001:db8::1")}, false, "the tag is case-insensitive"},
		{"empty", "", destination{}, true, "nothing to route"},
		{"only a dot", ".", destination{}, true, "the root takes no mail"},
		{"two trailing dots", "example.com..", destination{}, true, "an empty label"},
		{"empty label", "a..example", destination{}, true, "an empty label"},
		{"leading dot", ".example", destination{}, true, "an empty label"},
		{"leading hyphen", "-a.example", destination{}, true, "sub-domain starts with Let-dig"},
		{"trailing hyphen", "a-.example", destination{}, true, "Ldh-str ends with Let-dig"},
		{"underscore", "a_b.example", destination{}, true, "not a letter, digit or hyphen"},
		{"space", "a b.example", destination{}, true, "not a letter, digit or hyphen"},
		{"NUL", "a\x00.example", destination{}, true, "control characters never pass"},
		{"label 64", strings.Repeat("a", 64) + ".example", destination{}, true, "RFC 1035: labels are at most 63 octets"},
		{"bare IPv4", "192.0.2.1", destination{}, true, "must be written as [192.0.2.1]"},
		{"bare IPv6", "2001:db8::1", destination{}, true, "colons are not allowed"},
		{"IPv4 literal, bad octet", "[192.0.2.256]", destination{}, true, "not an address"},
		{"IPv4 literal, leading zero", "[192.0.2.01]", destination{}, true, "Snum has no leading zeros in netip's reading"},
		{"IPv6 literal without tag", "[2001:db8::1]", destination{}, true, "RFC 5321: IPv6 needs the IPv6: tag"},
		{"IPv6 tag with IPv4", "[IPv6:192.0.2.1]", destination{}, true, "the tag says IPv6"},
		{"IPv6 literal with zone", "[IPv6:fe80::1%eth0]", destination{}, true, "a zone names no Internet host"},
		{"general literal", "[x400:abc]", destination{}, true, "no standardized tag but IPv6"},
		{"unclosed literal", "[192.0.2.1", destination{}, true, "brackets must close"},
		{"empty literal", "[]", destination{}, true, "nothing inside"},
		{"invalid UTF-8", "b\x85cher.example", destination{}, true, "not text: never mapped to U+FFFD and routed"},
		{"bad punycode", "xn--zz.example", destination{}, true, "an A-label that does not decode"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseDomain(tt.in)
			if tt.bad {
				require.ErrorIs(t, err, ErrBadDomain, tt.reason)
				assert.Equal(t, "5.1.3", err.Status)
				assert.False(t, err.Temporary)
				assert.Equal(t, tt.in, err.Domain, "the error quotes the input")
				return
			}
			require.Nil(t, err, tt.reason)
			assert.Equal(t, tt.want, got, tt.reason)
			if !got.literal.IsValid() {
				assert.Equal(t, got.name, NormalizeHost(tt.in), "NormalizeHost gives the name Route asks DNS about")
			}
		})
	}
}

func TestParseDomainLength(t *testing.T) {
	label := strings.Repeat("a", 63)
	ok := label + "." + label + "." + label + "." + strings.Repeat("b", 61) // 253 octets
	require.Len(t, ok, 253)
	_, err := parseDomain(ok)
	assert.Nil(t, err, "253 octets is the limit")
	_, err = parseDomain(ok + ".")
	assert.Nil(t, err, "the trailing dot does not count")
	_, err = parseDomain(ok + "b")
	require.NotNil(t, err, "254 octets is one too many")
	assert.ErrorIs(t, err, ErrBadDomain)
}

func TestNormalizeHost(t *testing.T) {
	assert.Equal(t, "mx.example.com", NormalizeHost("MX.Example.COM."))
	assert.Equal(t, "xn--bcher-kva.example", NormalizeHost("bücher.example"))
	assert.Equal(t, "mx.example", NormalizeHost("mx\u3002example\uff61"), "RFC 3490, Section 3.1 separators in LocalNames")
	assert.Equal(t, "", NormalizeHost("."), "the null MX target")
	assert.Equal(t, "a\u200d.example", NormalizeHost("A\u200d.Example"), "IDNA rejects a ZWJ there (RFC 5892, Appendix A.2): lower case, otherwise as given")
}

func FuzzParseDomain(f *testing.F) {
	for _, s := range []string{"example.com", "[192.0.2.1]", "[IPv6:::1]", "bücher.example", "", ".", "a..b", "xn--", "[", strings.Repeat("a.", 130)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		d, err := parseDomain(in)
		if err != nil {
			if err.Err != ErrBadDomain || err.Temporary || err.Status != "5.1.3" {
				t.Fatalf("parseDomain(%q): unexpected error %v", in, err)
			}
			return
		}
		if d.literal.IsValid() {
			return
		}
		// NormalizeHost gives the name Route asks DNS about.
		if n := NormalizeHost(in); n != d.name {
			t.Fatalf("NormalizeHost(%q) = %q, parseDomain gives %q", in, n, d.name)
		}
		// A name that passed is lower-case LDH, within the limits, and
		// parsing it again changes nothing.
		if msg := checkHostname(d.name); msg != "" {
			t.Fatalf("parseDomain(%q) = %q: %s", in, d.name, msg)
		}
		again, err := parseDomain(d.name)
		if err != nil || again != d {
			t.Fatalf("parseDomain(%q) = %q, not a fixed point: %v, %v", in, d.name, again, err)
		}
	})
}
