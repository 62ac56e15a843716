package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mxroute-go/mxroute/internal/testpki"
)

// testCA is a CA generated for a test, and the pool that trusts it.
type testCA struct {
	*testpki.Cert
	pool *x509.CertPool
}

func newCA(t testing.TB) *testCA {
	t.Helper()
	c := testpki.NewRoot(t, "mtasts test CA")
	return &testCA{Cert: c, pool: testpki.Pool(c)}
}

// issue makes a server certificate for names, valid from nb to na.
func (ca *testCA) issue(t testing.TB, nb, na time.Time, names ...string) tls.Certificate {
	t.Helper()
	return ca.Issue(t, testpki.Template{CommonName: names[0], DNSNames: names, NotBefore: nb, NotAfter: na}).TLS()
}

// policyServer is an HTTPS server on loopback answering for every
// mta-sts.<domain> with what the test sets per domain; it counts requests.
type policyServer struct {
	mu       sync.Mutex
	handlers map[string]http.HandlerFunc // by Host
	requests atomic.Int64
}

// newPolicyServer starts the server with certificates from ca for
// mta-sts.example.com and mta-sts.example.org (and whatever certs add), and
// a Fetcher whose client trusts ca and dials the server for any name.
func newPolicyServer(t *testing.T, ca *testCA, certs ...tls.Certificate) (*policyServer, Fetcher) {
	t.Helper()
	ps := &policyServer{handlers: map[string]http.HandlerFunc{}}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ps.requests.Add(1)
		ps.mu.Lock()
		h := ps.handlers[r.Host]
		ps.mu.Unlock()
		if h == nil {
			http.NotFound(w, r)
			return
		}
		h(w, r)
	})
	names := []string{"mta-sts.example.com", "mta-sts.example.org"}
	for _, d := range testDomains {
		names = append(names, "mta-sts."+d)
	}
	all := append([]tls.Certificate{ca.issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), names...)}, certs...)
	client := testpki.ServeHTTPS(t, h, ca.pool, all...)
	return ps, Fetcher{Client: client, Timeout: 5 * time.Second}
}

// testDomains have a name in the server's default certificate.
var testDomains = []string{"t404.example.com", "t500.example.com", "html.example.com", "nomt.example.com",
	"upper.example.com", "big.example.com", "limit.example.com", "bad.example.com", "slow.example.com",
	"a.example", "b.example", "c.example", "d.example"}

// serve sets the answer for mta-sts.<domain>.
func (ps *policyServer) serve(domain string, h http.HandlerFunc) {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ps.handlers["mta-sts."+domain] = h
}

// policy answers 200 text/plain with body, checking the path.
func policy(body string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/.well-known/mta-sts.txt" || r.Method != http.MethodGet {
			http.NotFound(w, r)
			return
		}
		if r.Header.Get("Cache-Control") != "no-cache" { // "HTTP caching MUST NOT be used" (Section 3.3)
			http.Error(w, "the sender asked for a cached answer", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Write([]byte(body))
	}
}

func policyText(mode Mode, maxAge int, mx ...string) string {
	var b strings.Builder
	b.WriteString("version: STSv1\r\nmode: " + string(mode) + "\r\n")
	for _, m := range mx {
		b.WriteString("mx: " + m + "\r\n")
	}
	b.WriteString("max_age: " + itoa(maxAge) + "\r\n")
	return b.String()
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// fakeTXT is a TXTFunc over a map: a missing name is NXDOMAIN; an error
// set for a name is returned.
type fakeTXT struct {
	mu   sync.Mutex
	txts map[string][]string
	errs map[string]error
	n    atomic.Int64
}

func (f *fakeTXT) set(name string, txts ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.txts == nil {
		f.txts, f.errs = map[string][]string{}, map[string]error{}
	}
	delete(f.errs, name)
	if txts == nil {
		delete(f.txts, name)
		return
	}
	f.txts[name] = txts
}

func (f *fakeTXT) fail(name string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.errs == nil {
		f.txts, f.errs = map[string][]string{}, map[string]error{}
	}
	f.errs[name] = err
}

func (f *fakeTXT) lookup(_ context.Context, name string) ([]string, error) {
	f.n.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := f.errs[name]; err != nil {
		return nil, err
	}
	return f.txts[name], nil
}

// clock is a settable time.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}
