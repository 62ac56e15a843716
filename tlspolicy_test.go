package mxroute

import (
	"crypto/tls"
	"crypto/x509"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/dane"
	"github.com/mxroute-go/mxroute/internal/dnstest"
	"github.com/mxroute-go/mxroute/internal/smtptest"
	"github.com/mxroute-go/mxroute/internal/testpki"
	"github.com/mxroute-go/mxroute/mtasts"
)

// startTLS runs STARTTLS over conn (greeting not yet read) with cfg and
// sends one message, as an MTA whose policy requires TLS.
func startTLS(conn net.Conn, cfg *tls.Config) error {
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := smtp.NewClientStartTLS(conn, cfg)
	if err != nil {
		conn.Close()
		return err
	}
	defer c.Close()
	if err := c.SendMail("a@client.test", []string{"b@a.test"}, strings.NewReader("Subject: hi\r\n\r\nhello\r\n")); err != nil {
		return err
	}
	return c.Quit()
}

// TestDialerDANE: the Dialer's Conn carries the host's DANE policy, and
// STARTTLS with its tls.Config passes a go-smtp server whose certificate
// the TLSA record matches and fails one whose certificate it does not
// (RFC 7672, Section 2.2: "the SMTP client MUST NOT deliver" then).
func TestDialerDANE(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	good := ca.Issue(t, testpki.Template{CommonName: "mx.a.test", DNSNames: []string{"mx.a.test"}})
	other := ca.Issue(t, testpki.Template{CommonName: "mx.a.test", DNSNames: []string{"mx.a.test"}})
	for _, tt := range []struct {
		name    string
		served  *testpki.Cert
		wantErr dane.Result
		reason  string
	}{
		{"matching certificate", good, "", "DANE-EE(3) SPKI matches the leaf"},
		{"another key", other, dane.CertificateNotTrusted, "same names, same CA, another key: no record matches"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cert := tt.served.TLS()
			srv := smtptest.StartMail(t, "mx.a.test", &cert)
			_, port, _ := net.SplitHostPort(srv.Addr)
			s := &validatingServer{rrs: dnstest.RRs("a.test. 300 IN MX 10 mx.a.test.", "mx.a.test. 300 IN A 127.0.0.1",
				tlsaFor(t, "mx.a.test", good))}
			r := daneRouter(t, s)
			r.AllowLoopback = true
			d := &Dialer{Router: r, Port: atoi(t, port), ConnectTimeout: 5 * time.Second}
			conn, err := d.Dial(t.Context(), "a.test")
			require.NoError(t, err)
			require.NotNil(t, conn.TLS)
			assert.Equal(t, TLSDANE, conn.TLS.Mode)
			assert.Same(t, conn.Target.TLS, conn.TLS)
			assert.True(t, conn.TLS.Required())
			err = startTLS(conn, conn.TLS.TLSConfig())
			if tt.wantErr == "" {
				require.NoError(t, err, tt.reason)
				assert.Len(t, srv.Messages(), 1)
				return
			}
			require.Error(t, err, tt.reason)
			assert.ErrorIs(t, err, tt.wantErr, tt.reason)
			assert.Empty(t, srv.Messages(), "nothing delivered")
		})
	}
}

// TestDialerMTASTS: an enforced MTA-STS host's Conn verifies WebPKI
// (Router.RootCAs) and the MX name (RFC 8461, Section 4.2).
func TestDialerMTASTS(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	for _, tt := range []struct {
		name    string
		names   []string
		wantErr mtasts.Result
	}{
		{"MX name", []string{"mx1.a.test"}, ""},
		{"another name", []string{"mx9.a.test"}, mtasts.CertificateHostMismatch},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cert := ca.Issue(t, testpki.Template{CommonName: tt.names[0], DNSNames: tt.names}).TLS()
			srv := smtptest.StartMail(t, "mx1.a.test", &cert)
			_, port, _ := net.SplitHostPort(srv.Addr)
			ph := newPolicyHost(t, stsPolicy("enforce", "mx1.a.test"))
			s := &validatingServer{rrs: dnstest.RRs("a.test. 300 IN MX 10 mx1.a.test.", "mx1.a.test. 300 IN A 127.0.0.1",
				`_mta-sts.a.test. 300 IN TXT "v=STSv1; id=7"`), insecure: []string{"test."}}
			r := stsRouter(t, s, ph)
			r.AllowLoopback, r.RootCAs = true, testpki.Pool(ca)
			conn, err := (&Dialer{Router: r, Port: atoi(t, port)}).Dial(t.Context(), "a.test")
			require.NoError(t, err)
			assert.Equal(t, TLSMTASTS, conn.TLS.Mode)
			assert.Equal(t, "7", conn.TLS.MTASTS.ID)
			err = startTLS(conn, conn.TLS.TLSConfig())
			if tt.wantErr == "" {
				require.NoError(t, err)
				return
			}
			assert.ErrorIs(t, err, tt.wantErr)
		})
	}
}

func atoi(t *testing.T, s string) int {
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// TestTLSPolicyMethods: what each mode's tls.Config and Verify do, nil
// included.
func TestTLSPolicyMethods(t *testing.T) {
	ca := testpki.NewRoot(t, "CA")
	leaf := ca.Issue(t, testpki.Template{CommonName: "mx.a.test", DNSNames: []string{"mx.a.test"}})
	wrong := ca.Issue(t, testpki.Template{CommonName: "other.test", DNSNames: []string{"other.test"}})
	state := func(c *testpki.Cert) tls.ConnectionState {
		return tls.ConnectionState{PeerCertificates: []*x509.Certificate{c.Cert}}
	}
	var nilp *TLSPolicy
	assert.False(t, nilp.Required())
	assert.True(t, nilp.TLSConfig().InsecureSkipVerify, "nil: opportunistic")
	assert.NoError(t, nilp.Verify(state(wrong)))
	assert.Equal(t, "opportunistic", nilp.String())

	sts := &mtasts.Policy{ID: "9", Mode: mtasts.ModeTesting}
	testMode := &TLSPolicy{Mode: TLSMTASTSTesting, Host: "mx.a.test", MTASTS: sts, Roots: testpki.Pool(ca)}
	assert.False(t, testMode.Required(), "RFC 8461, Section 5: testing never blocks delivery")
	cfg := testMode.TLSConfig()
	assert.True(t, cfg.InsecureSkipVerify)
	assert.Nil(t, cfg.VerifyConnection, "testing: the handshake does not fail on the certificate")
	assert.Equal(t, "mx.a.test", cfg.ServerName)
	assert.NoError(t, testMode.Verify(state(leaf)))
	assert.ErrorIs(t, testMode.Verify(state(wrong)), mtasts.CertificateHostMismatch, "Verify says what to report")

	enforce := &TLSPolicy{Mode: TLSMTASTS, Host: "mx.a.test", MTASTS: &mtasts.Policy{ID: "9", Mode: mtasts.ModeEnforce}, Roots: testpki.Pool(ca)}
	assert.True(t, enforce.Required())
	cfg = enforce.TLSConfig()
	require.NotNil(t, cfg.VerifyConnection)
	assert.Equal(t, uint16(tls.VersionTLS12), cfg.MinVersion, "RFC 8461, Section 7.2")
	assert.NoError(t, cfg.VerifyConnection(state(leaf)))
	assert.ErrorIs(t, cfg.VerifyConnection(state(wrong)), mtasts.CertificateHostMismatch)
	other := testpki.NewRoot(t, "other CA").Issue(t, testpki.Template{CommonName: "mx.a.test", DNSNames: []string{"mx.a.test"}})
	assert.ErrorIs(t, enforce.Verify(state(other)), mtasts.CertificateNotTrusted)

	rec, err := dane.NewRecord(dane.UsageDANEEE, dane.SelectorSPKI, dane.MatchSHA256, leaf.Cert)
	require.NoError(t, err)
	dp := &TLSPolicy{Mode: TLSDANE, Host: "mx.a.test", DANE: &dane.Policy{Host: "mx.a.test", BaseDomain: "srv.a.test", Records: []dane.Record{rec}}}
	cfg = dp.TLSConfig()
	assert.Equal(t, "srv.a.test", cfg.ServerName, "RFC 7672, Section 8.1: SNI is the TLSA base domain")
	assert.NoError(t, cfg.VerifyConnection(state(leaf)))
	assert.ErrorIs(t, cfg.VerifyConnection(state(wrong)), dane.CertificateNotTrusted)
	assert.ErrorIs(t, dp.Verify(state(wrong)), dane.CertificateNotTrusted)
	assert.Equal(t, "dane", TLSDANE.String())
	assert.Equal(t, "TLSMode(9)", TLSMode(9).String())

	// A DANE policy built by hand without its records is still required:
	// it fails closed, never encrypting unverified (no silent downgrade).
	bare := &TLSPolicy{Mode: TLSDANE, Host: "mx.a.test"}
	assert.True(t, bare.Required())
	cfg = bare.TLSConfig()
	require.NotNil(t, cfg.VerifyConnection, "no records: the handshake must fail")
	assert.ErrorIs(t, cfg.VerifyConnection(state(leaf)), dane.DANERequired)
	assert.ErrorIs(t, bare.Verify(state(leaf)), dane.DANERequired)
}
