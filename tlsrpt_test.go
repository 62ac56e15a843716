package mxroute

import (
	"errors"
	"testing"
	"time"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/tlsrpt"
)

// TestRouterTLSRPT: the TLSRPT record asked through the Router's Resolver,
// a loopback DNS server's answers each meaning what RFC 8460, Section 3
// says.
func TestRouterTLSRPT(t *testing.T) {
	answers := map[string][]string{
		"_smtp._tls.a.test.": {`_smtp._tls.a.test. 300 IN TXT "v=TLSRPTv1;" "rua=mailto:tlsrpt@a.test,https://r.a.test/v1"`,
			`_smtp._tls.a.test. 300 IN TXT "v=spf1 -all"`},
		"_smtp._tls.two.test.": {`_smtp._tls.two.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:x@two.test"`,
			`_smtp._tls.two.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:y@two.test"`},
		"_smtp._tls.alias.test.": {`_smtp._tls.alias.test. 300 IN CNAME _smtp._tls.a.test.`,
			`_smtp._tls.a.test. 300 IN TXT "v=TLSRPTv1;" "rua=mailto:tlsrpt@a.test,https://r.a.test/v1"`},
	}
	addr := serveDNS(t, func(w dns.ResponseWriter, req *dns.Msg) {
		q := req.Question[0]
		switch {
		case q.Name == "_smtp._tls.fail.test.":
			writeReply(w, req, dns.RcodeServerFailure)
		case q.Qtype == dns.TypeTXT && answers[q.Name] != nil:
			writeReply(w, req, dns.RcodeSuccess, answers[q.Name]...)
		default:
			writeReply(w, req, dns.RcodeNameError)
		}
	})
	r := &Router{Resolver: &DNSResolver{Servers: []string{addr}, Timeout: 2 * time.Second, Attempts: 1}}

	for _, d := range []string{"a.test", "A.Test.", "alias.test"} {
		rec, err := r.TLSRPT(t.Context(), d)
		require.NoError(t, err, d)
		assert.Equal(t, []string{"tlsrpt@a.test"}, rec.Mailto(), d+": the strings joined without spaces")
		assert.Equal(t, []string{"https://r.a.test/v1"}, rec.HTTPS(), d)
	}
	for _, tc := range []struct {
		domain string
		want   error
	}{
		{"none.test", tlsrpt.ErrNoRecord},
		{"two.test", tlsrpt.ErrMultipleRecords},
		{"fail.test", tlsrpt.ErrDNS},
		{"bad domain", tlsrpt.ErrBadDomain},
	} {
		_, err := r.TLSRPT(t.Context(), tc.domain)
		assert.ErrorIs(t, err, tc.want, tc.domain)
	}
	_, err := r.TLSRPT(t.Context(), "fail.test")
	var e *Error
	assert.True(t, errors.As(err, &e) && IsTemporary(err), "the Router's temporary *Error is the cause: %v", err)
}
