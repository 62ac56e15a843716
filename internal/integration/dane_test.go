package integration

import (
	"context"
	"encoding/hex"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute"
	"github.com/mxroute-go/mxroute/dane"
)

// daneZone is added to the signed sec. zone: a host with a TLSA record, and
// one whose TLSA record is forged after signing (forgeTLSA), so that
// Unbound's validation fails it. mx.sec has no TLSA record: the signed
// zone's NSEC records deny it.
var daneZone = `dane          IN MX   10 mx.dane.sec.
mx.dane       IN A    192.0.2.80
_25._tcp.mx.dane IN TLSA 3 1 1 ` + strings.Repeat("ab", 32) + `
danefail      IN MX   10 mx.danefail.sec.
mx.danefail   IN A    192.0.2.81
_25._tcp.mx.danefail IN TLSA 3 1 1 ` + strings.Repeat("cd", 32) + `
`

// forgeTLSA changes the TLSA record of mx.danefail.sec in the signed zone
// text: its RRSIG no longer matches. dnssec-signzone writes the digest in
// upper case, split over lines.
func forgeTLSA(t *testing.T, signed string) string {
	t.Helper()
	good := strings.Repeat("CD", 18)
	require.Contains(t, signed, good, "the signed zone's TLSA record, as dnssec-signzone writes it")
	return strings.Replace(signed, good, strings.Repeat("EF", 18), 1)
}

// testDANE: Router.DANE against Unbound validating the signed zone: a host
// with TLSA records requires DANE with exactly those records; a host of
// the signed zone without any is denied with NSEC (no DANE); an unsigned
// zone asks no TLSA question; a forged TLSA record is SERVFAIL from Unbound
// and the host is unusable, a deferral (RFC 7672, Section 2.1.1).
func testDANE(t *testing.T, e *env) {
	route := func(t *testing.T, domain string) (*mxroute.Route, error) {
		return (&mxroute.Router{Resolver: e.viaUnbound(), DANE: true}).Route(t.Context(), domain)
	}
	t.Run("TLSA records", func(t *testing.T) {
		t.Parallel()
		rt, err := route(t, "dane.sec")
		require.NoError(t, err)
		require.True(t, rt.Authentic)
		h := rt.Hosts[0]
		require.NotNil(t, h.TLS)
		assert.Equal(t, mxroute.TLSDANE, h.TLS.Mode, "RFC 7672, Section 2.2: a secure, usable TLSA RRset")
		require.Len(t, h.TLS.DANE.Records, 1)
		r := h.TLS.DANE.Records[0]
		assert.Equal(t, "3 1 1 "+strings.Repeat("ab", 32), r.String())
		assert.Equal(t, strings.Repeat("ab", 32), hex.EncodeToString(r.Data))
		assert.Equal(t, "mx.dane.sec", h.TLS.DANE.ServerName())
		assert.Equal(t, []string{"dane.sec"}, h.TLS.DANE.Names, "RFC 7672, Section 3.2.2: the next-hop domain, the MX RRset being secure")
		assert.Equal(t, h.TLS, rt.Targets()[0].TLS)
	})
	t.Run("README setup", func(t *testing.T) {
		t.Parallel()
		var steps []mxroute.Step
		var mu sync.Mutex
		r := &mxroute.Router{Resolver: e.viaUnbound(), DANE: true, Trace: func(_ context.Context, ev mxroute.Event) {
			mu.Lock()
			steps = append(steps, ev.Step)
			mu.Unlock()
		}}
		rt, err := r.Route(t.Context(), "dane.sec")
		require.NoError(t, err)
		assert.Equal(t, mxroute.TLSDANE, rt.Hosts[0].TLS.Mode, "a DNSResolver with DNSSEC on a loopback Unbound: DANE applies")
		assert.NotContains(t, steps, mxroute.StepDANEUnavailable, "a loopback validating resolver's AD is believed")
		assert.Contains(t, steps, mxroute.StepTLSA)
	})
	t.Run("signed, no TLSA", func(t *testing.T) {
		t.Parallel()
		rt, err := route(t, "sec")
		require.NoError(t, err)
		assert.Equal(t, mxroute.TLSOpportunistic, rt.Hosts[0].TLS.Mode, "NSEC proves there is none: no DANE")
	})
	t.Run("unsigned zone", func(t *testing.T) {
		t.Parallel()
		rt, err := route(t, "basic.t")
		require.NoError(t, err)
		assert.False(t, rt.Authentic)
		for _, h := range rt.Hosts {
			assert.Equal(t, mxroute.TLSOpportunistic, h.TLS.Mode, "RFC 7672, Section 2.2.1: an insecure MX RRset: no DANE")
		}
	})
	t.Run("forged TLSA", func(t *testing.T) {
		t.Parallel()
		rt, err := route(t, "danefail.sec")
		require.Error(t, err)
		assert.True(t, mxroute.IsTemporary(err), "defer, never deliver without the records, never bounce")
		assert.ErrorIs(t, err, mxroute.ErrNoAddress)
		assert.ErrorIs(t, err, dane.DNSSECInvalid)
		require.NotNil(t, rt)
		require.Error(t, rt.Hosts[0].Err)
		assert.Contains(t, rt.Hosts[0].Err.Error(), "SERVFAIL", "Unbound's validation failed the TLSA RRset")
		assert.Empty(t, rt.Targets())
	})
}
