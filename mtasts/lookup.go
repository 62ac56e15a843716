package mtasts

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"
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
	// keeps them across restarts; a SQLStore shares them across a fleet.
	Store Store
	// RefreshAfter bounds the age from which a cached policy whose id has
	// not changed is fetched again, so it does not expire while the domain
	// still publishes it ("MTAs SHOULD proactively refresh cached policies
	// before they expire; a suggested refresh frequency is once per day",
	// Section 3.3). A policy is due at RefreshAfter or at half its max_age,
	// whichever comes first: a max_age of a day (common) is refreshed after
	// 12 hours, as mox does, and a fetch blocked when it would have expired
	// finds the refreshed policy still valid. 0: 24 hours.
	RefreshAfter time.Duration
	// RetryAfter spaces out fetches for a domain after a failed one
	// (Section 3.3 lets senders rate-limit fetch attempts): meanwhile Lookup
	// answers as the failed fetch did (a cached policy kept, or none) without
	// asking the policy host, so a dead host does not cost every delivery a
	// timeout. A fetch that outlasts the caller's deadline counts as failed
	// (one abandoned by a cancel does not). 0: 5 minutes.
	RetryAfter time.Duration

	once  sync.Once
	store Store

	mu      sync.Mutex
	flights map[string]*flight // fetches in flight, by domain
	failed  map[string]failure // last failed fetch per domain, at most maxFailures
}

// flight is one policy fetch, shared by every Lookup of the domain that
// needs it meanwhile. As the root package's Cache does, it runs detached
// from the first caller's context and is cancelled when its last caller
// leaves, so one caller giving up fails no other and no fetch runs on
// unseen.
type flight struct {
	done      chan struct{} // closed when the fields below are set
	p         *Policy       // the policy, its ID set, stored
	err       error         // the fetch's failure
	putErr    error         // the Store's failure to keep p
	cancelled bool          // ended by its last caller leaving: says nothing of the host
	waiters   int           // guarded by Client.mu
	cancel    context.CancelFunc
}

// failure is a failed fetch, remembered for RetryAfter.
type failure struct {
	at  time.Time
	id  string // the record's id then: a new id is fetched at once
	err error
}

const maxFailures = 10000

func (c *Client) getStore() Store {
	c.once.Do(func() {
		c.store = c.Store
		if c.store == nil {
			c.store = &MemoryStore{}
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
// sts-policy-fetch-error and the like); both are worth a log line. With
// StatusNone an error says the domain is malformed (ErrBadDomain) or the
// Store failed. The domain is an A-label; case and a trailing dot do not
// matter.
//
// Round-trips: the TXT question always (it can go out in parallel with the
// MX question); an HTTPS fetch only when the id is new, nothing valid is
// cached, or the cached policy is due for refresh (RefreshAfter).
func (c *Client) Lookup(ctx context.Context, domain string) (*Policy, Status, error) {
	return c.LookupUsing(ctx, domain, nil)
}

// LookupUsing is Lookup with txt asking the TXT question in place of c.TXT
// (nil: c.TXT), so that one Client, its Store and its shared fetches serve
// callers that each ask DNS their own way (the mxroute Router asks through
// its own Resolver).
func (c *Client) LookupUsing(ctx context.Context, domain string, txt TXTFunc) (*Policy, Status, error) {
	if txt == nil {
		txt = c.txt()
	}
	domain = normDomain(domain)
	if !validDomain(domain) {
		// Nothing to ask for: a name that is no host name has no policy
		// host, and must not reach a URL.
		return nil, StatusNone, &Error{Domain: domain, Err: ErrBadDomain}
	}
	now := time.Now()
	store := c.getStore()
	cached, ok, serr := store.Get(ctx, domain)
	if !ok || !cached.Valid(now) { // a failed Get may still give what it holds
		cached, ok = Entry{}, false
	}
	keep := func(err error) (*Policy, Status, error) {
		if ok {
			return cached.Policy, StatusKept, err
		}
		return nil, StatusFailed, err
	}

	txts, err := txt(ctx, "_mta-sts."+domain)
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
	if ok && cached.ID == rec.ID && now.Sub(cached.Fetched) < c.refreshAge(cached.Policy) {
		return cached.Policy, StatusCached, nil
	}
	if f, recent := c.recentFailure(domain, rec.ID, now); recent {
		return keep(f.err)
	}

	p, err := c.fetch(ctx, domain, rec.ID)
	if p == nil {
		return keep(err)
	}
	return p, StatusFetched, err // err: the Store could not keep it
}

// fetch joins or starts the flight for domain and waits for it or for ctx.
// A fetched policy is stored under id, the id of the record that asked for
// it (the first caller's, should concurrent callers have seen different
// ones).
func (c *Client) fetch(ctx context.Context, domain, id string) (*Policy, error) {
	c.mu.Lock()
	f := c.flights[domain]
	if f == nil {
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel}
		if c.flights == nil {
			c.flights = make(map[string]*flight)
		}
		c.flights[domain] = f
		go c.fly(fctx, f, domain, id)
	}
	f.waiters++
	c.mu.Unlock()

	select {
	case <-f.done:
		if f.err != nil {
			return nil, f.err
		}
		return f.p, f.putErr
	case <-ctx.Done():
		c.mu.Lock()
		f.waiters--
		last := f.waiters == 0
		if last && c.flights[domain] == f {
			delete(c.flights, domain) // a new caller starts afresh
		}
		c.mu.Unlock()
		err := &Error{Result: FetchError, Domain: domain, Detail: "fetch abandoned", Err: ctx.Err()}
		if last {
			f.cancel()
			<-f.done
			// A deadline that ends the wait: the policy host did not answer
			// in the time the sender could give it, a failed fetch (Section
			// 3.3, "for any reason"), remembered for RetryAfter; else every
			// later delivery would wait for it again and defer, until the
			// queue bounces the mail. A cancel says nothing of the host.
			if f.err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				c.mu.Lock()
				c.noteFailure(domain, id, time.Now(), err)
				c.mu.Unlock()
			}
		}
		return nil, err
	}
}

// fly fetches for a flight, stores the policy, and remembers a failure.
func (c *Client) fly(ctx context.Context, f *flight, domain, id string) {
	defer close(f.done)
	defer f.cancel()
	p, err := c.Fetcher.Fetch(ctx, domain)
	now := time.Now()
	f.cancelled = ctx.Err() != nil
	if err == nil {
		p.ID = id
		f.p = p
		f.putErr = c.getStore().Put(ctx, domain, Entry{Policy: p, ID: id, Fetched: now})
	}
	f.err = err
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.flights[domain] == f {
		delete(c.flights, domain)
	}
	switch {
	case err == nil:
		delete(c.failed, domain)
	case !f.cancelled:
		c.noteFailure(domain, id, now, err)
	}
}

func (c *Client) refreshAfter() time.Duration {
	if c.RefreshAfter > 0 {
		return c.RefreshAfter
	}
	return 24 * time.Hour
}

// refreshAge is the age from which p is fetched again: RefreshAfter, or
// half its max_age when that comes first (Section 3.3, "SHOULD proactively
// refresh cached policies before they expire"). Half leaves the other
// half of the policy's life for fetches that fail, with RetryAfter
// between them, before anything expires.
func (c *Client) refreshAge(p *Policy) time.Duration {
	return min(c.refreshAfter(), p.MaxAge/2)
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

// noteFailure remembers a failed fetch; c.mu is held.
func (c *Client) noteFailure(domain, id string, now time.Time, err error) {
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
