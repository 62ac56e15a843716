package testpki

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
)

// ServeHTTPS runs h over TLS on loopback with certs until the test ends, and
// returns a client that trusts roots and dials that server whatever host a
// URL names, so that https://mta-sts.example.com/ reaches it. The server's
// own log is silenced: refused handshakes are the point of some tests.
func ServeHTTPS(t testing.TB, h http.Handler, roots *x509.CertPool, certs ...tls.Certificate) *http.Client {
	t.Helper()
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: certs}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	t.Cleanup(srv.Close)
	addr := srv.Listener.Addr().String()
	tr := &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr) // every name is the loopback server
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
