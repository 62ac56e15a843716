package mtasts

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFetch(t *testing.T) {
	ca := newCA(t)
	other := newCA(t)
	// A certificate for mta-sts.untrusted.example from a CA the client does
	// not trust, and one for mta-sts.expired.example that has expired.
	untrusted := other.issue(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour), "mta-sts.untrusted.example")
	expired := ca.issue(t, time.Now().Add(-48*time.Hour), time.Now().Add(-24*time.Hour), "mta-sts.expired.example")
	ps, f := newPolicyServer(t, ca, untrusted, expired)
	good := policyText(ModeEnforce, 86400, "mx.example.com")
	ps.serve("example.com", policy(good))
	ps.serve("untrusted.example", policy(good))
	ps.serve("expired.example", policy(good))
	// mta-sts.wrongname.example gets the default certificate, which names
	// mta-sts.example.com and mta-sts.example.org only.
	ps.serve("wrongname.example", policy(good))
	ps.serve("example.org", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://mta-sts.example.com/.well-known/mta-sts.txt", http.StatusFound)
	})

	tests := []struct {
		name    string
		reason  string
		domain  string
		handler http.HandlerFunc // set for domain test.example.com... nil: as served above
		fetcher func(Fetcher) Fetcher
		want    Result // "" = a policy
	}{
		{"ok", "a valid policy over HTTPS (Section 3.3)", "example.com", nil, nil, ""},
		{"trailing dot and case", "the domain is normalised", "Example.COM.", nil, nil, ""},
		{"redirect", "HTTP 3xx redirects MUST NOT be followed (Section 3.3)", "example.org", nil, nil, FetchError},
		{"untrusted CA", "the certificate must chain to a trusted root (Section 3.3)", "untrusted.example", nil, nil, WebPKIInvalid},
		{"expired", "the certificate must not be expired (Section 3.3)", "expired.example", nil, nil, WebPKIInvalid},
		{"wrong name", "the certificate must be valid for mta-sts.<domain> (Section 3.3)", "wrongname.example", nil, nil, WebPKIInvalid},
		{"404", "only HTTP 200 is a policy", "t404.example.com", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, nil, FetchError},
		{"500", "a server error is a fetch error", "t500.example.com", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "oops", 500) }, nil, FetchError},
		{"media type", "the policy MUST be served as text/plain (Section 3.3)", "html.example.com", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(good))
		}, nil, PolicyInvalid},
		{"no media type", "a missing Content-Type is not text/plain", "nomt.example.com", func(w http.ResponseWriter, r *http.Request) {
			w.Header()["Content-Type"] = nil
			w.Write([]byte(good))
		}, nil, PolicyInvalid},
		{"TEXT/PLAIN", "media types are case-insensitive", "upper.example.com", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "TEXT/PLAIN")
			w.Write([]byte(good))
		}, nil, ""},
		{"oversized", "the body is bounded (64 KiB)", "big.example.com", policy(good + "x: " + strings.Repeat("y", 70<<10) + "\r\n"), nil, PolicyInvalid},
		{"at the limit", "a body of exactly MaxSize is read", "limit.example.com", policy(good + "x: " + strings.Repeat("y", 100-len(good)-6) + "\r\n"), func(f Fetcher) Fetcher { f.MaxSize = 100; return f }, ""},
		{"malformed", "a body that is no policy", "bad.example.com", policy("hello"), nil, PolicyInvalid},
		{"slow", "the fetch is bounded in time", "slow.example.com", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-r.Context().Done():
			case <-time.After(5 * time.Second):
			}
			panic(http.ErrAbortHandler) // no response at all
		}, func(f Fetcher) Fetcher { f.Timeout = 100 * time.Millisecond; return f }, FetchError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.handler != nil {
				ps.serve(strings.ToLower(tc.domain), tc.handler)
			}
			ff := f
			if tc.fetcher != nil {
				ff = tc.fetcher(f)
			}
			p, err := ff.Fetch(context.Background(), tc.domain)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("%s: %v", tc.reason, err)
				}
				if p.Mode != ModeEnforce || !p.Match("mx.example.com") {
					t.Fatalf("%s: policy %+v", tc.reason, p)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("%s: got %v, want %s", tc.reason, err, tc.want)
			}
			if tc.name == "slow" && !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("%s: %v is not the Timeout", tc.reason, err)
			}
			var e *Error
			if !errors.As(err, &e) || e.Domain == "" {
				t.Fatalf("%s: %v is not an *Error with the domain", tc.reason, err)
			}
		})
	}
}

// TestFetchGivenClientKeepsNoRedirect: a Client given to the Fetcher that
// would follow redirects does not follow them in a fetch (Section 3.3).
func TestFetchGivenClientKeepsNoRedirect(t *testing.T) {
	ca := newCA(t)
	ps, f := newPolicyServer(t, ca)
	ps.serve("example.org", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "https://mta-sts.example.com/.well-known/mta-sts.txt", http.StatusMovedPermanently)
	})
	ps.serve("example.com", policy(policyText(ModeTesting, 60, "mx.example.com")))
	followed := false
	f.Client.CheckRedirect = func(*http.Request, []*http.Request) error { followed = true; return nil }
	if _, err := f.Fetch(context.Background(), "example.org"); !errors.Is(err, FetchError) || followed {
		t.Fatalf("a Client that follows redirects must not follow them here: err %v, followed %v", err, followed)
	}
	if n := ps.requests.Load(); n != 1 {
		t.Fatalf("%d requests, want 1: the redirect target is not asked", n)
	}
}

// cutBody is a response body that gives its text, then waits for the
// request's end and reports a clean end: a transfer cut by the deadline
// that looks complete.
type cutBody struct {
	ctx  context.Context
	text *strings.Reader
}

func (b *cutBody) Read(p []byte) (int, error) {
	if b.text.Len() > 0 {
		return b.text.Read(p)
	}
	<-b.ctx.Done()
	return 0, io.EOF
}

func (b *cutBody) Close() error { return nil }

// TestFetchCutByDeadline: a body that ends cleanly only once the fetch's
// deadline has passed is a failed fetch, not a policy: what came is a part
// of it (here a valid policy with its first mx line only).
func TestFetchCutByDeadline(t *testing.T) {
	f := &Fetcher{Timeout: 50 * time.Millisecond, Client: &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		return &http.Response{StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"text/plain"}}, Request: r,
			Body: &cutBody{ctx: r.Context(), text: strings.NewReader(policyText(ModeEnforce, 604800, "mx1.example.com"))}}, nil
	})}}
	p, err := f.Fetch(context.Background(), "example.com")
	if p != nil || !errors.Is(err, FetchError) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("a body cut by the deadline: got policy %v, err %v; want sts-policy-fetch-error", p, err)
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestFetchBodyEndedByTimeout: a policy host that sends the first lines of
// its policy and stalls, and ends the response cleanly when the client
// leaves (as net/http's server does once it reads the client's
// close_notify), must not have the lines sent so far taken for its policy
// when the client's socket closes late (a loaded machine): the body then
// ends in io.EOF after the Timeout has passed. The fetch failed (a
// sts-policy-fetch-error), whatever the cut text parses to; here it would
// be an enforce policy without the MX host that was to follow.
func TestFetchBodyEndedByTimeout(t *testing.T) {
	ca := newCA(t)
	ps, f := newPolicyServer(t, ca)
	ps.serve("example.com", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "version: STSv1\nmode: enforce\nmx: mx.example.com\nmax_age: 86400\n")
		w.(http.Flusher).Flush()
		<-r.Context().Done() // "mx: mx2.example.com" never comes
	})
	tr := f.Client.Transport.(*http.Transport).Clone()
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &lateClose{Conn: c, closing: make(chan struct{}), answered: make(chan struct{})}, nil
	}
	t.Cleanup(tr.CloseIdleConnections)
	f.Client = &http.Client{Transport: tr}
	f.Timeout = 500 * time.Millisecond
	p, err := f.Fetch(t.Context(), "example.com")
	if !errors.Is(err, FetchError) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("got policy %+v, error %v; want a FetchError at the Timeout", p, err)
	}
}

// lateClose is a client socket whose Close comes late, as a goroutine
// descheduled between writing its TLS close_notify and closing the socket:
// the socket closes only once a read has returned after Close began (the
// server's answer to the close_notify), or after 10 seconds.
type lateClose struct {
	net.Conn
	once     sync.Once
	closing  chan struct{} // closed when Close begins
	answered chan struct{} // closed when a read returns after that
	aOnce    sync.Once
}

func (c *lateClose) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	select {
	case <-c.closing:
		c.aOnce.Do(func() { close(c.answered) })
	default:
	}
	return n, err
}

func (c *lateClose) Close() error {
	c.once.Do(func() {
		close(c.closing)
		select {
		case <-c.answered:
		case <-time.After(10 * time.Second):
		}
	})
	return c.Conn.Close()
}
