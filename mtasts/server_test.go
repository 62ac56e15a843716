package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log"
	"net"
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

// newPolicyServer starts the server on loopback TCP with certificates from
// ca for mta-sts.example.com and mta-sts.example.org (and whatever certs
// add), and a Fetcher whose client trusts ca and dials the server for any
// name.
func newPolicyServer(t *testing.T, ca *testCA, certs ...tls.Certificate) (*policyServer, Fetcher) {
	t.Helper()
	ps := &policyServer{handlers: map[string]http.HandlerFunc{}}
	all := append([]tls.Certificate{ca.issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), policyNames()...)}, certs...)
	client := testpki.ServeHTTPS(t, ps, ca.pool, all...)
	return ps, Fetcher{Client: client, Timeout: 5 * time.Second}
}

// newBubblePolicyServer is newPolicyServer for a test in a synctest bubble,
// whose clock the test moves: the same HTTPS server, inside the bubble, its
// connections net.Pipe pairs (a socket is not durably blocking, so a
// server on one would stop the bubble's clock), with a CA and a
// certificate valid for years of the bubble's time.
func newBubblePolicyServer(t *testing.T) (*policyServer, Fetcher) {
	t.Helper()
	now := time.Now()
	root := testpki.NewRootValid(t, "mtasts bubble CA", now.Add(-time.Hour), now.AddDate(10, 0, 0))
	ca := &testCA{Cert: root, pool: testpki.Pool(root)}
	ps := &policyServer{handlers: map[string]http.HandlerFunc{}}
	cert := ca.issue(t, now.Add(-time.Hour), now.AddDate(10, 0, 0), policyNames()...)

	ln := &pipeListener{conns: make(chan net.Conn), done: make(chan struct{})}
	srv := &http.Server{Handler: ps, ErrorLog: log.New(io.Discard, "", 0)}
	served := make(chan struct{})
	go func() {
		defer close(served)
		srv.Serve(tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}}))
	}()
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.pool}, DialContext: ln.dial}
	t.Cleanup(func() {
		// The pipes close first: TLS over a pipe, both sides closing at
		// once would both block writing their close_notify, and after the
		// test the bubble's clock no longer moves to the deadline that
		// ends such a write.
		ln.closePipes()
		srv.Close()
		<-served
		tr.CloseIdleConnections()
	})
	return ps, Fetcher{Client: &http.Client{Transport: tr}, Timeout: 5 * time.Second}
}

// ServeHTTP counts the request and answers as the test set for its host.
func (ps *policyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ps.requests.Add(1)
	ps.mu.Lock()
	h := ps.handlers[r.Host]
	ps.mu.Unlock()
	if h == nil {
		http.NotFound(w, r)
		return
	}
	h(w, r)
}

// policyNames are the names of the server's default certificate.
func policyNames() []string {
	names := []string{"mta-sts.example.com", "mta-sts.example.org"}
	for _, d := range testDomains {
		names = append(names, "mta-sts."+d)
	}
	return names
}

// pipeListener is a net.Listener whose connections are the server ends of
// net.Pipe pairs made by dial.
type pipeListener struct {
	conns chan net.Conn
	done  chan struct{}
	once  sync.Once
	mu    sync.Mutex
	pipes []net.Conn // both ends of every pipe made
}

func (l *pipeListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *pipeListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *pipeListener) Addr() net.Addr { return pipeAddr{} }

// dial is an http.Transport's DialContext: every name reaches the server.
func (l *pipeListener) dial(ctx context.Context, _, _ string) (net.Conn, error) {
	c, s := net.Pipe()
	l.mu.Lock()
	l.pipes = append(l.pipes, c, s)
	l.mu.Unlock()
	select {
	case l.conns <- s:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// closePipes closes every pipe: a blocked read or write on one returns.
func (l *pipeListener) closePipes() {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, c := range l.pipes {
		c.Close()
	}
}

type pipeAddr struct{}

func (pipeAddr) Network() string { return "pipe" }
func (pipeAddr) String() string  { return "pipe" }

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
