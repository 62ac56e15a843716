package tlsrpt

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"slices"
	"sync"
)

// Key names one counter of a Store: a UTC day, the policy applied (its
// Domain the policy domain), and for failures the failure details of
// Section 4.4. Successes are counted per day and policy alone: their
// counter has Result "" and no details.
type Key struct {
	Day    Day
	Policy Policy
	// Result is the failure's result type; "" counts successes.
	Result Result

	SendingIP      netip.Addr // zero: not known
	ReceivingIP    netip.Addr // zero: not known
	MXHost         string
	HELO           string
	AdditionalInfo string
	ReasonCode     string
}

// Counter is a counter of a Store: a key and its count of sessions.
type Counter struct {
	Key
	N int64
}

// DomainDay names one report: a policy domain and a day.
type DomainDay struct {
	Domain string
	Day    Day
}

// Store keeps the counters of a Collector. A Store is safe for concurrent
// use, and so are the stores a fleet of MTAs shares: an Add is never lost to
// another.
type Store interface {
	// Add adds n to the counter of k, creating it with n.
	Add(ctx context.Context, k Key, n int64) error
	// Counters gives the counters of day, in no order: those of one policy
	// domain, or of every domain when domain is "". A counter that cannot
	// be read is left out, its error joined to err; the others are given
	// all the same.
	Counters(ctx context.Context, day Day, domain string) ([]Counter, error)
	// Pending gives the policy domains and days that have counters, of days
	// before the day given: the reports due. In no order.
	Pending(ctx context.Context, before Day) ([]DomainDay, error)
	// Delete removes the counters of day: those of one policy domain, or of
	// every domain when domain is "". It is how a sent report is marked.
	Delete(ctx context.Context, day Day, domain string) error
}

// ErrStoreFull: a MemoryStore holds MaxCounters counters and a session
// needs a new one.
var ErrStoreFull = errors.New("tlsrpt: counter store full")

// ErrBadKey: a key a Store is given or reads back is not one a Collector
// makes (no day, no valid policy domain, an unknown policy type or result).
var ErrBadKey = errors.New("tlsrpt: malformed counter key")

// check tells whether k is a key a Collector makes.
func (k Key) check() error {
	fail := func(why string) error { return fmt.Errorf("%w: %s", ErrBadKey, why) }
	switch {
	case k.Day.IsZero() || k.Day != DayOf(k.Day.Start()):
		return fail(fmt.Sprintf("day %s", k.Day))
	case !k.Policy.Type.Known():
		return fail(fmt.Sprintf("policy type %q", k.Policy.Type))
	case k.Result != "" && !k.Result.Known():
		return fail(fmt.Sprintf("result type %q", string(k.Result)))
	}
	if d, err := normDomain(k.Policy.Domain); err != nil || d != k.Policy.Domain {
		return fail(fmt.Sprintf("policy domain %q", k.Policy.Domain))
	}
	return nil
}

// counterText is a counter as a store keeps it outside memory: an entry
// of a FileStore's file (this JSON, with the field names of RFC 8460,
// Section 4.4), the columns of a SQLStore's row.
type counterText struct {
	Day            string   `json:"day"`
	PolicyDomain   string   `json:"policy-domain"`
	PolicyType     string   `json:"policy-type"`
	PolicyString   []string `json:"policy-string"`
	MXHost         []string `json:"mx-host"`
	Result         string   `json:"result-type,omitempty"`
	SendingIP      string   `json:"sending-mta-ip,omitempty"`
	ReceivingIP    string   `json:"receiving-ip,omitempty"`
	MXName         string   `json:"receiving-mx-hostname,omitempty"`
	HELO           string   `json:"receiving-mx-helo,omitempty"`
	AdditionalInfo string   `json:"additional-information,omitempty"`
	ReasonCode     string   `json:"failure-reason-code,omitempty"`
	N              int64    `json:"n"`
}

// text gives the counter as a store keeps it.
func (c Counter) text() counterText {
	return counterText{Day: c.Day.String(), PolicyDomain: c.Policy.Domain, PolicyType: string(c.Policy.Type),
		PolicyString: nonNil(c.Policy.String), MXHost: nonNil(c.Policy.MXHost), Result: string(c.Result),
		SendingIP: addrText(c.SendingIP), ReceivingIP: addrText(c.ReceivingIP), MXName: c.MXHost, HELO: c.HELO,
		AdditionalInfo: c.AdditionalInfo, ReasonCode: c.ReasonCode, N: c.N}
}

// counter reads a counter back, or says why it is not one a Collector
// makes (ErrBadKey).
func (t counterText) counter() (Counter, error) {
	fail := func(why string) (Counter, error) { return Counter{}, fmt.Errorf("%w: %s", ErrBadKey, why) }
	day, err := ParseDay(t.Day)
	if err != nil {
		return fail(fmt.Sprintf("day %q", t.Day))
	}
	k := Key{Day: day, Policy: Policy{Domain: t.PolicyDomain, Type: PolicyType(t.PolicyType), String: t.PolicyString,
		MXHost: t.MXHost}, Result: Result(t.Result), MXHost: t.MXName, HELO: t.HELO, AdditionalInfo: t.AdditionalInfo,
		ReasonCode: t.ReasonCode}
	for _, a := range []struct {
		text string
		addr *netip.Addr
	}{{t.SendingIP, &k.SendingIP}, {t.ReceivingIP, &k.ReceivingIP}} {
		if a.text != "" {
			if *a.addr, err = netip.ParseAddr(a.text); err != nil {
				return fail(fmt.Sprintf("address %q", a.text))
			}
		}
	}
	if t.N < 0 {
		return fail(fmt.Sprintf("count %d", t.N))
	}
	if err := k.check(); err != nil {
		return Counter{}, err
	}
	return Counter{Key: k, N: t.N}, nil
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

// keyDetail is what tells counters of one day and policy domain apart, the
// part of a key that SQLStore hashes.
type keyDetail struct {
	Type           PolicyType `json:"t"`
	String         []string   `json:"s"`
	MXHost         []string   `json:"m"`
	Result         Result     `json:"r"`
	SendingIP      netip.Addr `json:"si"`
	ReceivingIP    netip.Addr `json:"ri"`
	MXName         string     `json:"mx"`
	HELO           string     `json:"h"`
	AdditionalInfo string     `json:"a"`
	ReasonCode     string     `json:"c"`
}

// id gives the hash of a key's detail: counters of one day and policy
// domain with the same id are one counter.
func (k Key) id() string {
	d := keyDetail{k.Policy.Type, k.Policy.String, k.Policy.MXHost, k.Result, k.SendingIP, k.ReceivingIP,
		k.MXHost, k.HELO, k.AdditionalInfo, k.ReasonCode}
	if d.String == nil {
		d.String = []string{}
	}
	if d.MXHost == nil {
		d.MXHost = []string{}
	}
	b, err := json.Marshal(d)
	if err != nil {
		panic(err) // strings and addresses always marshal
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// MemoryStore is a Store in memory, for one MTA process. The zero value is
// ready to use.
type MemoryStore struct {
	// MaxCounters bounds the counters held: once reached, an Add that needs
	// a new counter fails with ErrStoreFull (existing counters still count),
	// so a sender that never reports cannot grow without end. Each counter
	// holds its key's strings (the policy's text, the failure details).
	// Zero: 1,000,000.
	MaxCounters int

	mu  sync.Mutex
	set counterSet
}

func (s *MemoryStore) maxCounters() int {
	if s.MaxCounters > 0 {
		return s.MaxCounters
	}
	return 1_000_000
}

// Add adds n to the counter of k.
func (s *MemoryStore) Add(ctx context.Context, k Key, n int64) error {
	if err := k.check(); err != nil {
		return err
	}
	id := k.id()
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set.add(k, id, n, s.maxCounters())
}

// Counters gives the counters of day for domain ("" for all).
func (s *MemoryStore) Counters(ctx context.Context, day Day, domain string) ([]Counter, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set.counters(day, domain), nil
}

// Pending gives the domains and days with counters before the day given.
func (s *MemoryStore) Pending(ctx context.Context, before Day) ([]DomainDay, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.set.pending(before), nil
}

// Delete removes the counters of day for domain ("" for all).
func (s *MemoryStore) Delete(ctx context.Context, day Day, domain string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.set.delete(day, domain)
	return nil
}

// counterSet is the counters of a MemoryStore or a FileStore, by day,
// policy domain and key id. Its owner guards it. A key, once in the set,
// never changes: only the counts do.
type counterSet struct {
	days map[Day]map[string]map[string]*Counter
	n    int
}

// add adds n to the counter of k, whose id is id, making the counter when
// the set holds fewer than max.
func (s *counterSet) add(k Key, id string, n int64, max int) error {
	doms := s.days[k.Day]
	if doms == nil {
		if s.days == nil {
			s.days = make(map[Day]map[string]map[string]*Counter)
		}
		doms = make(map[string]map[string]*Counter)
		s.days[k.Day] = doms
	}
	cs := doms[k.Policy.Domain]
	if cs == nil {
		cs = make(map[string]*Counter)
		doms[k.Policy.Domain] = cs
	}
	if c := cs[id]; c != nil {
		c.N += n
		return nil
	}
	if s.n >= max {
		return fmt.Errorf("%w (%d counters)", ErrStoreFull, s.n)
	}
	k.Policy.String = slices.Clone(k.Policy.String)
	k.Policy.MXHost = slices.Clone(k.Policy.MXHost)
	cs[id] = &Counter{Key: k, N: n}
	s.n++
	return nil
}

// counters gives copies of the counters of day for domain ("" for all).
func (s *counterSet) counters(day Day, domain string) []Counter {
	var out []Counter
	for d, cs := range s.days[day] {
		if domain != "" && d != domain {
			continue
		}
		for _, c := range cs {
			out = append(out, *c)
		}
	}
	return out
}

// pending gives the domains and days with counters before the day given.
func (s *counterSet) pending(before Day) []DomainDay {
	var out []DomainDay
	for day, doms := range s.days {
		if !day.Before(before) {
			continue
		}
		for d := range doms {
			out = append(out, DomainDay{Domain: d, Day: day})
		}
	}
	return out
}

// delete removes the counters of day for domain ("" for all).
func (s *counterSet) delete(day Day, domain string) {
	doms := s.days[day]
	for d, cs := range doms {
		if domain == "" || d == domain {
			s.n -= len(cs)
			delete(doms, d)
		}
	}
	if len(doms) == 0 {
		delete(s.days, day)
	}
}
