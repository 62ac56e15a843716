package mtasts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// lookupEnv is a Client against the policy server and a fake TXT resolver,
// in a synctest bubble: time.Sleep moves the clock.
type lookupEnv struct {
	ps  *policyServer
	txt *fakeTXT
	c   *Client
}

// newLookupEnv must be called in the bubble of synctest.Test.
func newLookupEnv(t *testing.T, store Store) *lookupEnv {
	ps, f := newBubblePolicyServer(t)
	e := &lookupEnv{ps: ps, txt: &fakeTXT{}}
	e.c = &Client{TXT: e.txt.lookup, Fetcher: f, Store: store}
	return e
}

// step is one Lookup and what it must give.
type step struct {
	reason   string
	before   func(*lookupEnv) // changes the world first
	status   Status
	mx       string // a host the policy must match; "" = no policy
	id       string // the policy's ID when not ""
	fetches  int64  // requests the server has seen in all after the step
	errIs    error  // err must match; nil = err must be nil
	anyError bool   // err must be non-nil, whatever it is
}

func (e *lookupEnv) run(t *testing.T, domain string, steps []step) {
	t.Helper()
	for i, s := range steps {
		if s.before != nil {
			s.before(e)
		}
		p, st, err := e.c.Lookup(context.Background(), domain)
		where := func() string { return s.reason }
		if st != s.status {
			t.Fatalf("step %d: %s: status %s, want %s (err %v)", i, where(), st, s.status, err)
		}
		switch {
		case s.mx == "" && p != nil:
			t.Fatalf("step %d: %s: got policy %+v, want none", i, where(), p)
		case s.mx != "" && (p == nil || !p.Match(s.mx)):
			t.Fatalf("step %d: %s: policy %+v does not match %s", i, where(), p, s.mx)
		}
		if s.id != "" && p.ID != s.id {
			t.Fatalf("step %d: %s: policy id %q, want %q", i, where(), p.ID, s.id)
		}
		if n := e.ps.requests.Load(); n != s.fetches {
			t.Fatalf("step %d: %s: %d fetches in all, want %d", i, where(), n, s.fetches)
		}
		switch {
		case s.errIs != nil && !errors.Is(err, s.errIs):
			t.Fatalf("step %d: %s: err %v, want %v", i, where(), err, s.errIs)
		case s.errIs == nil && !s.anyError && err != nil:
			t.Fatalf("step %d: %s: err %v", i, where(), err)
		case s.anyError && err == nil:
			t.Fatalf("step %d: %s: no error", i, where())
		}
	}
}

const dom = "a.example"

func serveMX(mx string, maxAge int) func(*lookupEnv) {
	return func(e *lookupEnv) { e.ps.serve(dom, policy(policyText(ModeEnforce, maxAge, mx))) }
}

func txt(s ...string) func(*lookupEnv) {
	return func(e *lookupEnv) { e.txt.set("_mta-sts."+dom, s...) }
}

func both(fs ...func(*lookupEnv)) func(*lookupEnv) {
	return func(e *lookupEnv) {
		for _, f := range fs {
			f(e)
		}
	}
}

func later(d time.Duration) func(*lookupEnv) { return func(*lookupEnv) { time.Sleep(d) } }

func failHTTP(e *lookupEnv) {
	e.ps.serve(dom, func(w http.ResponseWriter, r *http.Request) { http.Error(w, "down", http.StatusServiceUnavailable) })
}

// TestLookupCycle walks one domain through the life of a policy (RFC 8461,
// Sections 3.3 and 5.1): discovery, the cached policy that costs no fetch,
// a policy change, a fetch failure and a vanished record while the cache is
// valid (the anti-downgrade rule), expiry, refresh.
func TestLookupCycle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLookupEnv(t, nil)
		e.run(t, dom, []step{
			{reason: "no TXT record, nothing cached: no MTA-STS, no fetch", status: StatusNone},
			{reason: "a record appears: the policy is fetched (Section 3.3)", before: both(txt("v=STSv1; id=one"), serveMX("mx1.a.example", 86400)),
				status: StatusFetched, mx: "mx1.a.example", id: "one", fetches: 1},
			{reason: "same id, cached: no fetch, only the TXT question", before: later(time.Hour), status: StatusCached, mx: "mx1.a.example", id: "one", fetches: 1},
			{reason: "a new id: the policy is fetched anew (Section 3.1)", before: both(txt("v=STSv1; id=two"), serveMX("mx2.a.example", 86400)),
				status: StatusFetched, mx: "mx2.a.example", fetches: 2},
			{reason: "the new policy is cached under the new id", status: StatusCached, mx: "mx2.a.example", fetches: 2},
			{reason: "new id, fetch fails: the cached policy stays in force (Section 3.3), with its own id", before: both(txt("v=STSv1; id=three"), failHTTP),
				status: StatusKept, mx: "mx2.a.example", id: "two", fetches: 3, errIs: FetchError},
			{reason: "right after a failed fetch, no new fetch yet (RetryAfter)", before: later(time.Minute), status: StatusKept, mx: "mx2.a.example", fetches: 3, errIs: FetchError},
			{reason: "after a restart of the Client (memory of failures lost, the Store kept), the fetch is tried", before: func(e *lookupEnv) {
				e.c = &Client{TXT: e.c.TXT, Fetcher: e.c.Fetcher, Store: e.c.getStore()}
			}, status: StatusKept, mx: "mx2.a.example", fetches: 4, errIs: FetchError},
			{reason: "after RetryAfter the fetch is tried again and succeeds", before: both(later(5*time.Minute), serveMX("mx3.a.example", 86400)),
				status: StatusFetched, mx: "mx3.a.example", id: "three", fetches: 5},
			{reason: "the TXT record vanishes while the cache is valid: the policy stays (Section 3.3)", before: both(later(time.Hour), txt()),
				status: StatusKept, mx: "mx3.a.example", fetches: 5, errIs: ErrNoRecord},
			{reason: "the TXT lookup fails: the policy stays", before: func(e *lookupEnv) { e.txt.fail("_mta-sts."+dom, errors.New("SERVFAIL")) },
				status: StatusKept, mx: "mx3.a.example", fetches: 5, errIs: ErrDNS},
			{reason: "two records: no live policy, the cached one stays", before: txt("v=STSv1; id=three", "v=STSv1; id=four"),
				status: StatusKept, mx: "mx3.a.example", fetches: 5, errIs: ErrMultipleRecords},
			{reason: "max_age over, no record: nothing applies any more", before: both(later(24*time.Hour), txt()), status: StatusNone, fetches: 5},
		})
	})
}

func TestLookupRefreshAndExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLookupEnv(t, nil)
		e.run(t, dom, []step{
			{reason: "first fetch", before: both(txt("v=STSv1; id=one"), serveMX("mx1.a.example", 7*86400)), status: StatusFetched, mx: "mx1.a.example", fetches: 1},
			{reason: "23 hours later: cached", before: later(23 * time.Hour), status: StatusCached, mx: "mx1.a.example", fetches: 1},
			{reason: "a day old: refreshed although the id is the same (Section 3.3: refresh daily)", before: both(later(time.Hour), serveMX("mx9.a.example", 7*86400)),
				status: StatusFetched, mx: "mx9.a.example", fetches: 2},
			{reason: "refresh due, fetch fails: kept", before: both(later(25*time.Hour), failHTTP), status: StatusKept, mx: "mx9.a.example", fetches: 3, errIs: FetchError},
			{reason: "expired with the fetch still failing: no policy, the failure reported", before: later(7 * 24 * time.Hour), status: StatusFailed, fetches: 4, errIs: FetchError},
		})
	})
}

// TestLookupRefreshBeforeExpiry: a policy of max_age 86400 (a common
// value) is refreshed while still valid (RFC 8461, Section 3.3: "MTAs
// SHOULD proactively refresh cached policies before they expire"), so an
// attacker who blocks the fetch when the first copy would have expired
// meets a policy still in force. Before, the refresh came at RefreshAfter
// (24 h), the moment the policy expired: the blocked fetch left no policy.
func TestLookupRefreshBeforeExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLookupEnv(t, nil)
		e.run(t, dom, []step{
			{reason: "first fetch", before: both(txt("v=STSv1; id=one"), serveMX("mx1.a.example", 86400)), status: StatusFetched, mx: "mx1.a.example", fetches: 1},
			{reason: "11 hours later: cached", before: later(11 * time.Hour), status: StatusCached, mx: "mx1.a.example", fetches: 1},
			{reason: "13 hours old, past half its max_age: refreshed while valid", before: both(later(2*time.Hour), serveMX("mx2.a.example", 86400)),
				status: StatusFetched, mx: "mx2.a.example", fetches: 2},
			{reason: "the attacker blocks the fetch after the first copy's expiry (26 h): the refreshed copy is in force", before: both(later(13*time.Hour), failHTTP),
				status: StatusKept, mx: "mx2.a.example", fetches: 3, errIs: FetchError},
			{reason: "a short max_age is refreshed at half of it too", before: both(later(time.Hour), txt("v=STSv1; id=two"), serveMX("mx3.a.example", 600)),
				status: StatusFetched, mx: "mx3.a.example", fetches: 4},
			{reason: "299 s later: cached", before: later(299 * time.Second), status: StatusCached, mx: "mx3.a.example", fetches: 4},
			{reason: "300 s old: refreshed", before: later(time.Second), status: StatusFetched, mx: "mx3.a.example", fetches: 5},
		})
	})
}

func TestLookupFailures(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLookupEnv(t, nil)
		e.run(t, dom, []step{
			{reason: "TXT lookup fails, nothing cached: no policy, deliver as without MTA-STS", before: func(e *lookupEnv) { e.txt.fail("_mta-sts."+dom, errors.New("timeout")) },
				status: StatusFailed, errIs: ErrDNS},
			{reason: "malformed record: no policy", before: txt("v=STSv1; id=bad-id"), status: StatusFailed, errIs: ErrRecordSyntax},
			{reason: "record, but the policy is invalid: sts-policy-invalid, nothing cached", before: both(txt("v=STSv1; id=x"), func(e *lookupEnv) { e.ps.serve(dom, policy("mode: enforce")) }),
				status: StatusFailed, fetches: 1, errIs: PolicyInvalid},
			{reason: "within RetryAfter the failure is repeated without a fetch: a dead policy host costs no delivery a timeout", before: later(time.Minute),
				status: StatusFailed, fetches: 1, errIs: PolicyInvalid},
			{reason: "after RetryAfter the fetch is tried again", before: later(5 * time.Minute), status: StatusFailed, fetches: 2, errIs: PolicyInvalid},
			{reason: "a new id is fetched at once, whatever failed before", before: both(txt("v=STSv1; id=y"), serveMX("mx.a.example", 600)),
				status: StatusFetched, mx: "mx.a.example", id: "y", fetches: 3},
		})
	})
}

// TestLookupModeNone: a policy in mode none is a policy (it is how a domain
// withdraws MTA-STS, Section 8.3), and it replaces an enforce policy.
func TestLookupModeNone(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLookupEnv(t, nil)
		txt("v=STSv1; id=one")(e)
		serveMX("mx.a.example", 86400)(e)
		if p, st, err := e.c.Lookup(context.Background(), dom); err != nil || st != StatusFetched || p.Mode != ModeEnforce {
			t.Fatalf("enforce: %v %s %v", p, st, err)
		}
		txt("v=STSv1; id=two")(e)
		e.ps.serve(dom, policy(policyText(ModeNone, 86400)))
		p, st, err := e.c.Lookup(context.Background(), "A.Example.")
		if err != nil || st != StatusFetched || p.Mode != ModeNone {
			t.Fatalf("none: %v %s %v", p, st, err)
		}
	})
}

// TestFileStoreRestart: a policy cached by one process is in force for the
// next (a new FileStore on the same file) while the attacker blocks both
// the TXT record and the fetch.
func TestFileStoreRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "mta-sts.json")
		e := newLookupEnv(t, &FileStore{Path: path})
		txt("v=STSv1; id=one")(e)
		serveMX("mx.a.example", 86400)(e)
		if _, st, err := e.c.Lookup(context.Background(), dom); err != nil || st != StatusFetched {
			t.Fatalf("first run: %s %v", st, err)
		}

		// "Restart": a new Client and a new FileStore on the same file.
		e.c = &Client{TXT: e.txt.lookup, Fetcher: e.c.Fetcher, Store: &FileStore{Path: path}}
		e.run(t, dom, []step{
			{reason: "after the restart, same id: the cached policy, no fetch", before: later(time.Hour), status: StatusCached, mx: "mx.a.example", id: "one", fetches: 1},
		})
		e.c = &Client{TXT: e.txt.lookup, Fetcher: e.c.Fetcher, Store: &FileStore{Path: path}}
		e.run(t, dom, []step{
			{reason: "after another restart with the TXT record and the policy host blocked: the cached policy applies",
				before: both(txt(), failHTTP), status: StatusKept, mx: "mx.a.example", fetches: 1, errIs: ErrNoRecord},
			{reason: "with the record back and the fetch failing: kept, the failure reported", before: txt("v=STSv1; id=two"),
				status: StatusKept, mx: "mx.a.example", fetches: 2, errIs: FetchError},
		})
		ents, err := os.ReadDir(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if len(ents) != 1 || ents[0].Name() != "mta-sts.json" {
			var names []string
			for _, d := range ents {
				names = append(names, d.Name())
			}
			t.Fatalf("directory holds %q: a temporary file was left", names)
		}
	})
}

func TestFileStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		dir := t.TempDir()
		path := filepath.Join(dir, "cache.json")
		now := time.Now()
		pol := func(maxAge int) *Policy {
			p, err := ParsePolicy([]byte(policyText(ModeTesting, maxAge, "mx.example.com", "*.example.net") + "ext: kept value\r\n"))
			if err != nil {
				t.Fatal(err)
			}
			return p
		}
		s := &FileStore{Path: path, MaxEntries: 2}
		for i, d := range []string{"a.example", "b.example", "c.example"} {
			if err := s.Put(ctx, d, Entry{Policy: pol(1000 * (i + 1)), ID: "id" + itoa(i), Fetched: now}); err != nil {
				t.Fatal(err)
			}
		}
		s.Put(ctx, "gone.example", Entry{Policy: pol(10), ID: "x", Fetched: now.Add(-time.Hour)})

		again := &FileStore{Path: path, MaxEntries: 2}
		if _, ok, _ := again.Get(ctx, "a.example"); ok {
			t.Error("MaxEntries 2: the least recently used entry was evicted")
		}
		if _, ok, _ := again.Get(ctx, "gone.example"); ok {
			t.Error("an expired entry is not written")
		}
		e, ok, err := again.Get(ctx, "C.Example.")
		if err != nil || !ok || e.ID != "id2" || !e.Fetched.Equal(now) || e.Policy.String() != pol(3000).String() {
			t.Fatalf("read back: %+v %v %v", e, ok, err)
		}

		// A corrupt file is moved aside and the store starts empty.
		if err := os.WriteFile(path, []byte("{not json"), 0o600); err != nil {
			t.Fatal(err)
		}
		fresh := &FileStore{Path: path}
		if _, ok, err := fresh.Get(ctx, "c.example"); ok || err != nil {
			t.Fatalf("corrupt file: %v %v", ok, err)
		}
		if b, err := os.ReadFile(path + ".corrupt"); err != nil || !strings.HasPrefix(string(b), "{not") {
			t.Fatalf("the corrupt file is kept aside: %q %v", b, err)
		}
		if err := fresh.Put(ctx, "d.example", Entry{Policy: pol(100), ID: "d", Fetched: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if _, _, err := (&FileStore{}).Get(ctx, "x"); err == nil {
			t.Error("a FileStore without Path is an error")
		}
	})
}

// TestFileStoreReadsDuringWrite: while a Put's write of the file is held
// up (a slow disk, a large file), Gets answer at once, the Put's own entry
// included, and another Put changes memory at once too; the writes then
// run one after the other, and the file holds every entry. Before, Put
// held the store's only lock while it encoded and wrote the file, so a
// route's Get waited up to a second behind it with a few hundred large
// policies (BenchmarkFileStoreGetBehindPut).
func TestFileStoreReadsDuringWrite(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.json")
	p, err := ParsePolicy([]byte(policyText(ModeEnforce, 86400, "mx.example.com")))
	if err != nil {
		t.Fatal(err)
	}
	entry := func(id string) Entry { return Entry{Policy: p, ID: id, Fetched: time.Now()} }
	s := &FileStore{Path: path}
	if err := s.Put(ctx, "a.example", entry("a")); err != nil {
		t.Fatal(err)
	}
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.writing = func() {
		once.Do(func() {
			close(entered)
			<-release
		})
	}
	putDone := make(chan error, 2)
	go func() { putDone <- s.Put(ctx, "b.example", entry("b")) }()
	<-entered // a write is under way, and held

	within := func(what string, f func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); f() }()
		select {
		case <-done:
		case <-time.After(10 * time.Second): // a deadlock detector, not a timing
			close(release)
			t.Fatalf("%s waited behind the write of the file", what)
		}
	}
	for _, d := range []string{"a.example", "b.example"} {
		within("Get "+d, func() {
			if e, ok, err := s.Get(ctx, d); !ok || err != nil || e.ID != d[:1] {
				t.Errorf("Get %s during a write: %+v %v %v", d, e, ok, err)
			}
		})
	}
	go func() { putDone <- s.Put(ctx, "c.example", entry("c")) }()
	within("Get of an entry put during the write", func() {
		for {
			if _, ok, _ := s.Get(ctx, "c.example"); ok {
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	close(release)
	for range 2 {
		if err := <-putDone; err != nil {
			t.Fatal(err)
		}
	}
	again := &FileStore{Path: path}
	for _, d := range []string{"a.example", "b.example", "c.example"} {
		if _, ok, err := again.Get(ctx, d); !ok || err != nil {
			t.Errorf("%s not in the file: %v %v", d, ok, err)
		}
	}
}

// TestFileStoreSkipsBadEntries: an entry of the file that does not parse
// is skipped, the others are read, and the first Get says which were
// skipped. Before, one entry whose JSON did not fit (a "fetched" that is
// no time) made the whole file corrupt, every policy lost, and a policy
// text that did not parse was dropped without a word.
func TestFileStoreSkipsBadEntries(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "cache.json")
	now := time.Now()
	good := policyText(ModeEnforce, 86400, "mx.example.com")
	entries := map[string]any{
		"good.example":      map[string]any{"id": "g", "fetched": now.Add(-time.Hour), "policy": good},
		"also.example":      map[string]any{"id": "h", "fetched": now.Add(-time.Hour), "policy": good},
		"badtime.example":   map[string]any{"id": "x", "fetched": "yesterday", "policy": good},
		"badtype.example":   []int{1, 2},
		"badpolicy.example": map[string]any{"id": "x", "fetched": now, "policy": "mode: sometimes"},
		"bad domain/x":      map[string]any{"id": "x", "fetched": now, "policy": good},
		"expired.example":   map[string]any{"id": "x", "fetched": now.Add(-48 * time.Hour), "policy": good},
	}
	b, err := json.Marshal(map[string]any{"version": 1, "entries": entries})
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	s := &FileStore{Path: path}
	e, ok, err := s.Get(ctx, "good.example")
	if !ok || e.ID != "g" {
		t.Fatalf("the good entry: %+v %v %v", e, ok, err)
	}
	for _, d := range []string{"badtime.example", "badtype.example", "badpolicy.example", "bad domain/x"} {
		if err == nil || !strings.Contains(err.Error(), strconv.Quote(d)) {
			t.Errorf("the error does not name %q: %v", d, err)
		}
	}
	if err != nil && strings.Contains(err.Error(), "expired.example") {
		t.Errorf("an expired entry is no error: %v", err)
	}
	if e, ok, err := s.Get(ctx, "also.example"); !ok || e.ID != "h" || err != nil {
		t.Errorf("the other good entry, and the error said once: %+v %v %v", e, ok, err)
	}
	if _, err := os.Stat(path + ".corrupt"); err == nil {
		t.Error("the file was moved aside")
	}
}

// TestFileStoreOldFailedKey: a file written when entries carried a "failed"
// time (failures now live in the Client) still loads: the key is ignored.
func TestFileStoreOldFailedKey(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		path := filepath.Join(t.TempDir(), "cache.json")
		now := time.Now()
		text := policyText(ModeEnforce, 86400, "mx.example.com")
		b, err := json.Marshal(map[string]any{"version": 1, "entries": map[string]any{"a.example": map[string]any{
			"id": "old", "fetched": now.Add(-time.Hour), "failed": now.Add(-time.Minute), "policy": text}}})
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		e, ok, err := (&FileStore{Path: path}).Get(ctx, "a.example")
		if err != nil || !ok || e.ID != "old" || e.Policy == nil || e.Policy.Mode != ModeEnforce {
			t.Fatalf("old file: %+v %v %v", e, ok, err)
		}
	})
}

// TestMemoryStoreEviction: when full, a store evicts expired entries, then
// policies in mode none or testing, then the least recently used; never by
// expiry. Before, the entry that expired soonest went first: an attacker's
// policies of a year's max_age evicted a victim's one-day enforce policy
// in active use, and the next delivery to the victim, its fetch blocked,
// went without MTA-STS (RFC 8461, Section 10.2).
func TestMemoryStoreEviction(t *testing.T) {
	testEviction(t, func(t *testing.T, max int) (Store, func() []string) {
		s := &MemoryStore{MaxEntries: max}
		return s, func() []string { return slices.Collect(maps.Keys(s.m)) }
	})
}

// testEviction runs the cases of eviction against the stores newStore
// makes (in the bubble of synctest.Test), bounded to max entries, with the
// domains each holds. Two minutes pass before each step, so that every
// use is later than the one before, to the minute as SQLStore records it.
func testEviction(t *testing.T, newStore func(t *testing.T, max int) (Store, func() []string)) {
	ctx := context.Background()
	pol := func(mode Mode, maxAge time.Duration) *Policy {
		return &Policy{Mode: mode, MX: []Pattern{{Domain: "mx.example"}}, MaxAge: maxAge}
	}
	day, year := 24*time.Hour, 365*24*time.Hour
	type op struct {
		put    string // domain to put, with policy; "" : get
		policy *Policy
		get    string
		sleep  time.Duration
	}
	put := func(d string, p *Policy) op { return op{put: d, policy: p} }
	get := func(d string) op { return op{get: d} }
	tests := []struct {
		name   string
		reason string
		ops    []op
		want   []string // the domains kept, in any order
	}{
		{"attack", "a victim's one-day enforce policy in use outlives a flood of one-year policies",
			[]op{put("victim", pol(ModeEnforce, day)),
				put("evil1", pol(ModeEnforce, year)), get("victim"), put("evil2", pol(ModeEnforce, year)), get("victim"),
				put("evil3", pol(ModeEnforce, year)), get("victim"), put("evil4", pol(ModeEnforce, year)), get("victim"),
				put("evil5", pol(ModeEnforce, year))},
			[]string{"victim", "evil4", "evil5"}},
		{"expired first", "an expired entry goes first, however recently used, and alone when that makes room",
			[]op{put("b", pol(ModeEnforce, day)), put("c", pol(ModeEnforce, day)), put("short", pol(ModeEnforce, time.Minute)),
				{sleep: time.Hour}, get("short"), put("d", pol(ModeEnforce, day))},
			[]string{"b", "c", "d"}},
		{"none and testing", "mode none and testing go before enforce, the least recently used of them first",
			[]op{put("enforce", pol(ModeEnforce, day)), put("testing", pol(ModeTesting, year)), put("none", pol(ModeNone, year)),
				get("testing"), put("d", pol(ModeEnforce, day))},
			[]string{"enforce", "testing", "d"}},
		{"least recently used", "among equals the least recently used goes",
			[]op{put("a", pol(ModeEnforce, day)), put("b", pol(ModeEnforce, day)), put("c", pol(ModeEnforce, day)),
				get("a"), put("d", pol(ModeEnforce, day))},
			[]string{"a", "c", "d"}},
		{"new testing kept", "the entry just put stays, even in mode testing: else it is fetched on every delivery",
			[]op{put("a", pol(ModeEnforce, day)), put("b", pol(ModeEnforce, day)), put("c", pol(ModeEnforce, day)),
				put("t", pol(ModeTesting, day))},
			[]string{"b", "c", "t"}},
		{"replace", "a new policy for a domain held replaces it, evicting none",
			[]op{put("a", pol(ModeEnforce, day)), put("b", pol(ModeEnforce, day)), put("c", pol(ModeEnforce, day)),
				put("a", pol(ModeTesting, day))},
			[]string{"a", "b", "c"}},
		{"expired put", "an entry expired when put is not kept",
			[]op{put("gone", pol(ModeEnforce, 0)), put("a", pol(ModeEnforce, day))},
			[]string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				s, held := newStore(t, 3)
				for _, o := range tt.ops {
					time.Sleep(2*time.Minute + o.sleep)
					if o.put != "" {
						if err := s.Put(ctx, o.put, Entry{Policy: o.policy, Fetched: time.Now()}); err != nil {
							t.Fatal(err)
						}
					}
					if o.get != "" {
						if _, _, err := s.Get(ctx, o.get); err != nil {
							t.Fatal(err)
						}
					}
					settle(s)
				}
				got := held()
				slices.Sort(got)
				want := slices.Sorted(slices.Values(tt.want))
				if !slices.Equal(got, want) {
					t.Errorf("kept %q, want %q: %s", got, want, tt.reason)
				}
			})
		})
	}
}

// settle waits until what s does after a call returns is done: the uses
// an SQLStore writes after its Gets.
func settle(s Store) {
	if ss, ok := s.(*SQLStore); ok {
		ss.touches.Wait()
	}
}

// TestMemoryStoreMaxBytes: the store is bounded in bytes as well as in
// entries, by the same order of eviction: a flood of an attacker's 64 KiB
// policies stays within MaxBytes and leaves the victim's small policy in
// use. Before, only MaxEntries bounded it: 10,000 such policies (mail to
// as many of the attacker's domains) held 640 MiB.
func TestMemoryStoreMaxBytes(t *testing.T) {
	ctx := context.Background()
	var body strings.Builder
	body.WriteString(policyText(ModeEnforce, 31557600, "mx.evil.example"))
	for body.Len() < 64<<10-10 {
		body.WriteString("x: y\r\n")
	}
	big, err := ParsePolicy([]byte(body.String()))
	if err != nil {
		t.Fatal(err)
	}
	small := &Policy{Mode: ModeEnforce, MX: []Pattern{{Domain: "mx.victim.example"}}, MaxAge: 24 * time.Hour}
	s := &MemoryStore{MaxBytes: 200 << 10}
	s.Put(ctx, "victim.example", Entry{Policy: small, Fetched: time.Now()})
	for i := range 20 {
		s.Put(ctx, "evil"+itoa(i)+".example", Entry{Policy: big, Fetched: time.Now()})
		if _, ok, _ := s.Get(ctx, "victim.example"); !ok {
			t.Fatalf("after %d of the attacker's policies the victim's is gone", i+1)
		}
		if s.bytes > s.MaxBytes {
			t.Fatalf("after %d of the attacker's policies: %d bytes, over MaxBytes %d", i+1, s.bytes, s.MaxBytes)
		}
	}
	bigSize := Entry{Policy: big}.size("evil10.example")
	if n, want := len(s.m), 1+int((s.MaxBytes-s.m["victim.example"].size)/bigSize); n != want {
		t.Errorf("%d entries, want the victim's and as many of the attacker's as fit: %d", n, want)
	}

	one := &MemoryStore{MaxBytes: 1000}
	one.Put(ctx, "evil.example", Entry{Policy: big, Fetched: time.Now()})
	if _, ok, _ := one.Get(ctx, "evil.example"); !ok {
		t.Error("a policy larger than MaxBytes is still kept, alone: else it would be fetched on every delivery")
	}
}

// TestLookupEvictionAttack: the attack of TestMemoryStoreEviction through
// Lookup: mail to the attacker's domains, each with a policy of a year's
// max_age, between deliveries to the victim, then the victim's record and
// policy host blocked: the victim's policy is still in force.
func TestLookupEvictionAttack(t *testing.T) {
	testLookupEvictionAttack(t, func(*testing.T) Store { return &MemoryStore{MaxEntries: 2} })
}

// testLookupEvictionAttack runs the attack against the store newStore
// makes (in the bubble of synctest.Test), which must hold two entries.
func testLookupEvictionAttack(t *testing.T, newStore func(*testing.T) Store) {
	synctest.Test(t, func(t *testing.T) {
		e := newLookupEnv(t, newStore(t))
		const victim = "a.example"
		e.txt.set("_mta-sts."+victim, "v=STSv1; id=one")
		e.ps.serve(victim, policy(policyText(ModeEnforce, 86400, "mx.a.example")))
		lookup := func(d string, want Status) {
			t.Helper()
			if _, st, err := e.c.Lookup(context.Background(), d); st != want {
				t.Fatalf("%s: %s, want %s (%v)", d, st, want, err)
			}
			settle(e.c.Store)
		}
		lookup(victim, StatusFetched)
		for _, d := range []string{"b.example", "c.example", "d.example"} {
			e.txt.set("_mta-sts."+d, "v=STSv1; id=evil")
			e.ps.serve(d, policy(policyText(ModeEnforce, 31557600, "mx."+d)))
			time.Sleep(time.Minute)
			lookup(d, StatusFetched)
			time.Sleep(time.Minute)
			lookup(victim, StatusCached)
		}
		e.txt.set("_mta-sts." + victim)
		failHTTP(e)
		p, st, _ := e.c.Lookup(context.Background(), victim)
		if st != StatusKept || p == nil || !p.Match("mx.a.example") {
			t.Fatalf("the victim's policy was evicted: %v %s", p, st)
		}
	})
}

// TestLookupConcurrent: many goroutines looking up the same and other
// domains at once, under -race, all get the policy.
func TestLookupConcurrent(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLookupEnv(t, nil)
		domains := []string{"a.example", "b.example", "c.example"}
		for _, d := range domains {
			e.txt.set("_mta-sts."+d, "v=STSv1; id=x")
			e.ps.serve(d, policy(policyText(ModeEnforce, 3600, "mx."+d)))
		}
		var wg sync.WaitGroup
		errs := make(chan error, 30)
		for i := range 30 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				d := domains[i%len(domains)]
				p, st, err := e.c.Lookup(context.Background(), d)
				if err != nil || p == nil || !p.Match("mx."+d) || (st != StatusFetched && st != StatusCached) {
					errs <- fmt.Errorf("%s: %v %s %v", d, p, st, err)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
		if n := e.ps.requests.Load(); n < 3 || n > 30 {
			t.Errorf("%d fetches", n)
		}
	})
}

// TestLookupCancelled: a fetch cut short by the caller's context is not a
// failure of the policy host: the next lookup fetches at once.
func TestLookupCancelled(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLookupEnv(t, nil)
		txt("v=STSv1; id=one")(e)
		// The first request gets no answer before the caller leaves.
		e.ps.serve(dom, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if p, st, err := e.c.Lookup(ctx, dom); p != nil || st != StatusFailed || !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled: %v %s %v", p, st, err)
		}
		serveMX("mx.a.example", 600)(e)
		if p, st, err := e.c.Lookup(context.Background(), dom); err != nil || st != StatusFetched || !p.Match("mx.a.example") {
			t.Fatalf("next lookup: %v %s %v", p, st, err)
		}
	})
}

// TestLookupSharedFetch: concurrent lookups share one fetch, and the first
// caller giving up fails no other: the fetch goes on for those still
// waiting.
func TestLookupSharedFetch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLookupEnv(t, nil)
		txt("v=STSv1; id=one")(e)
		release := make(chan struct{})
		e.ps.serve(dom, func(w http.ResponseWriter, r *http.Request) {
			<-release
			policy(policyText(ModeEnforce, 600, "mx.a.example"))(w, r)
		})
		ctxA, cancelA := context.WithCancel(context.Background())
		type res struct {
			p   *Policy
			st  Status
			err error
		}
		a, b := make(chan res, 1), make(chan res, 1)
		go func() { p, st, err := e.c.Lookup(ctxA, dom); a <- res{p, st, err} }()
		go func() { p, st, err := e.c.Lookup(context.Background(), dom); b <- res{p, st, err} }()
		synctest.Wait() // both wait on one flight, the server on release
		e.c.mu.Lock()
		if f := e.c.flights[dom]; f == nil || f.waiters != 2 {
			t.Fatalf("flight %+v: want one with 2 waiters", f)
		}
		e.c.mu.Unlock()
		cancelA()
		if r := <-a; r.p != nil || r.st != StatusFailed || !errors.Is(r.err, context.Canceled) {
			t.Fatalf("the caller that left: %v %s %v", r.p, r.st, r.err)
		}
		close(release)
		if r := <-b; r.err != nil || r.st != StatusFetched || !r.p.Match("mx.a.example") {
			t.Fatalf("the caller that stayed: %v %s %v", r.p, r.st, r.err)
		}
		if n := e.ps.requests.Load(); n != 1 {
			t.Fatalf("%d fetches, want 1 shared", n)
		}
		if _, st, _ := e.c.Lookup(context.Background(), dom); st != StatusCached {
			t.Fatalf("afterwards: %s, want cached", st)
		}
	})
}

// TestLookupStoreFails: a Store that cannot keep a policy does not stop it
// from applying now; the error says it was not kept.
func TestLookupStoreFails(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		bad := filepath.Join(t.TempDir(), "no-such-dir", "cache.json")
		e := newLookupEnv(t, &FileStore{Path: bad})
		txt("v=STSv1; id=one")(e)
		serveMX("mx.a.example", 600)(e)
		p, st, err := e.c.Lookup(context.Background(), dom)
		if p == nil || !p.Match("mx.a.example") || st != StatusFetched || err == nil || !strings.Contains(err.Error(), "no-such-dir") {
			t.Fatalf("%v %s %v", p, st, err)
		}
	})
}

// TestLookupBadDomain: a name that is no host name asks nothing: no TXT
// question, and above all no URL built from it.
func TestLookupBadDomain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLookupEnv(t, nil)
		for _, d := range []string{"", "evil.example/x?", "a b.example", "xn--ü.example", "[192.0.2.1]", "a..example"} {
			p, st, err := e.c.Lookup(context.Background(), d)
			if p != nil || st != StatusNone || !errors.Is(err, ErrBadDomain) {
				t.Errorf("%q: %v %s %v", d, p, st, err)
			}
			if _, err := e.c.Fetcher.Fetch(context.Background(), d); !errors.Is(err, ErrBadDomain) {
				t.Errorf("Fetch(%q): %v", d, err)
			}
		}
		if n := e.txt.n.Load(); n != 0 {
			t.Errorf("%d TXT questions", n)
		}
		if n := e.ps.requests.Load(); n != 0 {
			t.Errorf("%d fetches", n)
		}
	})
}

// TestLookupUnreadableFileStore: a FileStore whose file cannot be read (here
// a directory stands at its Path; in life EIO, EACCES, EMFILE) still keeps
// in memory what it is given, and Lookup still applies it: before, the
// fetched policy was dropped on the floor, every Lookup fetched again, and
// an attacker blocking the fetch got no policy at all (RFC 8461, Section
// 3.3: a valid cached policy MUST be applied).
func TestLookupUnreadableFileStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "cache.json")
		if err := os.Mkdir(path, 0o700); err != nil {
			t.Fatal(err)
		}
		e := newLookupEnv(t, &FileStore{Path: path})
		e.run(t, dom, []step{
			{reason: "fetched; the file cannot be read, so the error says the store failed", before: both(txt("v=STSv1; id=one"), serveMX("mx.a.example", 86400)),
				status: StatusFetched, mx: "mx.a.example", fetches: 1, anyError: true},
			{reason: "same id: the policy kept in memory, no fetch", before: later(time.Hour),
				status: StatusCached, mx: "mx.a.example", fetches: 1},
			{reason: "record and policy host blocked: the policy stays in force", before: both(txt(), failHTTP),
				status: StatusKept, mx: "mx.a.example", fetches: 1, anyError: true},
		})
	})
}

// TestLookupDeadlineIsFailure: a policy host slower than the caller's
// deadline is a fetch that failed (RFC 8461, Section 3.3: "no policy can be
// fetched via HTTPS (for any reason)"), remembered for RetryAfter like any
// other. Before, the abandoned fetch counted for nothing: every later
// delivery waited for the host again until its deadline and deferred, so
// mail to the domain waited until the queue gave up and bounced it, where
// the RFC says to deliver as without MTA-STS. A cancel (a caller that
// stops) still says nothing of the host (TestLookupCancelled).
func TestLookupDeadlineIsFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := newLookupEnv(t, nil)
		txt("v=STSv1; id=one")(e)
		e.ps.serve(dom, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		if p, st, err := e.c.Lookup(ctx, dom); p != nil || st != StatusFailed || !errors.Is(err, FetchError) {
			t.Fatalf("deadline: %v %s %v", p, st, err)
		}
		p, st, err := e.c.Lookup(context.Background(), dom)
		if p != nil || st != StatusFailed || !errors.Is(err, FetchError) {
			t.Fatalf("next lookup: %v %s %v", p, st, err)
		}
		if n := e.ps.requests.Load(); n != 1 {
			t.Fatalf("%d fetches, want 1: the slow host is not asked again within RetryAfter", n)
		}
	})
}
