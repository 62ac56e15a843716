package mtasts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
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
// When full it evicts what protects the least: expired entries first, then
// policies in mode none or testing (whose loss costs a fetch, never a
// downgrade), then the least recently used (by Get or Put). Never by
// expiry: an attacker whose domains publish policies of a year's max_age
// would evict a victim's one-day enforce policy in active use, the very
// policy the cache is there to keep (RFC 8461, Section 10.2).
type MemoryStore struct {
	// MaxEntries bounds the domains kept. 0: 10,000.
	MaxEntries int

	mu   sync.RWMutex
	m    map[string]*item
	tick atomic.Uint64 // the clock of last uses: one tick per Get hit or Put
}

// item is a stored entry and its last use. Get under the read lock stamps
// used atomically, so readers never wait for each other.
type item struct {
	e    Entry
	used atomic.Uint64
}

const defaultMaxEntries = 10000

func (s *MemoryStore) max() int {
	if s.MaxEntries > 0 {
		return s.MaxEntries
	}
	return defaultMaxEntries
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
// already expired is not kept, and drops the one it replaces.
func (s *MemoryStore) Put(_ context.Context, domain string, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.put(normDomain(domain), e, time.Now())
	return nil
}

// put is Put with s.mu held.
func (s *MemoryStore) put(domain string, e Entry, now time.Time) {
	if !e.Valid(now) {
		delete(s.m, domain)
		return
	}
	if s.m == nil {
		s.m = make(map[string]*item)
	}
	it := &item{e: e}
	it.used.Store(s.tick.Add(1))
	s.m[domain] = it
	if len(s.m) > s.max() {
		s.evict(domain, now)
	}
}

// evict brings s within its bounds, never evicting keep (the entry just
// put): every expired entry goes, then the entries of lowest rank.
func (s *MemoryStore) evict(keep string, now time.Time) {
	for d, it := range s.m {
		if !it.e.Valid(now) {
			delete(s.m, d)
		}
	}
	for len(s.m) > s.max() {
		var victim string
		var low *item
		for d, it := range s.m {
			if d != keep && (low == nil || it.below(low)) {
				victim, low = d, it
			}
		}
		if low == nil {
			return
		}
		delete(s.m, victim)
	}
}

// below reports whether it is evicted before o: a policy in mode none or
// testing before one in mode enforce, then the least recently used. (An
// O(n) scan per eviction: a Put follows an HTTPS fetch, which costs more.)
func (it *item) below(o *item) bool {
	if a, b := it.enforce(), o.enforce(); a != b {
		return b
	}
	return it.used.Load() < o.used.Load()
}

func (it *item) enforce() bool { return it.e.Policy != nil && it.e.Policy.Mode == ModeEnforce }

// FileStore is a Store kept in one file, so cached policies survive a
// restart: that is what keeps a policy in force when an attacker blocks the
// fetch after the sender restarts (RFC 8461, Section 10.2). The file is
// read on first use and rewritten whole on each Put, atomically (a
// temporary file in the same directory, synced, then renamed over it), with
// expired entries left out. A file that cannot be parsed is renamed to
// Path+".corrupt" and the store starts empty. One process should use a file.
type FileStore struct {
	// Path is the file. Required.
	Path string
	// MaxEntries bounds the domains kept, evicted as MemoryStore does.
	// 0: 10,000.
	MaxEntries int

	mu     sync.Mutex
	loaded bool
	mem    MemoryStore
}

// fileFormat is the file's JSON.
type fileFormat struct {
	Version int                  `json:"version"`
	Entries map[string]fileEntry `json:"entries"`
}

type fileEntry struct {
	ID      string    `json:"id"`
	Fetched time.Time `json:"fetched"`
	Policy  string    `json:"policy"`
}

const fileVersion = 1

func (s *FileStore) load() error {
	if s.loaded {
		return nil
	}
	if s.Path == "" {
		return errors.New("mtasts: FileStore has no Path")
	}
	s.mem.MaxEntries = s.MaxEntries
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		s.loaded = true
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
		s.loaded = true
		return nil
	}
	for d, fe := range f.Entries {
		p, err := ParsePolicy([]byte(fe.Policy))
		if err != nil {
			continue // an entry this version cannot read: fetch it again
		}
		p.ID = fe.ID
		if have, ok := s.mem.m[normDomain(d)]; ok && !have.e.Fetched.Before(fe.Fetched) {
			continue // put while the file could not be read: newer
		}
		s.mem.put(normDomain(d), Entry{Policy: p, ID: fe.ID, Fetched: fe.Fetched}, time.Now())
	}
	s.loaded = true
	return nil
}

// Get returns the entry of domain, reading the file on first use. While
// the file cannot be read, it answers from what Put kept in memory, with
// the error.
func (s *FileStore) Get(ctx context.Context, domain string) (Entry, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	lerr := s.load()
	e, ok, _ := s.mem.Get(ctx, domain)
	return e, ok, lerr
}

// Put stores the entry and rewrites the file. While the file cannot be
// read, the entry is kept in memory only (and the error returned), so the
// policy stays in force in this process.
func (s *FileStore) Put(_ context.Context, domain string, e Entry) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lerr := s.load()
	s.mem.mu.Lock()
	defer s.mem.mu.Unlock()
	now := time.Now()
	s.mem.put(normDomain(domain), e, now)
	if lerr != nil {
		return lerr // rewriting the file now would drop what it holds
	}
	f := fileFormat{Version: fileVersion, Entries: make(map[string]fileEntry, len(s.mem.m))}
	for d, it := range s.mem.m {
		if !it.e.Valid(now) {
			delete(s.mem.m, d)
			continue
		}
		f.Entries[d] = fileEntry{ID: it.e.ID, Fetched: it.e.Fetched, Policy: it.e.Policy.String()}
	}
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("mtasts: encoding policy cache: %w", err)
	}
	return writeAtomic(s.Path, b)
}

// writeAtomic replaces path with b: a reader sees the old file or the new
// one, and a crash leaves one of them.
func writeAtomic(path string, b []byte) error {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("mtasts: writing policy cache: %w", err)
	}
	name := tmp.Name()
	_, err = tmp.Write(b)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(name, path)
	}
	if err != nil {
		os.Remove(name)
		return fmt.Errorf("mtasts: writing policy cache %q: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil { // make the rename durable
		d.Sync()
		d.Close()
	}
	return nil
}
