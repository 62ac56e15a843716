package mxroute

import (
	"context"
	"testing"

	"github.com/miekg/dns"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLookupChainLimit(t *testing.T) {
	// A chain of fresh names, one per question: bounded by maxCNAMEs.
	n := 0
	res := ResolverFunc(func(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
		n++
		next := "n" + label(n) + ".test."
		return reply(name, qtype, 0, name+" 60 IN CNAME "+next), nil
	})
	_, err := lookup(t.Context(), res, "a.test.", dns.TypeA, defaultMaxAddrsPerHost)
	require.NotNil(t, err)
	assert.True(t, err.cname)
	assert.Equal(t, maxCNAMEs+1, n, "one question per link, then stop")
}
