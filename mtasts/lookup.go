package mtasts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/sync/singleflight"
)

// TXTFunc looks up the TXT records of name, one string per record with its
// character-strings concatenated. A name that does not exist (NXDOMAIN) or
// has no TXT records (NODATA) is (nil, nil); an error means the lookup
// failed and may work later (SERVFAIL, timeout, ...).
type TXTFunc func(ctx context.Context, name string) ([]string, error)

// NetTXT is a TXTFunc asking r (nil: net.DefaultResolver). Go's resolver
// reports NXDOMAIN and NODATA both as "not found", which is all a TXTFunc
// must tell apart from a failure.
func NetTXT(r *net.Resolver) TXTFunc {
	if r == nil {
		r = net.DefaultResolver
	}
	return func(ctx context.Context, name string) ([]string, error) {
		txts, err := r.LookupTXT(ctx, name)
		var de *net.DNSError
		if errors.As(err, &de) && de.IsNotFound {
			return nil, nil
		}
		return txts, err
	}
}

// Status says where the policy of a [Client.Lookup] came from.
type Status int

const (
	// StatusNone: the domain has no MTA-STS record and nothing is cached.
	StatusNone Status = iota
	// StatusCached: a cached policy whose id the TXT record confirms; no
	// fetch was made.
	StatusCached
	// StatusFetched: a policy fetched now (new id, nothing cached, expired,
	// or due for refresh), and cached.
	StatusFetched
	// StatusKept: a cached, unexpired policy kept in force although the TXT
	// lookup failed, the record vanished or changed, or the fetch failed
	// (Section 3.3); the error says what failed.
	StatusKept
	// StatusFailed: no policy applies, though the domain may have one: the
	// record is malformed or the fetch failed, with nothing cached. The
	// sender goes on "as though the domain has not implemented MTA-STS"
	// (Section 3.3) and may report the error.
	StatusFailed
)

func (s Status) String() string {
	switch s {
	case StatusNone:
		return "none"
	case StatusCached:
		return "cached"
	case StatusFetched:
		return "fetched"
	case StatusKept:
		return "kept"
	case StatusFailed:
		return "failed"
	}
	return "Status(?)"
}

// Client finds the policy of recipient domains: TXT record, policy cache,
// HTTPS fetch (RFC 8461, Sections 3 and 5.1). The zero value works: Go's
// resolver, a default Fetcher and a memory Store of its own. A Client is
// safe for concurrent use; concurrent fetches for one domain are made once.
type Client struct {
	// TXT looks up _mta-sts.<domain>. Nil: NetTXT(nil).
	TXT TXTFunc
	// Fetcher fetches policies; its zero value is the RFC's rules.
	Fetcher Fetcher
	// Store caches policies. Nil: a MemoryStore of this Client. A FileStore
	// keeps them across restarts.
	Store Store
	// RefreshAfter is the age from which a cached policy whose id has not
	// changed is fetched again, so it does not expire while the domain still
	// publishes it ("MTAs SHOULD proactively refresh cached policies before
	// they expire; a suggested refresh frequency is once per day", Section
	// 3.3). 0: 24 hours.
	RefreshAfter time.Duration
	// RetryAfter spaces out fetches for a domain after a failed one
	// (Section 3.3 lets senders rate-limit fetch attempts): meanwhile Lookup
	// answers as the failed fetch did (a cached policy kept, or none) without
	// asking the policy host, so a dead host does not cost every delivery a
	// timeout. 0: 5 minutes.
	RetryAfter time.Duration
	// Now gives the time. Nil: time.Now.
	Now func() time.Time

	once  sync.Once
	store Store
	sf    singleflight.Group

	mu     sync.Mutex
	failed map[string]failure // last failed fetch per domain, at most maxFailures
}

// failure is a failed fetch, remembered for RetryAfter.
type failure struct {
	at  time.Time
	id  string // the record's id then: a new id is fetched at once
	err error
}

const maxFailures = 10000

func (c *Client) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

func (c *Client) getStore() Store {
	c.once.Do(func() {
		c.store = c.Store
		if c.store == nil {
			c.store = &MemoryStore{Now: c.Now}
		}
	})
	return c.store
}

func (c *Client) txt() TXTFunc {
	if c.TXT != nil {
		return c.TXT
	}
	return NetTXT(nil)
}

// Lookup gives the policy that applies to domain now, with where it came
// from, and the failure met on the way. The policy is nil when none applies
// (StatusNone, StatusFailed). err is not a verdict: with StatusKept a
// cached policy applies and err says what failed to refresh it; with
// StatusFailed err is why no policy applies (a report's
// sts-policy-fetch-error and the like); both are worth a log line. Only a
// failing Store gives an error with StatusNone.
//
// Round-trips: the TXT question always (it can go out in parallel with the
// MX question); an HTTPS fetch only when the id is new, nothing valid is
// cached, or the cached policy is older than RefreshAfter.
func (c *Client) Lookup(ctx context.Context, domain string) (*Policy, Status, error) {
	domain = normDomain(domain)
	now := c.now()
	store := c.getStore()
	cached, ok, serr := store.Get(ctx, domain)
	if serr != nil || !ok || !cached.Valid(now) {
		cached, ok = Entry{}, false
	}
	keep := func(err error) (*Policy, Status, error) {
		if ok {
			return cached.Policy, StatusKept, err
		}
		return nil, StatusFailed, err
	}

	txts, err := c.txt()(ctx, "_mta-sts."+domain)
	if err != nil {
		return keep(&Error{Domain: domain, Detail: "TXT _mta-sts." + domain, Err: fmt.Errorf("%w: %w", ErrDNS, err)})
	}
	rec, err := FindRecord(txts)
	if err != nil {
		if errors.Is(err, ErrNoRecord) && !ok {
			return nil, StatusNone, serr
		}
		// A vanished or broken record does not end a cached policy: only
		// its max_age does (Section 3.3; Section 8.3 removes a policy by
		// publishing mode none first).
		return keep(&Error{Domain: domain, Err: err})
	}
	if ok && cached.ID == rec.ID && now.Sub(cached.Fetched) < c.refreshAfter() {
		return cached.Policy, StatusCached, nil
	}
	if f, recent := c.recentFailure(domain, rec.ID, now); recent {
		return keep(f.err)
	}

	v, err, _ := c.sf.Do(domain, func() (any, error) { return c.Fetcher.Fetch(ctx, domain) })
	if err != nil {
		// A fetch cut short by a caller's context says nothing of the host.
		if ctx.Err() == nil && !errors.Is(err, context.Canceled) {
			c.noteFailure(domain, rec.ID, now, err)
		}
		return keep(err)
	}
	c.clearFailure(domain)
	p := *v.(*Policy) // a copy: concurrent callers share the fetched one
	p.ID = rec.ID
	if perr := store.Put(ctx, domain, Entry{Policy: &p, ID: rec.ID, Fetched: now}); perr != nil {
		return &p, StatusFetched, perr
	}
	return &p, StatusFetched, nil
}

func (c *Client) refreshAfter() time.Duration {
	if c.RefreshAfter > 0 {
		return c.RefreshAfter
	}
	return 24 * time.Hour
}

func (c *Client) retryAfter() time.Duration {
	if c.RetryAfter > 0 {
		return c.RetryAfter
	}
	return 5 * time.Minute
}

func (c *Client) recentFailure(domain, id string, now time.Time) (failure, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	f, ok := c.failed[domain]
	return f, ok && f.id == id && now.Sub(f.at) < c.retryAfter() && !now.Before(f.at)
}

func (c *Client) noteFailure(domain, id string, now time.Time, err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.failed == nil {
		c.failed = make(map[string]failure)
	}
	if len(c.failed) >= maxFailures {
		for d, f := range c.failed {
			if now.Sub(f.at) >= c.retryAfter() {
				delete(c.failed, d)
			}
		}
		if len(c.failed) >= maxFailures {
			clear(c.failed) // all recent: forget them rather than grow
		}
	}
	c.failed[domain] = failure{at: now, id: id, err: err}
}

func (c *Client) clearFailure(domain string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.failed, domain)
}
