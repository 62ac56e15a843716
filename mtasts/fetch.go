package mtasts

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Fetcher fetches policies over HTTPS with the rules of RFC 8461, Section
// 3.3. The zero value is ready to use; a Fetcher is safe for concurrent use.
type Fetcher struct {
	// Client makes the request. Nil: a client with the system's roots,
	// HTTPS proxy settings from the environment, and the limits below.
	// Whatever is given, its redirect policy is replaced by one that follows
	// none ("HTTP 3xx redirects MUST NOT be followed") and its cookie jar is
	// not used; its TLS settings are its own (tests give their CA here).
	Client *http.Client
	// Timeout bounds one fetch, connection to body. 0: 30 seconds. The
	// caller's ctx may end it sooner.
	Timeout time.Duration
	// MaxSize bounds the body in bytes. 0: 64 KiB (Section 3.3 suggests it).
	MaxSize int64
}

const (
	defaultTimeout = 30 * time.Second
	defaultMaxSize = 64 << 10
)

var (
	defaultTransportOnce sync.Once
	defaultTransport     *http.Transport
)

func (f *Fetcher) client() *http.Client {
	var c http.Client
	if f.Client != nil {
		c = *f.Client
	} else {
		defaultTransportOnce.Do(func() {
			defaultTransport = http.DefaultTransport.(*http.Transport).Clone()
			defaultTransport.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		})
		c.Transport = defaultTransport
	}
	c.Jar = nil
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &c
}

// URL gives the policy's address for a domain:
// https://mta-sts.<domain>/.well-known/mta-sts.txt.
func URL(domain string) string {
	return "https://mta-sts." + normDomain(domain) + "/.well-known/mta-sts.txt"
}

func normDomain(d string) string { return strings.ToLower(strings.TrimSuffix(d, ".")) }

// Fetch gets and parses the policy of domain. Failures are an [*Error]:
// WebPKIInvalid when the certificate does not verify for mta-sts.<domain>;
// FetchError for a connection failure, a timeout, an HTTP status other than
// 200 (a redirect included); PolicyInvalid for another media type than
// text/plain, a body over MaxSize, or a policy that does not parse.
func (f *Fetcher) Fetch(ctx context.Context, domain string) (*Policy, error) {
	domain = normDomain(domain)
	if !validDomain(domain) {
		return nil, &Error{Domain: domain, Err: ErrBadDomain}
	}
	url := URL(domain)
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = defaultTimeout
	}
	maxSize := f.MaxSize
	if maxSize <= 0 {
		maxSize = defaultMaxSize
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, &Error{Result: FetchError, Domain: domain, Detail: "GET " + url, Err: err}
	}
	// "HTTP caching MUST NOT be used" (Section 3.3): none here, and no
	// intermediary should answer from one either.
	req.Header.Set("Cache-Control", "no-cache")
	resp, err := f.client().Do(req)
	if err != nil {
		res := FetchError
		if isCertError(err) {
			res = WebPKIInvalid
		}
		return nil, &Error{Result: res, Domain: domain, Detail: "GET " + url, Err: err}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		detail := fmt.Sprintf("HTTP status %d from %s", resp.StatusCode, url)
		if loc := resp.Header.Get("Location"); resp.StatusCode/100 == 3 && loc != "" {
			detail += fmt.Sprintf(": redirect to %q not followed", loc)
		}
		return nil, &Error{Result: FetchError, Domain: domain, Detail: detail}
	}
	ct := resp.Header.Get("Content-Type")
	if mt, _, err := mime.ParseMediaType(ct); err != nil || mt != "text/plain" {
		return nil, &Error{Result: PolicyInvalid, Domain: domain, Detail: fmt.Sprintf("media type %q from %s, not text/plain", ct, url)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxSize+1))
	if err != nil {
		return nil, &Error{Result: FetchError, Domain: domain, Detail: "reading " + url, Err: err}
	}
	// A body that ends once the Timeout (or the caller's ctx) has passed is
	// no policy: a server ends its response cleanly when the cancelled
	// client's close_notify reaches it, and that end can be read before the
	// socket closes, so the body would be only the lines sent in time.
	if err := ctx.Err(); err != nil {
		return nil, &Error{Result: FetchError, Domain: domain, Detail: "reading " + url, Err: err}
	}
	if int64(len(body)) > maxSize {
		return nil, &Error{Result: PolicyInvalid, Domain: domain, Detail: fmt.Sprintf("policy at %s is larger than %d bytes", url, maxSize)}
	}
	p, err := ParsePolicy(body)
	if err != nil {
		return nil, &Error{Result: PolicyInvalid, Domain: domain, Detail: url, Err: err}
	}
	return p, nil
}

// isCertError: the server's certificate did not verify (unknown authority,
// wrong name, expired, malformed chain).
func isCertError(err error) bool {
	var (
		cve *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
	)
	return errors.As(err, &cve) || errors.As(err, &ua) || errors.As(err, &he) || errors.As(err, &ci)
}
