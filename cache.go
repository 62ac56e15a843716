package mxroute

import (
	"context"
	"hash/maphash"
	"math"
	"math/bits"
	"strings"
	"sync"
	"time"
	"unsafe"

	"github.com/miekg/dns"
)

// Defaults of a Cache's zero fields.
const (
	defaultCacheEntries = 10000
	// defaultCacheBytes is Unbound's msg-cache-size and rrset-cache-size
	// together (4 MiB each by default): a Cache entry holds both the
	// message and its records. It keeps about 10,000 ordinary answers (an
	// MX or address answer of a few records counts 600-900 bytes), so
	// that it, not MaxEntries, binds only when answers are large.
	defaultCacheBytes = 8 << 20
	// Unbound's cache-max-negative-ttl, and within the "one to three hours"
	// RFC 2308, Section 5 found to work well for negative answers.
	defaultCacheMaxTTL = time.Hour
	defaultFailureTTL  = 2 * time.Second
	// maxFailureTTL bounds FailureTTL: a failure says nothing lasting about
	// the name, and a cached one delays mail that could go now.
	maxFailureTTL = 5 * time.Second
	// maxCacheShards bounds the shards of a Cache; a shard holds at least
	// minShardEntries answers, so a small Cache is one shard (its order is
	// still the approximate LRU of the Cache's doc: a hit among the most
	// recent quarter does not move). A shard also holds at least
	// minShardBytes of MaxBytes, so that a small byte budget does not
	// leave each shard too little for one large answer.
	maxCacheShards  = 16
	minShardEntries = 128
	minShardBytes   = 256 << 10
)

// A Cache is a Resolver that remembers the answers of another one, so that
// routing a domain again costs no query. Its zero value is ready to use; set
// the fields before its first use and do not change them after. A Cache is
// safe for concurrent use, and must not be copied after its first use.
//
//   - A positive answer is kept for the smallest TTL of its answer section,
//     at most MaxTTL.
//   - NXDOMAIN and NODATA are kept for the negative TTL of RFC 2308, Section
//     5: the smaller of the SOA record's TTL and its MINIMUM field, at most
//     MaxTTL; without an SOA in the authority section, not at all.
//   - SERVFAIL, REFUSED, other rcodes, Resolver errors and replies to
//     another question are kept for FailureTTL (a few seconds at most), so
//     that a failing server is not asked the same question a thousand times
//     a second, and a bad reply does not outlive the failure it is.
//   - Identical questions asked while the first is in flight wait for its
//     answer instead of asking again. The shared query runs until its answer
//     arrives or every caller waiting for it has given up (their contexts
//     ended); then it is cancelled, and the last caller to leave returns
//     only after it has stopped, so no goroutine of the Cache outlives its
//     callers. A cancelled query is not cached.
//   - At most MaxEntries answers are kept, taking at most MaxBytes of
//     memory; the least recently used goes first. A hostile zone cannot
//     make a few answers hold gigabytes: each answer counts for what it
//     keeps alive (its records, names and slices), so answers of 64 KiB
//     messages push out others instead of adding up. A Cache of 256
//     entries and 512 KiB or more is split into shards by a hash of the
//     question (at most 16, each with its own lock, recency list and share of
//     MaxEntries and MaxBytes, as Unbound splits its caches into slabs),
//     so that routes on many cores do not queue for one lock; the least
//     recently used answer of the shard goes first, and an answer larger
//     than its shard's share of MaxBytes is not kept (it is still
//     returned). An answer read while it is among the most recent quarter
//     of its shard is not moved up, so a hit on a hot answer takes only a
//     read lock.
//
// Resolve returns a copy of the remembered message with TTLs decremented by
// the time spent in the cache (RFC 1035, Section 4.1.3 counts a TTL down
// while cached) and never beyond the time the cache still keeps it (so
// MaxTTL caps them too), so callers may keep and modify it; a TTL with the
// top bit set is handed out as 0 (RFC 2181, Section 8). The AD bit and every
// section are kept as received. The Router reads cached answers in place,
// without that copy: it does not modify messages, as the Resolver contract
// says.
type Cache struct {
	// Resolver answers the questions the cache cannot. nil: a DNSResolver
	// configured from /etc/resolv.conf, as for a Router.
	Resolver Resolver
	// MaxEntries bounds the answers kept (one per name and type). 0: 10,000.
	MaxEntries int
	// MaxBytes bounds the memory the kept answers take, as the Cache
	// counts it: each answer's records, names and slices, and the Cache's
	// own bookkeeping per answer (about 200 bytes). 0: 8 MiB, Unbound's
	// default message and RRset caches together, about 10,000 ordinary
	// answers.
	MaxBytes int
	// MaxTTL caps how long any answer is kept, positive or negative, however
	// long its TTL. 0: one hour.
	MaxTTL time.Duration
	// FailureTTL is how long a failure (an rcode other than NOERROR and
	// NXDOMAIN, or a Resolver error) is kept; at most 5 seconds. 0: 2
	// seconds; negative: failures are not kept.
	FailureTTL time.Duration

	init   sync.Once
	seed   maphash.Seed
	shards []cacheShard
}

// cacheShard is one part of a Cache: the questions whose hash falls in it,
// under its own lock.
type cacheShard struct {
	mu       sync.RWMutex
	max      int // this shard's share of MaxEntries
	maxBytes int // this shard's share of MaxBytes
	bytes    int // the sizes of the entries, summed
	entries  map[cacheKey]*cacheEntry
	lru      cacheEntry // sentinel of the recency list: lru.next is the most recent
	flights  map[cacheKey]*cacheFlight
	clock    uint64   // counts moves to the front of lru
	recent   uint64   // a quarter of capacity(), kept up to date by put and remove
	_        [64]byte // no false sharing between neighbouring shards
}

// shard returns the shard of key, setting the shards up on first use.
func (c *Cache) shard(key cacheKey) *cacheShard {
	c.init.Do(func() {
		total, bytes := c.maxEntries(), c.maxBytes()
		n := 1
		for n < maxCacheShards && total/(2*n) >= minShardEntries && bytes/(2*n) >= minShardBytes {
			n *= 2
		}
		c.seed = maphash.MakeSeed()
		c.shards = make([]cacheShard, n)
		for i := range c.shards {
			sh := &c.shards[i]
			sh.max = total / n
			if i < total%n {
				sh.max++ // the shares add up to MaxEntries
			}
			sh.maxBytes = bytes / n
			if i < bytes%n {
				sh.maxBytes++ // and to MaxBytes
			}
			sh.entries = make(map[cacheKey]*cacheEntry)
			sh.flights = make(map[cacheKey]*cacheFlight)
			sh.lru.next, sh.lru.prev = &sh.lru, &sh.lru
		}
	})
	if len(c.shards) == 1 {
		return &c.shards[0]
	}
	h := maphash.String(c.seed, key.name) ^ uint64(key.qtype)*0x9e3779b97f4a7c15
	return &c.shards[h%uint64(len(c.shards))]
}

// cacheKey names one question. The name is lower case: DNS names compare
// case-insensitively (RFC 4343).
type cacheKey struct {
	name  string
	qtype uint16
}

// keyOf is the key of the question (name, qtype), name made a lower-case FQDN.
func keyOf(name string, qtype uint16) cacheKey {
	return cacheKey{name: strings.ToLower(dns.Fqdn(name)), qtype: qtype}
}

// cacheEntry is one remembered answer, on the recency list.
type cacheEntry struct {
	key        cacheKey
	msg        *dns.Msg // nil when err is set
	err        error
	stored     time.Time
	expires    time.Time
	prev, next *cacheEntry
	tick       uint64 // the shard's clock when it last moved to the front
	size       int    // the memory the entry keeps alive (entrySize)
}

// cacheFlight is one query in flight, shared by every caller asking the same
// question meanwhile.
//
// This is golang.org/x/sync/singleflight's idea with one change it cannot
// make: singleflight runs the shared call under the first caller's context
// (Do) or detached from every caller (DoChan), so either one caller's
// cancellation fails all the others, or a call abandoned by everyone runs on
// unseen. A flight here runs detached and is cancelled when its last caller
// leaves, which also ends its goroutine with its callers.
type cacheFlight struct {
	done    chan struct{} // closed when msg and err are set
	msg     *dns.Msg
	err     error
	waiters int           // callers still waiting; guarded by its shard's mu
	life    time.Duration // how long the answer is kept (0: not at all); set before done closes
	cancel  context.CancelFunc
}

// Resolve answers from the cache when it can, else asks c.Resolver (once for
// all concurrent callers asking the same question) and remembers the answer.
func (c *Cache) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	msg, age, life, err := c.resolve(ctx, name, qtype)
	if err != nil {
		return nil, err
	}
	return agedCopy(msg, age, life), nil
}

// resolve is Resolve without the copy: the remembered (or just received)
// message itself, which must not be modified, how long it has been kept and
// how long it is still kept (0: it is not kept). The Router reads answers
// this way, so that what it reports of an answer (its TTLs) is the same
// whether the answer was cached before or arrived just now.
func (c *Cache) resolve(ctx context.Context, name string, qtype uint16) (_ *dns.Msg, age, life time.Duration, _ error) {
	key := keyOf(name, qtype)
	sh := c.shard(key)
	now := time.Now()
	if e := sh.lookup(key, now); e != nil {
		return e.aged(now)
	}
	sh.mu.Lock()
	if e := sh.get(key, now); e != nil { // stored meanwhile
		sh.mu.Unlock()
		return e.aged(now)
	}
	f := sh.flights[key]
	if f == nil {
		// The shared query must not end with the first caller's context:
		// others may wait for it. It ends when its last caller leaves.
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &cacheFlight{done: make(chan struct{}), cancel: cancel}
		sh.flights[key] = f
		go c.fly(fctx, sh, f, key, name, qtype)
	}
	f.waiters++
	sh.mu.Unlock()

	select {
	case <-f.done:
		// The flight has left c.flights: its waiter count no longer matters.
		return f.msg, 0, f.life, f.err
	case <-ctx.Done():
		sh.mu.Lock()
		f.waiters--
		last := f.waiters == 0
		if last && sh.flights[key] == f {
			delete(sh.flights, key) // a new caller starts afresh
		}
		sh.mu.Unlock()
		if last {
			f.cancel()
			<-f.done
		}
		return nil, 0, 0, ctx.Err()
	}
}

// aged returns e's message, how long it has been kept and how long it is
// still kept at now. A clock that stepped back (now before stored) makes the
// age zero, never negative, and the time left never more than the entry was
// given: a TTL is never wrapped nor stretched.
func (e *cacheEntry) aged(now time.Time) (_ *dns.Msg, age, life time.Duration, _ error) {
	return e.msg, max(now.Sub(e.stored), 0), min(e.expires.Sub(now), e.expires.Sub(e.stored)), e.err
}

// sharedView and cachedView make the Cache an inPlaceResolver, the Router's
// fast path. Each view is one pointer: turning it into a Resolver allocates
// nothing.
func (c *Cache) sharedView() Resolver { return sharedCache{c} }
func (c *Cache) cachedView() Resolver { return cachedOnly{c} }

// sharedCache is a Resolver that reads a Cache without copying its
// messages (see Cache.resolve): the Router's way to ask a Cache, since it
// never modifies a message.
type sharedCache struct{ c *Cache }

func (s sharedCache) Resolve(ctx context.Context, name string, qtype uint16) (*dns.Msg, error) {
	msg, _, _, err := s.c.resolve(ctx, name, qtype)
	return msg, err
}

// fly asks the question for a flight and remembers the answer.
func (c *Cache) fly(ctx context.Context, sh *cacheShard, f *cacheFlight, key cacheKey, name string, qtype uint16) {
	defer close(f.done)
	defer f.cancel()
	msg, err := c.next().Resolve(ctx, name, qtype)
	if err == nil && msg == nil {
		err = errNoResponse
	}
	f.msg, f.err = msg, err
	// The entry and its size are made outside the lock: sizing a large
	// answer walks its records.
	var e *cacheEntry
	if ctx.Err() == nil { // else cancelled: says nothing about the name
		if ttl := c.ttl(msg, err, dns.Question{Name: key.name, Qtype: qtype, Qclass: dns.ClassINET}); ttl > 0 {
			now := time.Now()
			e = &cacheEntry{key: key, msg: msg, err: err, stored: now, expires: now.Add(ttl), size: entrySize(key, msg, err)}
		}
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if sh.flights[key] == f {
		delete(sh.flights, key)
	}
	if e != nil && sh.put(e) {
		f.life = e.expires.Sub(e.stored)
	}
}

// errNoResponse stands for a Resolver that returned neither a message nor an
// error.
var errNoResponse = errorString("mxroute: resolver returned no response")

type errorString string

func (e errorString) Error() string { return string(e) }

// cached returns the remembered message for a question without asking
// anyone and without copying it, or nil. The Router uses it to answer from
// the cache on the goroutine it runs on; the message must not be modified.
func (c *Cache) cached(name string, qtype uint16) (*dns.Msg, bool) {
	key := keyOf(name, qtype)
	if e := c.shard(key).lookup(key, time.Now()); e != nil && e.err == nil {
		return e.msg, true
	}
	return nil, false
}

// Len returns the number of answers the cache holds, expired ones included
// until they are looked up or evicted.
func (c *Cache) Len() int {
	c.shard(cacheKey{}) // set up
	n := 0
	for i := range c.shards {
		sh := &c.shards[i]
		sh.mu.RLock()
		n += len(sh.entries)
		sh.mu.RUnlock()
	}
	return n
}

// lookup is get under the shard's lock: a read lock when the entry is fresh
// and among the most recent quarter of the shard's capacity (it stays where
// it is), the write lock otherwise. An entry's fields other than its list links never
// change once stored, so the caller may read them unlocked.
func (sh *cacheShard) lookup(key cacheKey, now time.Time) *cacheEntry {
	sh.mu.RLock()
	e := sh.entries[key]
	recent := e != nil && now.Before(e.expires) && sh.clock-e.tick < sh.recent
	sh.mu.RUnlock()
	switch {
	case e == nil:
		return nil
	case recent:
		return e
	}
	sh.mu.Lock()
	defer sh.mu.Unlock()
	return sh.get(key, now)
}

// capacity is how many entries the shard holds when full: its share of
// MaxEntries, or fewer when its entries are so large that its share of
// MaxBytes binds first (as many as fit at their mean size). It changes
// with what the shard holds, so put and remove keep sh.recent, its
// quarter, for lookup's read path, which then divides nothing. sh.mu is
// held.
func (sh *cacheShard) capacity() uint64 {
	n := sh.max
	if sh.bytes > 0 {
		n = min(n, sh.maxBytes/(sh.bytes/len(sh.entries)))
	}
	return uint64(n)
}

// get returns the fresh entry for key and marks it most recently used; an
// expired entry is dropped. sh.mu is held.
func (sh *cacheShard) get(key cacheKey, now time.Time) *cacheEntry {
	e := sh.entries[key]
	if e == nil {
		return nil
	}
	if !now.Before(e.expires) {
		sh.remove(e)
		return nil
	}
	sh.unlink(e)
	sh.pushFront(e)
	return e
}

// put stores e as the most recent entry, evicting the least recently used
// ones beyond the shard's share of MaxEntries or MaxBytes, and reports
// whether e is kept: an entry larger than the whole share is not (it would
// evict everything and still not fit), and the entry it would replace goes
// anyway, being older. sh.mu is held.
func (sh *cacheShard) put(e *cacheEntry) bool {
	if old := sh.entries[e.key]; old != nil {
		sh.remove(old)
	}
	if e.size > sh.maxBytes {
		return false
	}
	sh.entries[e.key] = e
	sh.bytes += e.size
	sh.pushFront(e)
	for len(sh.entries) > sh.max || sh.bytes > sh.maxBytes {
		sh.remove(sh.lru.prev)
	}
	sh.recent = sh.capacity() / 4
	return true
}

func (sh *cacheShard) remove(e *cacheEntry) {
	sh.unlink(e)
	delete(sh.entries, e.key)
	sh.bytes -= e.size
	sh.recent = sh.capacity() / 4
}

func (sh *cacheShard) unlink(e *cacheEntry) {
	e.prev.next, e.next.prev = e.next, e.prev
	e.prev, e.next = nil, nil
}

func (sh *cacheShard) pushFront(e *cacheEntry) {
	sh.clock++
	e.tick = sh.clock
	e.prev, e.next = &sh.lru, sh.lru.next
	sh.lru.next.prev = e
	sh.lru.next = e
}

// ttl says how long an answer to q may be kept: 0 for not at all.
func (c *Cache) ttl(msg *dns.Msg, err error, q dns.Question) time.Duration {
	if err != nil || (msg.Rcode != dns.RcodeSuccess && msg.Rcode != dns.RcodeNameError) {
		return c.failureTTL()
	}
	if !sameQuestion(msg, q) {
		// A reply to another question is useless to every caller (the
		// Router rejects it, RFC 5452, Section 3); kept for its TTL it
		// would hold a domain's mail for up to MaxTTL. A failure, briefly.
		return c.failureTTL()
	}
	if msg.Truncated {
		return 0 // a partial answer (RFC 2181, Section 9: not to be cached)
	}
	secs, ok := uint32(0), false
	minTTL := func(t uint32) {
		if !ok || t < secs {
			secs, ok = t, true
		}
	}
	for _, rr := range msg.Answer {
		minTTL(ttlOf(rr))
	}
	if len(msg.Answer) == 0 || msg.Rcode == dns.RcodeNameError || !hasRecordsOfQuestion(msg) {
		// RFC 2308, Section 3: "The TTL of this record is set from the
		// minimum of the MINIMUM field of the SOA record and the TTL of
		// the SOA itself", and Section 5: "Negative responses without SOA records
		// SHOULD NOT be cached as there is no way to prevent the
		// negative responses looping forever between a pair of servers".
		soa := negativeSOA(msg)
		if soa == nil {
			return 0
		}
		minTTL(min(ttlOf(soa), topBitZero(soa.Minttl)))
	}
	return min(time.Duration(secs)*time.Second, c.maxTTL())
}

// hasRecordsOfQuestion reports whether the answer section holds a record of
// the question's type: otherwise the answer is a CNAME chain ending in NODATA
// (or unresolved), which is negative at its end.
func hasRecordsOfQuestion(msg *dns.Msg) bool {
	if len(msg.Question) != 1 {
		return true
	}
	for _, rr := range msg.Answer {
		if rr.Header().Rrtype == msg.Question[0].Qtype {
			return true
		}
	}
	return false
}

func negativeSOA(msg *dns.Msg) *dns.SOA {
	for _, rr := range msg.Ns {
		if soa, ok := rr.(*dns.SOA); ok {
			return soa
		}
	}
	return nil
}

// agedCopy returns a deep copy of msg with every TTL lowered by age (never
// below zero) and at most life, the time the cache still keeps the answer
// (rounded up to a second): a TTL handed out never outlives the entry, so
// whoever keeps the answer downstream drops it when this cache would, as
// MaxTTL promises (Unbound's cache-max-ttl does the same). The OPT
// pseudo-record's TTL field holds flags and is left alone. life 0: an answer
// not kept, whose TTLs are not capped. A TTL with the top bit set is 0.
func agedCopy(msg *dns.Msg, age, life time.Duration) *dns.Msg {
	out := msg.Copy()
	secs := uint32(min(max(age, 0)/time.Second, math.MaxUint32))
	limit := uint32(math.MaxUint32)
	if life > 0 {
		limit = uint32(min((life+time.Second-1)/time.Second, math.MaxUint32))
	}
	for _, sec := range [][]dns.RR{out.Answer, out.Ns, out.Extra} {
		for _, rr := range sec {
			h := rr.Header()
			if h.Rrtype == dns.TypeOPT {
				continue
			}
			ttl := ttlOf(rr)
			h.Ttl = min(ttl-min(ttl, secs), limit)
		}
	}
	return out
}

// ttlOf is rr's TTL as a resolver must read it. RFC 2181, Section 8:
// "Implementations should treat TTL values received with the most
// significant bit set as if the entire value received was zero." Read
// otherwise, such a TTL would keep a record for 68 years, or (as an int32)
// for a negative time.
func ttlOf(rr dns.RR) uint32 { return topBitZero(rr.Header().Ttl) }

func topBitZero(ttl uint32) uint32 {
	if ttl&(1<<31) != 0 {
		return 0
	}
	return ttl
}

func (c *Cache) next() Resolver {
	if c.Resolver != nil {
		return c.Resolver
	}
	return defaultResolver
}

func (c *Cache) maxEntries() int {
	if c.MaxEntries > 0 {
		return c.MaxEntries
	}
	return defaultCacheEntries
}

func (c *Cache) maxBytes() int {
	if c.MaxBytes > 0 {
		return c.MaxBytes
	}
	return defaultCacheBytes
}

func (c *Cache) maxTTL() time.Duration {
	if c.MaxTTL > 0 {
		return c.MaxTTL
	}
	return defaultCacheMaxTTL
}

func (c *Cache) failureTTL() time.Duration {
	switch {
	case c.FailureTTL < 0:
		return 0
	case c.FailureTTL == 0:
		return defaultFailureTTL
	}
	return min(c.FailureTTL, maxFailureTTL)
}

// cachedOnly is a Resolver that answers only from a Cache, in place (see
// Cache.cached), and fails with errNotCached otherwise. The Router reads a
// Cache this way first, on its own goroutine: a warm route starts no
// goroutine and copies no message.
type cachedOnly struct{ c *Cache }

func (c cachedOnly) Resolve(_ context.Context, name string, qtype uint16) (*dns.Msg, error) {
	if m, ok := c.c.cached(name, qtype); ok {
		return m, nil
	}
	return nil, errNotCached
}

// entrySize is the memory an entry keeps alive, as MaxBytes counts it: the
// entry and its map slot, the key's name, and the message with every
// section, record, name and slice it holds, each allocation rounded up as
// the Go allocator does. It is an estimate made once per stored answer,
// with no reflection: the records a mail route asks for are sized field by
// field, any other type from its wire length. Within a few tens of percent
// of what runtime.MemStats shows, for small answers and for 64 KiB ones
// (BenchmarkCacheHostileZone compares the two).
func entrySize(key cacheKey, msg *dns.Msg, err error) int {
	const (
		entry   = int(unsafe.Sizeof(cacheEntry{}))
		mapSlot = 64 // key and pointer in the shard's map, with its slack
		anError = 64 // an error value: the message itself is not counted
	)
	n := allocSize(entry) + mapSlot + allocSize(len(key.name))
	if err != nil {
		n += anError
	}
	if msg == nil {
		return n
	}
	n += allocSize(int(unsafe.Sizeof(dns.Msg{})))
	n += allocSize(cap(msg.Question) * int(unsafe.Sizeof(dns.Question{})))
	for _, q := range msg.Question {
		n += allocSize(len(q.Name))
	}
	for _, sec := range [][]dns.RR{msg.Answer, msg.Ns, msg.Extra} {
		n += allocSize(cap(sec) * int(unsafe.Sizeof(dns.RR(nil))))
		for _, rr := range sec {
			n += rrSize(rr)
		}
	}
	return n
}

// rrSize is the memory one record keeps alive (see entrySize).
func rrSize(rr dns.RR) int {
	n := allocSize(len(rr.Header().Name))
	switch rr := rr.(type) {
	case *dns.A:
		return n + allocSize(int(unsafe.Sizeof(*rr))) + allocSize(cap(rr.A))
	case *dns.AAAA:
		return n + allocSize(int(unsafe.Sizeof(*rr))) + allocSize(cap(rr.AAAA))
	case *dns.MX:
		return n + allocSize(int(unsafe.Sizeof(*rr))) + allocSize(len(rr.Mx))
	case *dns.CNAME:
		return n + allocSize(int(unsafe.Sizeof(*rr))) + allocSize(len(rr.Target))
	case *dns.NS:
		return n + allocSize(int(unsafe.Sizeof(*rr))) + allocSize(len(rr.Ns))
	case *dns.SOA:
		return n + allocSize(int(unsafe.Sizeof(*rr))) + allocSize(len(rr.Ns)) + allocSize(len(rr.Mbox))
	case *dns.TLSA:
		return n + allocSize(int(unsafe.Sizeof(*rr))) + allocSize(len(rr.Certificate))
	case *dns.TXT:
		n += allocSize(int(unsafe.Sizeof(*rr))) + allocSize(cap(rr.Txt)*int(unsafe.Sizeof("")))
		for _, s := range rr.Txt {
			n += allocSize(len(s))
		}
		return n
	case *dns.RRSIG:
		return n + allocSize(int(unsafe.Sizeof(*rr))) + allocSize(len(rr.SignerName)) + allocSize(len(rr.Signature))
	}
	// Any other type: its struct, and its data at twice its wire length
	// (names and strings as long as on the wire, a slice header or an
	// allocation's rounding for each).
	return n + allocSize(64+2*dns.Len(rr))
}

// allocSize is n rounded up about as the Go allocator's size classes round
// an allocation of n bytes: at least 16, to 8 bytes up to 32, then to a quarter to an
// eighth of the next power of two (large allocations round to pages,
// which this matches from 8 KiB on).
func allocSize(n int) int {
	if n <= 0 {
		return 0
	}
	if n <= 16 {
		return 16 // the tiny allocator packs smaller ones, but not tightly
	}
	if n <= 32 {
		return (n + 7) &^ 7
	}
	step := 1 << (bits.Len(uint(n)) - 3)
	return (n + step - 1) &^ (step - 1)
}
