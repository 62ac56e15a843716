package tlsrpt

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mxroute-go/mxroute/internal/atomicfile"
)

// FileStore is a Store kept in one file, for a single MTA without a
// database: its counters survive a restart, so a day's report still counts
// the sessions before it. The zero value is not usable: Path is required.
// Call Close when done: it writes what is not yet written.
//
// When the file is written: counts are kept in memory, and the file is
// rewritten whole, atomically (a temporary file in the same directory,
// synced, then renamed over it), FlushInterval after the first Add that it
// does not hold yet (5 s by default), with every count made meanwhile. So
// an Add is a memory operation and never waits on the disk (the Dialer
// waits for its Add before Dial returns), a crash loses at most the last
// FlushInterval of counts (statistics a receiver reads in aggregate, not
// mail), and a busy MTA writes the file at most once per FlushInterval
// however many sessions it counts. tlsrpt-collectd, the collector behind
// Postfix's TLSRPT, likewise commits every 5 s, or 1,000 sessions. Delete
// is written before it returns, since a reported day that came back after
// a crash would be reported twice; Close writes the rest.
//
// No reader waits on a write: Add, Counters and Pending work in memory,
// under a lock a write holds only to copy the counters' references, never
// while it encodes them or writes the file. Writes are serialized, and a
// write takes along every change made before it: Deletes that pile up
// behind a slow disk are written once. A Timer starts a write; no goroutine
// exists between writes, and Close waits for a write under way.
//
// The file is read on first use. An entry that does not parse is skipped,
// the others are read, and it stays in the file as it was (a newer
// version's entry survives an older one's rewrite): Counters of its day
// and domain, or Pending when its day or domain is unreadable, return an
// error naming it (ErrBadKey), as SQLStore does for a row. A file that
// does not parse at all is kept for the operator: the first write moves it
// to Path+".corrupt", and every Counters and Pending of this store return
// its error (its counts are missing from the reports). A file that cannot be read (permissions, I/O) is
// never written over: counts stay in memory, and the file is read again
// (its counts added to them) before the next write.
//
// One process writes a file. Several processes sharing one file lose each
// other's counts (each rewrites the file with its own); a fleet of MTAs
// shares a SQLStore. A process that only reads (Counters, Pending; the
// mxroute report command) never writes the file, and may read it while an
// MTA writes it: it sees the file before or after a write, never half.
type FileStore struct {
	// Path is the file. Required.
	Path string
	// MaxCounters bounds the counters held, as MemoryStore's does (entries
	// of the file that do not parse count too): an Add that needs a new
	// counter past it fails with ErrStoreFull. Zero: 100,000: failures
	// under ordinary MTA-STS policies take about 380 bytes of file each,
	// so 38 MB rewritten in about 0.6 s each FlushInterval at the largest
	// (BenchmarkFileStoreWrite; 1,000 counters: 0.4 MB, 10 ms). More
	// counters than that belong in a SQLStore.
	MaxCounters int
	// FlushInterval is how long a count may be in memory only: the file is
	// rewritten this long after the first Add it does not hold. Zero: 5 s.
	FlushInterval time.Duration
	// OnWriteError, if not nil, is called with the error of each write
	// made for Adds that fails; the counts stay in memory and the write is
	// tried again FlushInterval after it returns. It runs on the write's
	// goroutine, one call at a time, and must not call Close. Nil: the
	// error is not reported, and Close returns the error of its own write
	// if that fails too.
	OnWriteError func(error)

	loadMu sync.Mutex  // serializes reading the file
	loaded atomic.Bool // the file was read (or found missing)

	mu      sync.Mutex // guards what follows, and set's counts
	set     counterSet
	bad     []badEntry // entries of the file that do not parse, kept to be written back
	corrupt error      // the file did not parse at all: its counts are missing from this store's reports
	moved   bool       // the file that did not parse was moved aside
	gen     uint64     // changes so far
	timer   *time.Timer
	closed  bool

	flushes sync.WaitGroup // the write a timer started, while it runs
	writeMu sync.Mutex     // serializes writes
	written uint64         // the gen the file holds; guarded by writeMu

	writing func() // test hook: called by each write that writes, outside mu
}

// ErrStoreClosed: Add or Delete on a FileStore after Close.
var ErrStoreClosed = errors.New("tlsrpt: counter store closed")

// badEntry is an entry of the file that does not parse: its text, to be
// written back, the day and policy domain it names (as text, "" when it
// names none), and why it does not parse.
type badEntry struct {
	raw         json.RawMessage
	day, domain string
	err         error
}

// fileVersion is the version of the file's format:
//
//	{"version": 1, "counters": [
//	{"day": "2026-05-01", "policy-domain": "shop.example", "policy-type": "sts", ..., "n": 3},
//	...
//	]}
//
// one counter a line (counterText), in order of day, domain and key.
const fileVersion = 1

type fileFormat struct {
	Version  int               `json:"version"`
	Counters []json.RawMessage `json:"counters"`
}

const defaultFlushInterval = 5 * time.Second

func (s *FileStore) maxCounters() int {
	if s.MaxCounters > 0 {
		return s.MaxCounters
	}
	return 100_000
}

func (s *FileStore) flushInterval() time.Duration {
	if s.FlushInterval > 0 {
		return s.FlushInterval
	}
	return defaultFlushInterval
}

// load reads the file, once it succeeds: its counters are added to those
// in memory.
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
		return errors.New("tlsrpt: FileStore without a Path")
	}
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		s.loaded.Store(true)
		return nil
	}
	if err != nil {
		return fmt.Errorf("tlsrpt: reading counter file: %w", err)
	}
	good, bad, corrupt := s.parse(b)
	s.mu.Lock()
	for _, c := range good {
		s.set.add(c.Key, c.id(), c.N, int(^uint(0)>>1)) // what the file holds is kept, bound or not
	}
	s.bad = append(s.bad, bad...)
	s.corrupt = corrupt
	s.mu.Unlock()
	s.loaded.Store(true)
	return nil
}

// parse reads the file's text: its counters, the entries that do not
// parse, or why the whole does not.
func (s *FileStore) parse(b []byte) ([]Counter, []badEntry, error) {
	var f fileFormat
	err := json.Unmarshal(b, &f)
	if err == nil && f.Version != fileVersion {
		err = fmt.Errorf("version %d, want %d", f.Version, fileVersion)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("tlsrpt: counter file %q does not parse, its counters are left out (it is moved to %q at the first write): %w",
			s.Path, s.Path+".corrupt", err)
	}
	var (
		good []Counter
		bad  []badEntry
	)
	for _, raw := range f.Counters {
		c, err := parseEntry(raw)
		if err == nil {
			good = append(good, c)
			continue
		}
		var names struct {
			Day    string `json:"day"`
			Domain string `json:"policy-domain"`
		}
		json.Unmarshal(raw, &names) // best effort: what Delete and the errors go by
		text := raw
		if len(text) > 200 {
			text = append(text[:200:200], "..."...)
		}
		bad = append(bad, badEntry{raw: raw, day: names.Day, domain: names.Domain,
			err: fmt.Errorf("counter file %q: entry %s skipped: %w", s.Path, text, err)})
	}
	return good, bad, nil
}

// parseEntry reads one entry of the file: a counterText, no other field.
func parseEntry(raw json.RawMessage) (Counter, error) {
	var t counterText
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&t); err != nil {
		return Counter{}, fmt.Errorf("%w: %v", ErrBadKey, err)
	}
	return t.counter()
}

// Add adds n to the counter of k, in memory: the file has it within
// FlushInterval. While the file cannot be read, the count is kept in
// memory all the same (see FileStore).
func (s *FileStore) Add(ctx context.Context, k Key, n int64) error {
	if err := k.check(); err != nil {
		return err
	}
	id := k.id()
	s.load() // its error is the writes' and the reads' to report: the count is kept
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrStoreClosed
	}
	if err := s.set.add(k, id, n, s.maxCounters()-len(s.bad)); err != nil {
		return err
	}
	s.gen++
	s.schedule()
	return nil
}

// schedule has the file written FlushInterval from now, unless a write is
// already due. With mu held.
func (s *FileStore) schedule() {
	if s.timer != nil || s.closed {
		return
	}
	s.flushes.Add(1)
	s.timer = time.AfterFunc(s.flushInterval(), s.flush)
}

// flush is the write a timer starts. A write that fails is tried again
// FlushInterval later.
func (s *FileStore) flush() {
	defer s.flushes.Done()
	s.mu.Lock()
	s.timer = nil
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return // Close writes
	}
	err := s.write()
	if err == nil {
		return
	}
	if s.OnWriteError != nil {
		s.OnWriteError(err) // before the next timer: never two calls at once
	}
	s.mu.Lock()
	s.schedule()
	s.mu.Unlock()
}

// Counters gives the counters of day for domain ("" for all). An entry of
// the file of that day and domain that does not parse is left out, its
// error (ErrBadKey) joined to the one returned.
func (s *FileStore) Counters(ctx context.Context, day Day, domain string) ([]Counter, error) {
	lerr := s.load()
	s.mu.Lock()
	defer s.mu.Unlock()
	errs := []error{lerr, s.corrupt}
	for _, b := range s.bad {
		if b.day == day.String() && (domain == "" || b.domain == domain) {
			errs = append(errs, b.err)
		}
	}
	return s.set.counters(day, domain), errors.Join(errs...)
}

// Pending gives the domains and days with counters before the day given.
// An entry of the file that does not parse counts for its day and domain
// when they are readable; when they are not, its error is returned.
func (s *FileStore) Pending(ctx context.Context, before Day) ([]DomainDay, error) {
	lerr := s.load()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.set.pending(before)
	errs := []error{lerr, s.corrupt}
	for _, b := range s.bad {
		day, err := ParseDay(b.day)
		if d, derr := normDomain(b.domain); err != nil || derr != nil || d != b.domain {
			errs = append(errs, b.err)
			continue
		}
		dd := DomainDay{Domain: b.domain, Day: day}
		if day.Before(before) && !slices.Contains(out, dd) {
			out = append(out, dd)
		}
	}
	return out, errors.Join(errs...)
}

// Delete removes the counters of day for domain ("" for all), entries
// that do not parse included, and has the file written before it returns.
// When that write fails, the counters are gone from memory but still in
// the file: the error says so, and a Delete again (or Close) writes it.
func (s *FileStore) Delete(ctx context.Context, day Day, domain string) error {
	if err := s.load(); err != nil {
		return err
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrStoreClosed
	}
	s.set.delete(day, domain)
	s.bad = slices.DeleteFunc(s.bad, func(b badEntry) bool {
		return b.day == day.String() && (domain == "" || b.domain == domain)
	})
	s.gen++
	s.mu.Unlock()
	if err := s.write(); err != nil {
		return fmt.Errorf("tlsrpt: counters of %s %s deleted in memory, still in the file: %w", day, domain, err)
	}
	return nil
}

// Close writes what the file does not hold yet, and stops the timer,
// waiting for a write under way. After Close, Add and Delete fail with
// ErrStoreClosed; Counters and Pending still answer. Close again is nil.
func (s *FileStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	if s.timer != nil && s.timer.Stop() {
		s.flushes.Done() // its flush will not run
	}
	s.timer = nil
	s.mu.Unlock()
	s.flushes.Wait()
	return s.write()
}

// snapCounter is a counter as a write takes it: its key, which never changes
// once in the set, and its count then.
type snapCounter struct {
	c  *Counter
	id string
	n  int64
}

// write writes the file with what the store holds, unless it holds it
// already. It never writes over a file it could not read.
func (s *FileStore) write() error {
	if err := s.load(); err != nil {
		return fmt.Errorf("%w: not written, so as to keep its counters", err)
	}
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	// The snapshot: references and counts under mu, which Adds and reads
	// take; the encoding and the disk come after it is released.
	s.mu.Lock()
	gen := s.gen
	if gen == s.written {
		s.mu.Unlock()
		return nil
	}
	snap := make([]snapCounter, 0, s.set.n)
	for _, doms := range s.set.days {
		for _, cs := range doms {
			for id, c := range cs {
				snap = append(snap, snapCounter{c, id, c.N})
			}
		}
	}
	bad := slices.Clone(s.bad)
	move := s.corrupt != nil && !s.moved
	s.mu.Unlock()
	if s.writing != nil {
		s.writing()
	}

	slices.SortFunc(snap, func(a, b snapCounter) int {
		x, y := a.c.Day, b.c.Day
		return cmp.Or(cmp.Compare(x.Year, y.Year), cmp.Compare(x.Month, y.Month), cmp.Compare(x.Day, y.Day),
			cmp.Compare(a.c.Policy.Domain, b.c.Policy.Domain), cmp.Compare(a.id, b.id))
	})
	var buf bytes.Buffer
	fmt.Fprintf(&buf, "{\"version\": %d, \"counters\": [", fileVersion)
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	for i, sc := range snap {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
		c := Counter{Key: sc.c.Key, N: sc.n} // not *sc.c: its N is the Adds'
		if err := enc.Encode(c.text()); err != nil {
			return fmt.Errorf("tlsrpt: encoding counter file: %w", err)
		}
		buf.Truncate(buf.Len() - 1) // Encode's newline
	}
	for i, b := range bad {
		if i > 0 || len(snap) > 0 {
			buf.WriteByte(',')
		}
		buf.WriteByte('\n')
		json.Compact(&buf, b.raw) // valid JSON: it was read as part of the file
	}
	buf.WriteString("\n]}\n")

	if move {
		if err := os.Rename(s.Path, s.Path+".corrupt"); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("tlsrpt: moving aside counter file that does not parse: %w", err)
		}
		s.mu.Lock()
		s.moved = true
		s.mu.Unlock()
	}
	if err := atomicfile.Write(s.Path, buf.Bytes()); err != nil {
		return fmt.Errorf("tlsrpt: writing counter file %q: %w", s.Path, err)
	}
	s.written = gen
	return nil
}
