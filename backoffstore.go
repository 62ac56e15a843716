package mxroute

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"net/netip"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/mxroute-go/mxroute/internal/atomicfile"
)

// defaultBackoffEntries bounds a MemoryBackoff or FileBackoff whose
// MaxEntries is 0.
const defaultBackoffEntries = 10000

// MemoryBackoff is a BackoffStore in memory, for the Dialers of one
// process. The zero value is ready to use.
type MemoryBackoff struct {
	// MaxEntries bounds the addresses kept. 0: 10,000. When a new address
	// finds it full, the address whose Retry is earliest goes: one whose
	// backoff has ended (or was forgotten) first, else the one that would
	// wait the least.
	MaxEntries int

	mu     sync.Mutex
	m      map[netip.AddrPort]BackoffState
	jitter func() int64 // tests; nil: random
}

func (s *MemoryBackoff) max() int {
	if s.MaxEntries > 0 {
		return s.MaxEntries
	}
	return defaultBackoffEntries
}

// drawJitter gives the k of BackoffState.next: random, or a test's.
func drawJitter(f func() int64) int64 {
	if f != nil {
		return f()
	}
	return rand.Int64N(jitterSteps)
}

// Get gives what is remembered of addr.
func (s *MemoryBackoff) Get(_ context.Context, addr netip.AddrPort) (BackoffState, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.m[addr], nil
}

// Fail records a failure of addr at at, evicting another address when the
// store is full.
func (s *MemoryBackoff) Fail(_ context.Context, addr netip.AddrPort, at time.Time, reason Failure) (BackoffState, error) {
	if err := checkAddr(addr); err != nil {
		return BackoffState{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.m[addr].next(at.UnixMilli(), reason, drawJitter(s.jitter))
	s.put(addr, st)
	return st, nil
}

func (s *MemoryBackoff) put(addr netip.AddrPort, st BackoffState) {
	if s.m == nil {
		s.m = make(map[netip.AddrPort]BackoffState)
	}
	if _, ok := s.m[addr]; !ok {
		for len(s.m) >= s.max() {
			s.evict()
		}
	}
	s.m[addr] = st
}

// evict drops the address whose Retry is earliest.
func (s *MemoryBackoff) evict() {
	var victim netip.AddrPort
	var first time.Time
	for a, st := range s.m {
		if !victim.IsValid() || st.Retry.Before(first) {
			victim, first = a, st.Retry
		}
	}
	delete(s.m, victim)
}

// Clear forgets addr.
func (s *MemoryBackoff) Clear(_ context.Context, addr netip.AddrPort) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, addr)
	return nil
}

// Entries lists every address remembered, by address.
func (s *MemoryBackoff) Entries(context.Context) ([]BackoffEntry, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.entries(), nil
}

func (s *MemoryBackoff) entries() []BackoffEntry {
	out := make([]BackoffEntry, 0, len(s.m))
	for a, st := range s.m {
		out = append(out, BackoffEntry{Addr: a, BackoffState: st})
	}
	slices.SortFunc(out, func(a, b BackoffEntry) int { return a.Addr.Compare(b.Addr) })
	return out
}

// FileBackoff is a BackoffStore kept in one JSON file, so that what a
// process learned survives its restart. The file is read on first use;
// each Fail and Clear rewrites it whole, atomically (a temporary file in the
// same directory, synced, renamed over it), outside the lock that Get
// takes: no Get waits for a write. An entry of the file that does not parse
// is left out, its error returned by the call that read the file, and the
// others are kept; a file that is no JSON of this format is renamed to
// Path+".corrupt" and the store starts empty. One process should use a
// file; a fleet shares a SQLBackoff. Path is required.
type FileBackoff struct {
	// Path is the file.
	Path string
	// MaxEntries bounds the addresses kept, as MemoryBackoff's. 0: 10,000.
	MaxEntries int

	mu     sync.Mutex // guards loaded, and the load itself
	loaded bool
	mem    MemoryBackoff
	wmu    sync.Mutex // one writer of the file at a time
}

// backoffFile is the file's JSON.
type backoffFile struct {
	Version int                `json:"version"`
	Entries []backoffFileEntry `json:"entries"`
}

type backoffFileEntry struct {
	Addr     string    `json:"addr"`
	Failures int       `json:"failures"`
	First    time.Time `json:"first"`
	Last     time.Time `json:"last"`
	Retry    time.Time `json:"retry"`
	Reason   string    `json:"reason"`
}

const backoffFileVersion = 1

// load reads the file on first use. A read error leaves the store unloaded
// (answering from memory) and is returned; entries that do not parse are
// left out, their errors returned once.
func (s *FileBackoff) load() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.loaded {
		return nil
	}
	if s.Path == "" {
		return errors.New("mxroute: FileBackoff has no Path")
	}
	s.mem.mu.Lock()
	s.mem.MaxEntries = s.MaxEntries
	s.mem.mu.Unlock()
	b, err := os.ReadFile(s.Path)
	if errors.Is(err, fs.ErrNotExist) {
		s.loaded = true
		return nil
	}
	if err != nil {
		return fmt.Errorf("mxroute: reading backoff file: %w", err)
	}
	var f backoffFile
	if err := json.Unmarshal(b, &f); err != nil || f.Version != backoffFileVersion {
		if err == nil {
			err = fmt.Errorf("version %d", f.Version)
		}
		if rerr := os.Rename(s.Path, s.Path+".corrupt"); rerr != nil {
			return fmt.Errorf("mxroute: backoff file %q does not parse (%v) and cannot be moved aside: %w", s.Path, err, rerr)
		}
		s.loaded = true
		return fmt.Errorf("%w: backoff file %q does not parse (%v): moved to %s.corrupt", ErrBadBackoff, s.Path, err, s.Path)
	}
	var errs []error
	s.mem.mu.Lock()
	defer s.mem.mu.Unlock()
	for _, fe := range f.Entries {
		addr, st, err := fe.parse()
		if err != nil {
			errs = append(errs, fmt.Errorf("backoff file %q, entry %q: %w", s.Path, fe.Addr, err))
			continue
		}
		if have, ok := s.mem.m[addr]; ok && !have.Last.Before(st.Last) {
			continue // failed since, while the file could not be read: newer
		}
		s.mem.put(addr, st)
	}
	s.loaded = true
	return errors.Join(errs...)
}

func (fe backoffFileEntry) parse() (netip.AddrPort, BackoffState, error) {
	addr, err := netip.ParseAddrPort(fe.Addr)
	if err == nil {
		err = checkAddr(addr)
	} else {
		err = fmt.Errorf("%w: address %q", ErrBadBackoff, fe.Addr)
	}
	if err != nil {
		return addr, BackoffState{}, err
	}
	reason, ok := parseFailure(fe.Reason)
	if !ok {
		return addr, BackoffState{}, fmt.Errorf("%w: reason %q", ErrBadBackoff, fe.Reason)
	}
	st := BackoffState{Failures: fe.Failures, First: fe.First.UTC(), Last: fe.Last.UTC(), Retry: fe.Retry.UTC(), Reason: reason}
	return addr, st, st.check()
}

// Get gives what is remembered of addr, reading the file on first use.
func (s *FileBackoff) Get(ctx context.Context, addr netip.AddrPort) (BackoffState, error) {
	lerr := s.load()
	st, _ := s.mem.Get(ctx, addr)
	return st, lerr
}

// Fail records a failure of addr at at and rewrites the file.
func (s *FileBackoff) Fail(ctx context.Context, addr netip.AddrPort, at time.Time, reason Failure) (BackoffState, error) {
	lerr := s.load()
	st, err := s.mem.Fail(ctx, addr, at, reason)
	if err != nil {
		return st, err
	}
	return st, s.save(lerr)
}

// Clear forgets addr and rewrites the file.
func (s *FileBackoff) Clear(ctx context.Context, addr netip.AddrPort) error {
	lerr := s.load()
	_ = s.mem.Clear(ctx, addr)
	return s.save(lerr)
}

// Entries lists every address remembered, by address, reading the file on
// first use.
func (s *FileBackoff) Entries(ctx context.Context) ([]BackoffEntry, error) {
	lerr := s.load()
	es, _ := s.mem.Entries(ctx)
	return es, lerr
}

// save rewrites the file with what the store holds now. lerr is the
// error of this call's load: while the file could not be read, it is not
// written (that would drop what it holds), and lerr is returned.
func (s *FileBackoff) save(lerr error) error {
	s.mu.Lock()
	loaded := s.loaded
	s.mu.Unlock()
	if !loaded {
		return lerr
	}
	s.wmu.Lock()
	defer s.wmu.Unlock()
	// The snapshot is taken once this writer has the file: each write
	// holds every change made before it began.
	s.mem.mu.Lock()
	es := s.mem.entries()
	s.mem.mu.Unlock()
	f := backoffFile{Version: backoffFileVersion, Entries: make([]backoffFileEntry, 0, len(es))}
	for _, e := range es {
		f.Entries = append(f.Entries, backoffFileEntry{Addr: e.Addr.String(), Failures: e.Failures,
			First: e.First, Last: e.Last, Retry: e.Retry, Reason: e.Reason.String()})
	}
	b, err := json.MarshalIndent(f, "", "\t")
	if err != nil {
		return fmt.Errorf("mxroute: encoding backoff file: %w", err)
	}
	if err := atomicfile.Write(s.Path, b); err != nil {
		return fmt.Errorf("mxroute: writing backoff file %q: %w", s.Path, err)
	}
	return lerr
}
