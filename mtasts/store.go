package mtasts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxroute-go/mxroute/internal/atomicfile"
)

// Entry is a cached policy: the policy, the id of the TXT record it was
// fetched under, and when.
type Entry struct {
	Policy *Policy
	// ID is the TXT record's id when the policy was fetched; a record with
	// another id announces a new policy (Section 3.1).
	ID string
	// Fetched is when the policy was fetched; it expires MaxAge later.
	Fetched time.Time
}

// Expires is when the entry's policy stops being valid: Fetched + max_age.
func (e Entry) Expires() time.Time {
	if e.Policy == nil {
		return e.Fetched
	}
	return e.Fetched.Add(e.Policy.MaxAge)
}

// Valid reports whether the entry holds a policy that has not expired at now.
func (e Entry) Valid(now time.Time) bool {
	return e.Policy != nil && now.Before(e.Expires())
}

// Store keeps one Entry per domain (lower case, no trailing dot). It must be
// safe for concurrent use. Get of an unknown domain is (Entry{}, false, nil).
// A Get that fails may still give an entry it holds (ok true): Lookup uses
// it, since a valid cached policy must stay in force (RFC 8461, Section 3.3).
type Store interface {
	Get(ctx context.Context, domain string) (Entry, bool, error)
	Put(ctx context.Context, domain string, e Entry) error
}

// MemoryStore is a Store in memory. The zero value is ready to use.
//
// It is bounded in entries and in bytes: a policy costs about its body (up
// to 64 KiB, see ParsePolicy), so 10,000 of an attacker's largest would
// take 640 MiB where ordinary ones (a few hundred bytes) take a few. When
// full it evicts what protects the least: expired entries first, then
// policies in mode none or testing (whose loss costs a fetch, never a
// downgrade), then the least recently used (by Get or Put). Never by
// expiry: an attacker whose domains publish policies of a year's max_age
// would evict a victim's one-day enforce policy in active use, the very
// policy the cache is there to keep (RFC 8461, Section 10.2).
type MemoryStore struct {
	// MaxEntries bounds the domains kept. 0: 10,000.
	MaxEntries int
	// MaxBytes bounds the memory the entries take: about their policies'
	// bodies, 24 bytes an mx pattern and 256 an entry. 0: 32 MiB (10,000
	// ordinary policies, or 500 of 64 KiB).
	MaxBytes int64

	putMu sync.Mutex   // serializes Puts: what is in m changes only under it
	mu    sync.RWMutex // guards m and bytes; Puts write-lock it only to change them
	m     map[string]*item
	bytes int64         // the size of the entries in m
	tick  atomic.Uint64 // the clock of last uses: one tick per Get hit or Put
}

// item is a stored entry, its size and its last use. Get under the read
// lock stamps used atomically, so readers never wait for each other.
type item struct {
	e    Entry
	size int64
	used atomic.Uint64
}

const (
	defaultMaxEntries = 10000
	defaultMaxBytes   = 32 << 20
)

func (s *MemoryStore) max() int {
	if s.MaxEntries > 0 {
		return s.MaxEntries
	}
	return defaultMaxEntries
}

func (s *MemoryStore) maxBytes() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return defaultMaxBytes
}

// size is about the bytes of memory the entry of domain takes in a
// MemoryStore: its policy's text, a Pattern (24 bytes) an mx pattern, and
// the structures around them (checked by TestStoredPolicyMemory).
func (e Entry) size(domain string) int64 {
	const overhead = 256 // the item, its map slot, the Policy, slice and string headers
	n := int64(overhead + len(domain) + len(e.ID))
	if p := e.Policy; p != nil {
		n += int64(len(p.ID) + len(p.ext) + len(p.MX)*24)
		for _, m := range p.MX {
			n += int64(len(m.Domain))
		}
	}
	return n
}

// Get returns the entry of domain.
func (s *MemoryStore) Get(_ context.Context, domain string) (Entry, bool, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	it, ok := s.m[normDomain(domain)]
	if !ok {
		return Entry{}, false, nil
	}
	it.used.Store(s.tick.Add(1))
	return it.e, true, nil
}

// Put stores the entry of domain, evicting others when full. An entry
// already expired is not kept, and drops the one it replaces. Gets wait
// only while the map changes, not while a Put looks for what to evict.
func (s *MemoryStore) Put(_ context.Context, domain string, e Entry) error {
	s.putMu.Lock()
	defer s.putMu.Unlock()
	domain = normDomain(domain)
	now := time.Now()
	s.mu.Lock()
	s.set(domain, e, now)
	s.mu.Unlock()
	s.evict(domain, now)
	return nil
}

// set puts e in m, with putMu and mu held.
func (s *MemoryStore) set(domain string, e Entry, now time.Time) {
	s.remove(domain)
	if !e.Valid(now) {
		return
	}
	if s.m == nil {
		s.m = make(map[string]*item)
	}
	it := &item{e: e, size: e.size(domain)}
	it.used.Store(s.tick.Add(1))
	s.m[domain] = it
	s.bytes += it.size
}

// remove drops the entry of domain, with putMu and mu held.
func (s *MemoryStore) remove(domain string) {
	if it, ok := s.m[domain]; ok {
		delete(s.m, domain)
		s.bytes -= it.size
	}
}

func (s *MemoryStore) full() bool { return len(s.m) > s.max() || s.bytes > s.maxBytes() }

// rank is where an entry stands in the order of eviction.
type rank struct {
	domain  string
	enforce bool   // mode enforce: evicted after none and testing
	used    uint64 // its last use
}

// below reports whether r is evicted before o: a policy in mode none or
// testing before one in mode enforce, then the least recently used.
func (r rank) below(o rank) bool {
	if r.enforce != o.enforce {
		return o.enforce
	}
	return r.used < o.used
}

// evict brings s within its bounds, with putMu held, never evicting keep
// (the entry just put, which stays even if larger than MaxBytes): every
// expired entry goes, then the entries of lowest rank. It looks under the
// read lock, which Gets share (an O(n) scan, or a sort when more than one
// entry must go), and write-locks only to remove: since Puts are
// serialized, what it saw is still there.
func (s *MemoryStore) evict(keep string, now time.Time) {
	for {
		s.mu.RLock()
		if !s.full() {
			s.mu.RUnlock()
			return
		}
		many := len(s.m) > s.max()+1 // a file loaded, or a bound lowered
		var (
			expired []string
			all     []rank
			low     rank
		)
		for d, it := range s.m {
			r := rank{d, it.e.Policy.Mode == ModeEnforce, it.used.Load()}
			switch {
			case d == keep:
			case !it.e.Valid(now):
				expired = append(expired, d)
			case many:
				all = append(all, r)
			case low.domain == "" || r.below(low):
				low = r
			}
		}
		s.mu.RUnlock()
		slices.SortFunc(all, func(a, b rank) int {
			if a.below(b) {
				return -1
			}
			if b.below(a) {
				return 1
			}
			return 0
		})
		s.mu.Lock()
		switch {
		case len(expired) > 0:
			for _, d := range expired {
				s.remove(d)
			}
		case len(all) > 0:
			for _, r := range all {
				if !s.full() {
					break
				}
				s.remove(r.domain)
			}
		case low.domain != "":
			s.remove(low.domain)
		default: // keep alone is left
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
	}
}

// FileStore is a Store kept in one file, so cached policies survive a
// restart: that is what keeps a policy in force when an attacker blocks the
// fetch after the sender restarts (RFC 8461, Section 10.2). The file is
// read on first use and rewritten whole after each Put, atomically (a
// temporary file in the same directory, synced, then renamed over it), with
// expired entries left out. One process should use a file.
//
// No reader waits on a write: Get answers from memory, under a read lock
// that a Put holds only to change the map, never while it encodes or
// writes the file. Writes are serialized among themselves, and a write
// takes along every Put made before it, so Puts that pile up behind a slow
// disk are written once.
//
// A file that cannot be parsed at all is renamed to Path+".corrupt" and the
// store starts empty; an entry that does not parse is skipped, the others
// are read, and the first Get returns the error naming it.
type FileStore struct {
	// Path is the file. Required.
	Path string
	// MaxEntries and MaxBytes bound the entries kept, evicted as
	// MemoryStore does. 0: 10,000 entries, 32 MiB.
	MaxEntries int
	MaxBytes   int64

	memOnce sync.Once
	mem     *MemoryStore // what Get reads, made with the bounds above

	loadMu  sync.Mutex            // serializes reading the file
	loaded  atomic.Bool           // the file was read (or found missing)
	skipped atomic.Pointer[error] // the entries the load skipped, for the next Get

	gen     atomic.Uint64 // Puts so far, each counted once its entry is in mem
	writeMu sync.Mutex    // serializes writing the file
	written uint64        // the gen of the last file written; guarded by writeMu

	writing func() // test hook: called by a write, outside every lock readers take
}

// fileFormat is the file's JSON. Entries are decoded one by one, so that
// one that does not parse costs only itself.
type fileFormat struct {
	Version int                        `json:"version"`
	Entries map[string]json.RawMessage `json:"entries"`
}

type fileEntry struct {
	ID      string    `json:"id"`
	Fetched time.Time `json:"fetched"`
	Policy  string    `json:"policy"`
}

const fileVersion = 1

// load reads the file once. It returns an error when the file cannot be
// read; entries it skips are kept for the next Get.
func (s *FileStore) load() error {
	if s.loaded.Load() {
		return nil
	}
	s.loadMu.Lock()
	defer s.loadMu.Unlock()
	if s.loaded.Load() {
		return nil
	}
	if s.Path == "" {
		return errors.New("mtasts: FileStore has no Path")
	}
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		s.loaded.Store(true)
		return nil
	}
	if err != nil {
		return fmt.Errorf("mtasts: reading policy cache: %w", err)
	}
	var f fileFormat
	if err := json.Unmarshal(b, &f); err != nil || f.Version != fileVersion {
		if err := os.Rename(s.Path, s.Path+".corrupt"); err != nil {
			return fmt.Errorf("mtasts: policy cache %q is corrupt and cannot be moved aside: %w", s.Path, err)
		}
		s.loaded.Store(true)
		return nil
	}
	type read struct {
		domain string
		e      Entry
	}
	var (
		entries []read
		errs    []error
	)
	for d, raw := range f.Entries {
		e, err := decodeEntry(d, raw)
		if err != nil {
			// Skipped (an entry this version cannot read is fetched
			// again), and said.
			errs = append(errs, fmt.Errorf("mtasts: policy cache %q: entry %q skipped: %w", s.Path, d, err))
			continue
		}
		entries = append(entries, read{normDomain(d), e})
	}
	// Oldest first, so that the last uses the store starts with follow
	// the fetches.
	slices.SortFunc(entries, func(a, b read) int { return a.e.Fetched.Compare(b.e.Fetched) })
	now := time.Now()
	mem := s.memory()
	mem.putMu.Lock()
	mem.mu.Lock()
	for _, r := range entries {
		if have, ok := mem.m[r.domain]; ok && !have.e.Fetched.Before(r.e.Fetched) {
			continue // put while the file could not be read: newer
		}
		mem.set(r.domain, r.e, now)
	}
	mem.mu.Unlock()
	mem.evict("", now)
	mem.putMu.Unlock()
	slices.SortFunc(errs, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	if err := errors.Join(errs...); err != nil {
		s.skipped.Store(&err)
	}
	s.loaded.Store(true)
	return nil
}

// memory gives the store in memory, made on first use with the bounds.
func (s *FileStore) memory() *MemoryStore {
	s.memOnce.Do(func() { s.mem = &MemoryStore{MaxEntries: s.MaxEntries, MaxBytes: s.MaxBytes} })
	return s.mem
}

// decodeEntry reads one entry of the file.
func decodeEntry(domain string, raw json.RawMessage) (Entry, error) {
	if !validDomain(normDomain(domain)) {
		return Entry{}, ErrBadDomain
	}
	var fe fileEntry
	if err := json.Unmarshal(raw, &fe); err != nil {
		return Entry{}, err
	}
	p, err := ParsePolicy([]byte(fe.Policy))
	if err != nil {
		return Entry{}, err
	}
	p.ID = fe.ID
	return Entry{Policy: p, ID: fe.ID, Fetched: fe.Fetched}, nil
}

// Get returns the entry of domain, reading the file on first use; that Get
// also returns the error naming the entries it skipped. While the file
// cannot be read, Get answers from what Put kept in memory, with the error.
func (s *FileStore) Get(ctx context.Context, domain string) (Entry, bool, error) {
	err := s.load()
	if s.skipped.Load() != nil { // once: Swap is a write every reader would share
		if skipped := s.skipped.Swap(nil); skipped != nil {
			err = *skipped
		}
	}
	e, ok, _ := s.memory().Get(ctx, domain)
	return e, ok, err
}

// Put stores the entry and has the file rewritten. While the file cannot
// be read, the entry is kept in memory only (and the error returned), so
// the policy stays in force in this process.
func (s *FileStore) Put(ctx context.Context, domain string, e Entry) error {
	lerr := s.load()
	s.memory().Put(ctx, domain, e)
	gen := s.gen.Add(1)
	if lerr != nil {
		return lerr // rewriting the file now would drop what it holds
	}
	return s.write(gen)
}

// write writes the file with what the store holds, unless a write since
// Put number gen already did.
func (s *FileStore) write(gen uint64) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	if s.written >= gen {
		return nil
	}
	// The snapshot: a copy of the entries under the read lock, which Gets
	// share; the encoding and the disk come after it is released. A Put
	// counts in gen after its entry is in the map: have counts no Put
	// whose entry the snapshot lacks.
	now := time.Now()
	mem := s.memory()
	mem.mu.RLock()
	have := s.gen.Load()
	snap := make(map[string]Entry, len(mem.m))
	for d, it := range mem.m {
		if it.e.Valid(now) {
			snap[d] = it.e
		}
	}
	mem.mu.RUnlock()
	if s.writing != nil {
		s.writing()
	}
	f := struct {
		Version int                  `json:"version"`
		Entries map[string]fileEntry `json:"entries"`
	}{fileVersion, make(map[string]fileEntry, len(snap))}
	for d, e := range snap {
		f.Entries[d] = fileEntry{ID: e.ID, Fetched: e.Fetched, Policy: e.Policy.String()}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("mtasts: encoding policy cache: %w", err)
	}
	if err := atomicfile.Write(s.Path, b); err != nil {
		return fmt.Errorf("mtasts: writing policy cache %q: %w", s.Path, err)
	}
	s.written = have
	return nil
}
