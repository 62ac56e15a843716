package tlsrpt

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// newFileStore is a FileStore over path, closed when the test ends.
func newFileStore(t *testing.T, path string, flush time.Duration) *FileStore {
	t.Helper()
	s := &FileStore{Path: path, FlushInterval: flush}
	t.Cleanup(func() { s.Close() })
	return s
}

// fileTotal is what a new FileStore reads from path: the sum of the counts
// of storeDay, and the error of reading them.
func fileTotal(t *testing.T, path string) (int64, error) {
	t.Helper()
	s := &FileStore{Path: path}
	defer s.Close()
	cs, err := s.Counters(t.Context(), storeDay, "")
	var n int64
	for _, c := range cs {
		n += c.N
	}
	return n, err
}

// waitFor waits until cond holds, failing the test after 10 s: a bound on
// something that must happen, not a measure of how soon.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("still not so after 10 s: %s", what)
		}
	}
}

// wait receives from ch, failing the test after 10 s: a bound on
// something that must happen.
func wait[T any](t *testing.T, what string, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatalf("still not so after 10 s: %s", what)
		panic("unreachable")
	}
}

// TestFileStore: the Store contract, and the same counters read back by
// another FileStore from the file.
func TestFileStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tlsrpt.json")
	testStore(t, newFileStore(t, path, time.Hour))

	s := newFileStore(t, filepath.Join(t.TempDir(), "tlsrpt.json"), time.Hour)
	keys := testKeys()
	for i, k := range keys {
		if err := s.Add(t.Context(), k, int64(i+1)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	r := newFileStore(t, s.Path, time.Hour)
	for _, day := range []Day{storeDay, storeDay.AddDays(1)} {
		cs, err := r.Counters(t.Context(), day, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			i := slicesIndexKey(keys, c.Key)
			if i < 0 || c.N != int64(i+1) {
				t.Errorf("read back %+v = %d: not a key added, or another count", c.Key, c.N)
			}
		}
		if day == storeDay && len(cs) != len(keys)-1 || day != storeDay && len(cs) != 1 {
			t.Errorf("%d counters of %s read back", len(cs), day)
		}
	}
}

func slicesIndexKey(keys []Key, k Key) int {
	for i, kk := range keys {
		if sameKey(kk, k) && kk.id() == k.id() {
			return i
		}
	}
	return -1
}

// TestFileStoreDurable: what the file holds, as another process would read
// it, after each kind of change.
func TestFileStoreDurable(t *testing.T) {
	key := testKeys()[1]
	tests := []struct {
		reason string
		run    func(t *testing.T, path string)
		want   int64 // what the file holds then
	}{
		{"Close writes every count", func(t *testing.T, path string) {
			s := newFileStore(t, path, time.Hour)
			for range 3 {
				s.Add(t.Context(), key, 1)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
		}, 3},
		{"without Close, a count is written FlushInterval later", func(t *testing.T, path string) {
			s := newFileStore(t, path, time.Millisecond)
			s.Add(t.Context(), key, 2)
			waitFor(t, "the count in the file", func() bool { n, _ := fileTotal(t, path); return n == 2 })
		}, 2},
		{"an Add never waits on the disk: within FlushInterval the file has not got it (what a crash loses)", func(t *testing.T, path string) {
			s := newFileStore(t, path, time.Hour)
			s.Add(t.Context(), key, 1)
			s.Close()
			s = newFileStore(t, path, time.Hour)
			s.Add(t.Context(), key, 5)
		}, 1},
		{"Delete is written before it returns: a reported day does not come back after a crash", func(t *testing.T, path string) {
			s := newFileStore(t, path, time.Hour)
			s.Add(t.Context(), key, 4)
			s.Close()
			s = newFileStore(t, path, time.Hour)
			if err := s.Delete(t.Context(), storeDay, ""); err != nil {
				t.Fatal(err)
			}
		}, 0},
		{"counts add up across restarts", func(t *testing.T, path string) {
			for _, n := range []int64{2, 3} {
				s := newFileStore(t, path, time.Hour)
				s.Add(t.Context(), key, n)
				s.Close()
			}
		}, 5},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tlsrpt.json")
			tt.run(t, path)
			n, err := fileTotal(t, path)
			if err != nil || n != tt.want {
				t.Errorf("the file holds %d (%v), want %d", n, err, tt.want)
			}
		})
	}
}

// TestFileStoreConcurrent: 8 writers at once, the file written under them
// every millisecond: no count lost, in memory nor in the file.
func TestFileStoreConcurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tlsrpt.json")
	s := newFileStore(t, path, time.Millisecond)
	var writes int
	s.writing = func() { writes++ } // writes are serialized
	testConcurrent(t, s, 8, 2000)
	mem, _ := s.Counters(t.Context(), storeDay, "")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, c := range mem {
		want += c.N
	}
	if n, err := fileTotal(t, path); err != nil || n != want || want != 8*2000 {
		t.Errorf("the file holds %d (%v), memory %d, want %d", n, err, want, 8*2000)
	}
	t.Logf("%d writes", writes)
}

// TestFileStoreBadEntries: entries that do not parse are each skipped with
// an error naming them, never hide the others, stay in the file when it is
// rewritten, and go with a Delete of their day.
func TestFileStoreBadEntries(t *testing.T) {
	good := testKeys()[:3]
	entry := func(mod func(*counterText)) string {
		c := Counter{Key: good[1], N: 1}.text()
		mod(&c)
		b, err := jsonMarshal(c)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	day := storeDay.String()
	tests := []struct {
		reason   string
		entry    string
		want     string // in the error
		counters bool   // Counters of its day says it
		pending  bool   // Pending says it (no readable day or domain)
	}{
		{"a policy type this version does not know", entry(func(c *counterText) { c.PolicyType = "dmarc" }), `policy type "dmarc"`, true, false},
		{"a result type RFC 8460 does not name", entry(func(c *counterText) { c.Result = "certificate-revoked" }), `result type "certificate-revoked"`, true, false},
		{"an address that is none", entry(func(c *counterText) { c.ReceivingIP = "192.0.2.999" }), `address "192.0.2.999"`, true, false},
		{"a negative count", entry(func(c *counterText) { c.N = -3 }), `count -3`, true, false},
		{"a field this version does not know (a newer version's entry)",
			strings.Replace(entry(func(*counterText) {}), `"n":1`, `"n":1,"tls-version":"1.3"`, 1), `unknown field "tls-version"`, true, false},
		{"a policy-string that is no array", strings.Replace(entry(func(*counterText) {}), `"policy-string":[`, `"policy-string":"x","y":[`, 1),
			`cannot unmarshal string`, true, false},
		{"a day that is none", entry(func(c *counterText) { c.Day = "0000-00-00" }), `day "0000-00-00"`, false, true},
		{"a policy domain not as a Collector writes it", entry(func(c *counterText) { c.PolicyDomain = "Example.COM" }), `policy domain "Example.COM"`, true, true},
		{"no object at all", `"x"`, `cannot unmarshal string`, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "tlsrpt.json")
			w := newFileStore(t, path, time.Hour)
			for _, k := range good {
				w.Add(ctx, k, 7)
			}
			w.Close()
			b, _ := os.ReadFile(path)
			text := strings.Replace(string(b), "\n]}", ",\n"+tt.entry+"\n]}", 1)
			if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
				t.Fatal(err)
			}

			s := newFileStore(t, path, time.Hour)
			cs, cerr := s.Counters(ctx, storeDay, "")
			if len(cs) != len(good) {
				t.Errorf("%d counters read, want the %d good ones", len(cs), len(good))
			}
			for _, c := range cs {
				if c.N != 7 {
					t.Errorf("a good counter reads %d, want 7", c.N)
				}
			}
			p, perr := s.Pending(ctx, storeDay.AddDays(1))
			if len(p) != 1 || p[0] != (DomainDay{"example.com", storeDay}) {
				t.Errorf("Pending: %v, want the good counters' domain and day", p)
			}
			for _, c := range []struct {
				what string
				err  error
				want bool
			}{{"Counters", cerr, tt.counters}, {"Pending", perr, tt.pending}} {
				if !c.want {
					if c.err != nil {
						t.Errorf("%s: %v, want no error", c.what, c.err)
					}
				} else if !errors.Is(c.err, ErrBadKey) || !strings.Contains(c.err.Error(), tt.want) || !strings.Contains(c.err.Error(), path) {
					t.Errorf("%s: %v, want ErrBadKey naming the file and %q", c.what, c.err, tt.want)
				}
			}

			// Rewritten for an Add: the entry is still there, as it was.
			s.Add(ctx, good[0], 1)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			b, _ = os.ReadFile(path)
			if !strings.Contains(string(b), "\n"+tt.entry+"\n") {
				t.Errorf("the entry is gone from the rewritten file:\n%s", b)
			}
			if n, _ := fileTotal(t, path); n != 3*7+1 {
				t.Errorf("the file holds %d, want %d", n, 3*7+1)
			}

			// A Delete of its day takes it, when it names that day.
			s = newFileStore(t, path, time.Hour)
			if err := s.Delete(ctx, storeDay, ""); err != nil {
				t.Fatal(err)
			}
			b, _ = os.ReadFile(path)
			wantGone := strings.Contains(tt.entry, `"day":"`+day+`"`)
			if gone := !strings.Contains(string(b), tt.entry); gone != wantGone {
				t.Errorf("after Delete of %s, entry gone from the file: %v, want %v", day, gone, wantGone)
			}
		})
	}
}

// jsonMarshal is v as one entry of the file.
func jsonMarshal(v any) (string, error) {
	b, err := json.Marshal(v)
	return string(b), err
}

// TestFileStoreCorrupt: a file that does not parse at all is never moved
// or written by a store that only reads; the first write moves it aside,
// and the store's reads keep saying its counts are missing.
func TestFileStoreCorrupt(t *testing.T) {
	for _, tt := range []struct {
		reason, text, want string
	}{
		{"not JSON", "counters!", "invalid character"},
		{"a write cut short (a copy that was not atomic)", `{"version": 1, "counters": [` + "\n", "unexpected end of JSON input"},
		{"an empty file", "", "unexpected end of JSON input"},
		{"another version of the format", `{"version": 2, "counters": []}`, "version 2, want 1"},
	} {
		t.Run(tt.reason, func(t *testing.T) {
			ctx := t.Context()
			path := filepath.Join(t.TempDir(), "tlsrpt.json")
			if err := os.WriteFile(path, []byte(tt.text), 0o600); err != nil {
				t.Fatal(err)
			}
			s := newFileStore(t, path, time.Hour)
			_, cerr := s.Counters(ctx, storeDay, "")
			_, perr := s.Pending(ctx, storeDay)
			for _, err := range []error{cerr, perr} {
				if err == nil || !strings.Contains(err.Error(), "does not parse") || !strings.Contains(err.Error(), tt.want) {
					t.Errorf("error %v, want one saying the file does not parse (%s)", err, tt.want)
				}
			}
			s.Close()
			if b, _ := os.ReadFile(path); string(b) != tt.text {
				t.Fatalf("a store that only read changed the file to %q", b)
			}

			s = newFileStore(t, path, time.Hour)
			if err := s.Add(ctx, testKeys()[0], 1); err != nil {
				t.Errorf("Add: %v, want it counted in spite of the file", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if b, _ := os.ReadFile(path + ".corrupt"); string(b) != tt.text {
				t.Errorf("moved aside: %q, want the file as it was", b)
			}
			if cs, err := s.Counters(ctx, storeDay, ""); len(cs) != 1 || err == nil {
				t.Errorf("Counters after the move: %v, %v; want the count, and the error still", cs, err)
			}
			if n, err := fileTotal(t, path); n != 1 || err != nil {
				t.Errorf("the new file holds %d (%v), want 1", n, err)
			}
		})
	}
}

// TestFileStoreUnwritable: a file that cannot be read is never written
// over, and a write that fails keeps the counts and is tried again.
func TestFileStoreUnwritable(t *testing.T) {
	ctx := t.Context()
	t.Run("a file that cannot be read: counts in memory, the file left alone", func(t *testing.T) {
		path := t.TempDir() // a directory: reading it fails
		s := newFileStore(t, path, time.Millisecond)
		errs := make(chan error, 100)
		s.OnWriteError = func(err error) {
			select {
			case errs <- err:
			default:
			}
		}
		if err := s.Add(ctx, testKeys()[0], 2); err != nil {
			t.Errorf("Add: %v, want it counted", err)
		}
		if err := wait(t, "a write tried", errs); !strings.Contains(err.Error(), "is a directory") || !strings.Contains(err.Error(), "not written") {
			t.Errorf("OnWriteError(%v), want the read's error and that nothing was written", err)
		}
		cs, err := s.Counters(ctx, storeDay, "")
		if len(cs) != 1 || cs[0].N != 2 || err == nil {
			t.Errorf("Counters: %v, %v; want the count and the read's error", cs, err)
		}
		if err := s.Close(); err == nil {
			t.Error("Close: nil, want the error of the write it could not make")
		}
		if fi, err := os.Stat(path); err != nil || !fi.IsDir() {
			t.Errorf("the path was written over: %v, %v", fi, err)
		}
	})
	t.Run("a directory missing for a while: the write tried again, nothing lost", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "later")
		path := filepath.Join(dir, "tlsrpt.json")
		s := newFileStore(t, path, time.Millisecond)
		var (
			mu     sync.Mutex
			failed int
		)
		s.OnWriteError = func(err error) {
			mu.Lock()
			defer mu.Unlock()
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("OnWriteError(%v), want the missing directory", err)
			}
			failed++
		}
		s.Add(ctx, testKeys()[0], 3)
		waitFor(t, "a failed write", func() bool { mu.Lock(); defer mu.Unlock(); return failed > 0 })
		s.Add(ctx, testKeys()[0], 1)
		if err := os.Mkdir(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the counts written once the directory is there", func() bool { n, _ := fileTotal(t, path); return n == 4 })
	})
	t.Run("a Delete whose write fails says so", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "gone")
		path := filepath.Join(dir, "tlsrpt.json")
		s := newFileStore(t, path, time.Hour)
		s.Add(ctx, testKeys()[0], 1)
		err := s.Delete(ctx, storeDay, "example.com")
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "still in the file") {
			t.Errorf("Delete: %v, want the write's error, saying the file still has them", err)
		}
	})
}

// TestFileStoreNoReaderWaits: while a write is under way (held in the
// test hook, as a slow disk would), Add, Counters and Pending answer.
func TestFileStoreNoReaderWaits(t *testing.T) {
	ctx := t.Context()
	s := newFileStore(t, filepath.Join(t.TempDir(), "tlsrpt.json"), time.Hour)
	k := testKeys()[0]
	s.Add(ctx, k, 1)
	in, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.writing = func() { once.Do(func() { close(in); <-release }) }
	deleted := make(chan error)
	go func() { deleted <- s.Delete(ctx, storeDay.AddDays(5), "") }()
	wait(t, "the Delete's write", in)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := s.Add(ctx, k, 1); err != nil {
			t.Error(err)
		}
		if cs, _ := s.Counters(ctx, storeDay, ""); len(cs) != 1 || cs[0].N != 2 {
			t.Errorf("Counters during a write: %v", cs)
		}
		s.Pending(ctx, storeDay.AddDays(1))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Error("Add, Counters and Pending waited on a write")
	}
	close(release)
	if err := <-deleted; err != nil {
		t.Fatal(err)
	}
	<-done
}

// TestFileStoreCoalesced: Deletes that wait behind a write are written
// together by one write, and Adds by one write per FlushInterval.
func TestFileStoreCoalesced(t *testing.T) {
	ctx := t.Context()
	s := newFileStore(t, filepath.Join(t.TempDir(), "tlsrpt.json"), time.Hour)
	for i := range 11 {
		s.Add(ctx, Key{Day: storeDay.AddDays(i), Policy: NoPolicy("example.com")}, 1)
	}
	var writes int
	in, release := make(chan struct{}), make(chan struct{})
	s.writing = func() {
		writes++
		if writes == 1 {
			close(in)
			<-release
		}
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.Delete(ctx, storeDay, "") })
	wait(t, "the first Delete's write", in)
	for i := 1; i < 11; i++ {
		wg.Go(func() {
			if err := s.Delete(ctx, storeDay.AddDays(i), ""); err != nil {
				t.Error(err)
			}
		})
	}
	waitFor(t, "the 10 Deletes waiting for the write", func() bool { s.mu.Lock(); defer s.mu.Unlock(); return s.gen == 11+11 })
	close(release)
	wg.Wait()
	if writes != 2 {
		t.Errorf("%d writes for 11 Deletes, 10 of them behind the first: want 2", writes)
	}
	if p, _ := (&FileStore{Path: s.Path}).Pending(ctx, storeDay.AddDays(20)); len(p) != 0 {
		t.Errorf("the file still has %v after every Delete returned", p)
	}

	writes = 0
	s.writing = func() { writes++ }
	for range 1000 {
		s.Add(ctx, testKeys()[1], 1)
	}
	s.Close()
	if writes != 1 {
		t.Errorf("%d writes for 1000 Adds within FlushInterval and a Close, want 1", writes)
	}
}

// TestFileStoreClose: Close waits for a write under way, leaves no
// goroutine, and the store refuses changes after it.
func TestFileStoreClose(t *testing.T) {
	ctx := t.Context()
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	path := filepath.Join(t.TempDir(), "missing", "tlsrpt.json")
	s := &FileStore{Path: path, FlushInterval: time.Millisecond}
	in, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	s.OnWriteError = func(error) { once.Do(func() { close(in); <-release }) }
	s.Add(ctx, testKeys()[0], 1)
	wait(t, "the timer's write", in) // it failed, its goroutine is in OnWriteError
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	var err error
	select {
	case err = <-closed:
		t.Error("Close returned while the timer's write was under way")
		close(release)
	case <-time.After(50 * time.Millisecond):
		close(release)
		err = wait(t, "Close", closed)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Close: %v, want the error of its write", err)
	}

	for _, tt := range []struct {
		reason string
		err    error
		want   error
	}{
		{"Add after Close", s.Add(ctx, testKeys()[0], 1), ErrStoreClosed},
		{"Delete after Close", s.Delete(ctx, storeDay, ""), ErrStoreClosed},
		{"Close again", s.Close(), nil},
	} {
		if !errors.Is(tt.err, tt.want) {
			t.Errorf("%s: %v, want %v", tt.reason, tt.err, tt.want)
		}
	}
	if cs, err := s.Counters(ctx, storeDay, ""); len(cs) != 1 || err != nil {
		t.Errorf("Counters after Close: %v, %v; want the count", cs, err)
	}
}

// TestFileStoreReadOnly: a store that only reads never writes the file
// (the mxroute report command reads an MTA's file while it runs).
func TestFileStoreReadOnly(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	path := filepath.Join(dir, "tlsrpt.json")
	w := newFileStore(t, path, time.Hour)
	w.Add(ctx, testKeys()[0], 1)
	w.Close()
	before, _ := os.Stat(path)

	r := &FileStore{Path: path}
	r.writing = func() { t.Error("a store that only reads wrote the file") }
	r.Counters(ctx, storeDay, "")
	r.Pending(ctx, storeDay.AddDays(1))
	if err := r.Close(); err != nil {
		t.Error(err)
	}
	after, _ := os.Stat(path)
	if !os.SameFile(before, after) || !before.ModTime().Equal(after.ModTime()) {
		t.Error("the file was replaced")
	}
	if es, _ := os.ReadDir(dir); len(es) != 1 {
		t.Errorf("files left beside it: %v", es)
	}

	missing := &FileStore{Path: filepath.Join(dir, "none.json")}
	if cs, err := missing.Counters(ctx, storeDay, ""); len(cs) != 0 || err != nil {
		t.Errorf("a missing file: %v, %v; want an empty store (a first start)", cs, err)
	}
	missing.Close()
	if _, err := os.Stat(missing.Path); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("a store that only read a missing file made it: %v", err)
	}
}

// TestFileStoreMax: MaxCounters bounds new counters, entries that do not
// parse count, and a file holding more is read whole.
func TestFileStoreMax(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tlsrpt.json")
	keys := testKeys()
	w := newFileStore(t, path, time.Hour)
	for _, k := range keys[:3] {
		w.Add(ctx, k, 1)
	}
	w.Close()

	tests := []struct {
		reason string
		max    int
		edit   func(string) string
		add    Key
		want   error
	}{
		{"an existing counter counts when full", 3, nil, keys[0], nil},
		{"a new counter is refused when full", 3, nil, keys[3], ErrStoreFull},
		{"room for a fourth", 4, nil, keys[3], nil},
		{"an entry that does not parse takes its room", 4, func(s string) string {
			return strings.Replace(s, "\n]}", ",\n{\"day\": \"x\"}\n]}", 1)
		}, keys[3], ErrStoreFull},
		{"a file of more than MaxCounters read whole, a new counter refused", 1, nil, keys[3], ErrStoreFull},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "tlsrpt.json")
			b, _ := os.ReadFile(path)
			if tt.edit != nil {
				b = []byte(tt.edit(string(b)))
			}
			os.WriteFile(p, b, 0o600)
			s := newFileStore(t, p, time.Hour)
			s.MaxCounters = tt.max
			if err := s.Add(ctx, tt.add, 1); !errors.Is(err, tt.want) {
				t.Errorf("Add: %v, want %v", err, tt.want)
			}
			if cs, _ := s.Counters(ctx, storeDay, ""); len(cs) < 3 {
				t.Errorf("%d counters read, want the file's 3", len(cs))
			}
		})
	}
}

// TestFileStoreFormat: one counter a line, in order of day, domain and
// key, with the field names of RFC 8460; a new file 0600, a file's mode
// kept when it is rewritten.
func TestFileStoreFormat(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "tlsrpt.json")
	s := newFileStore(t, path, time.Hour)
	s.Add(ctx, Key{Day: storeDay.AddDays(1), Policy: NoPolicy("a.example")}, 1)
	s.Add(ctx, Key{Day: storeDay, Policy: NoPolicy("b.example"), Result: StartTLSNotSupported,
		ReceivingIP: netip.MustParseAddr("192.0.2.1"), ReasonCode: "<none> & more"}, 2)
	s.Add(ctx, Key{Day: storeDay, Policy: NoPolicy("a.example")}, 3)
	s.Close()
	b, _ := os.ReadFile(path)
	want := `{"version": 1, "counters": [
{"day":"2024-03-01","policy-domain":"a.example","policy-type":"no-policy-found","policy-string":[],"mx-host":[],"n":3},
{"day":"2024-03-01","policy-domain":"b.example","policy-type":"no-policy-found","policy-string":[],"mx-host":[],"result-type":"starttls-not-supported","receiving-ip":"192.0.2.1","failure-reason-code":"<none> & more","n":2},
{"day":"2024-03-02","policy-domain":"a.example","policy-type":"no-policy-found","policy-string":[],"mx-host":[],"n":1}
]}
`
	if string(b) != want {
		t.Errorf("the file:\n%s\nwant:\n%s", b, want)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("a new file's mode %v, want 0600", fi.Mode())
	}
	os.Chmod(path, 0o640)
	s = newFileStore(t, path, time.Hour)
	s.Add(ctx, Key{Day: storeDay, Policy: NoPolicy("a.example")}, 1)
	s.Close()
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("a rewritten file's mode %v, want 0640 as it was", fi.Mode())
	}
}

// BenchmarkFileStoreAdd: an Add, what the Dialer waits for per session.
func BenchmarkFileStoreAdd(b *testing.B) {
	s := &FileStore{Path: filepath.Join(b.TempDir(), "tlsrpt.json"), FlushInterval: time.Hour}
	defer s.Close()
	k := testKeys()[1]
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		s.Add(ctx, k, 1)
	}
}

// BenchmarkFileStoreWrite: a write of the whole file, what each
// FlushInterval costs, by counters held: failures of ordinary MTA-STS
// policies, each of another MX address.
func BenchmarkFileStoreWrite(b *testing.B) {
	for _, n := range []int{1_000, 10_000, 100_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			ctx := context.Background()
			s := &FileStore{Path: filepath.Join(b.TempDir(), "tlsrpt.json"), FlushInterval: time.Hour, MaxCounters: n + 1}
			defer s.Close()
			for i := range n {
				d := fmt.Sprintf("d%d.example", i/10)
				k := Key{Day: storeDay, Policy: STS(d, "version: STSv1\nmode: enforce\nmx: *."+d+"\nmax_age: 604800\n"),
					Result: CertificateExpired, SendingIP: netip.MustParseAddr("192.0.2.1"),
					ReceivingIP: netip.AddrFrom4([4]byte{198, 51, byte(i >> 8), byte(i)}), MXHost: "mx." + d, HELO: "mx." + d}
				if err := s.Add(ctx, k, 1); err != nil {
					b.Fatal(err)
				}
			}
			k := Key{Day: storeDay, Policy: NoPolicy("d0.example")}
			for b.Loop() {
				s.Add(ctx, k, 1) // a change, so that the write writes
				if err := s.write(); err != nil {
					b.Fatal(err)
				}
			}
			fi, _ := os.Stat(s.Path)
			b.ReportMetric(float64(fi.Size()), "file-bytes")
		})
	}
}
