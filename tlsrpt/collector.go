package tlsrpt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"
)

// ErrBadSession: a Session cannot be counted (no policy domain, an unknown
// policy or result type).
var ErrBadSession = errors.New("tlsrpt: malformed session")

// Collector counts sessions per policy domain and UTC day (RFC 8460,
// Section 4): successes and failures per applied policy, and failures per
// result type, addresses and names. The zero value works: a MemoryStore of
// its own. A Collector is safe for concurrent use; so is a fleet of them
// over one shared SQLStore.
type Collector struct {
	// Store keeps the counters. Nil: a MemoryStore of this Collector.
	Store Store

	once  sync.Once
	store Store
}

func (c *Collector) getStore() Store {
	c.once.Do(func() {
		c.store = c.Store
		if c.store == nil {
			c.store = &MemoryStore{}
		}
	})
	return c.store
}

// Add counts one session. A session that delivers a TLS report (s.Report)
// is dropped: nil, nothing counted. Errors wrap ErrBadSession or are the
// Store's.
func (c *Collector) Add(ctx context.Context, s Session) error {
	if s.Report {
		return nil
	}
	k, err := c.key(s)
	if err != nil {
		return err
	}
	return c.getStore().Add(ctx, k, 1)
}

// key gives the counter a session adds to, its names normalised and what a
// remote host brought made fit to keep.
func (c *Collector) key(s Session) (Key, error) {
	fail := func(why string) (Key, error) {
		return Key{}, fmt.Errorf("%w: %s", ErrBadSession, why)
	}
	p := s.Policy
	if p.Type == "" {
		p.Type = PolicyNotFound
	}
	if !p.Type.Known() {
		return fail(fmt.Sprintf("policy type %q", p.Type))
	}
	d, err := normDomain(p.Domain)
	if err != nil {
		return fail(fmt.Sprintf("policy domain: %v", err))
	}
	p.Domain = d
	strs := make([]string, 0, len(p.String))
	for _, l := range p.String {
		strs = append(strs, clean(l, 1<<16))
	}
	p.String = strs
	mx := make([]string, 0, len(p.MXHost))
	for _, m := range p.MXHost {
		mx = append(mx, aLabelPattern(clean(m, maxHELO)))
	}
	p.MXHost = mx
	if s.Failure != "" && !s.Failure.Known() {
		return fail(fmt.Sprintf("result type %q", string(s.Failure)))
	}
	t := s.Time
	if t.IsZero() {
		t = time.Now()
	}
	k := Key{Day: DayOf(t), Policy: p, Result: s.Failure}
	if s.Failure == "" {
		return k, nil // successes count per policy, without details
	}
	k.SendingIP = s.SendingIP.Unmap().WithZone("")
	k.ReceivingIP = s.ReceivingIP.Unmap().WithZone("")
	if s.MXHost != "" {
		h, err := normDomain(s.MXHost)
		if err != nil {
			return fail(fmt.Sprintf("MX host: %v", err))
		}
		k.MXHost = h
	}
	k.HELO = clean(s.HELO, maxHELO)
	k.AdditionalInfo = clean(s.AdditionalInfo, maxInfo)
	k.ReasonCode = clean(s.ReasonCode, maxReasonCode)
	return k, nil
}

// Report gives the report of a policy domain for a day from the Store's
// counters (see Submitter.Report). With a non-nil report, an error says
// that some counters could not be read: the report has the others.
func (c *Collector) Report(ctx context.Context, sub Submitter, domain string, day Day) (*Report, error) {
	d, err := normDomain(domain)
	if err != nil {
		return nil, err
	}
	counters, rerr := c.getStore().Counters(ctx, day, d)
	if rerr != nil && len(counters) == 0 {
		return nil, rerr
	}
	r, err := sub.Report(d, day, counters)
	if err != nil {
		return nil, err
	}
	return r, rerr
}

// Pending gives the reports due: the policy domains and days with counters,
// of days before today (UTC). RFC 8460, Section 4.1 asks for a delay
// after the day ends, "perhaps several hours", random, so that receivers
// are not flooded at midnight: when to call is the caller's.
func (c *Collector) Pending(ctx context.Context) ([]DomainDay, error) {
	return c.getStore().Pending(ctx, DayOf(time.Now()))
}

// Done removes the counters of a reported domain and day. An MTA calls it
// once the report is delivered, or given up ("the report SHOULD NOT be
// considered successfully delivered until one of the endpoints accepts
// delivery of the report", Section 3; retry "for up to 24 hours", Section
// 5.5), or when the domain has no TLSRPT record.
func (c *Collector) Done(ctx context.Context, domain string, day Day) error {
	d, err := normDomain(domain)
	if err != nil {
		return err
	}
	return c.getStore().Delete(ctx, day, d)
}

// aLabelPattern gives an mx pattern ("mx.example.com", "*.example.com")
// with A-labels, as Section 4.4 wants mx-host; a pattern that is no domain
// is kept as it was, being what the policy said.
func aLabelPattern(m string) string {
	rest, wild := strings.CutPrefix(m, "*.")
	d, err := normDomain(rest)
	if err != nil {
		return m
	}
	if wild {
		return "*." + d
	}
	return d
}
