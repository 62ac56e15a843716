package mxroute

import (
	"context"
	"encoding/json"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// listingBackoff is a store that lists its entries, as every store here
// does.
type listingBackoff interface {
	BackoffStore
	Entries(ctx context.Context) ([]BackoffEntry, error)
}

// testBackoffStore checks the BackoffStore contract on an empty store.
func testBackoffStore(t *testing.T, s listingBackoff) {
	ctx := t.Context()
	a4, a6, other := ap("192.0.2.1:25"), ap("[2001:db8::1]:25"), ap("192.0.2.1:2525")
	st, err := s.Get(ctx, a4)
	require.NoError(t, err)
	assert.Zero(t, st, "nothing remembered")

	at := time.UnixMilli(t0)
	st, err = s.Fail(ctx, a4, at, FailConnectTimeout)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Failures)
	assert.Equal(t, at.UTC(), st.First)
	assert.Equal(t, at.UTC(), st.Last)
	assert.Equal(t, FailConnectTimeout, st.Reason)
	assert.True(t, st.Retry.After(at.Add(45*time.Second)) && !st.Retry.After(at.Add(time.Minute)), "%v", st.Retry)
	got, err := s.Get(ctx, a4)
	require.NoError(t, err)
	assert.Equal(t, st, got, "Get gives what Fail returned")

	st2, err := s.Fail(ctx, a4, at.Add(time.Minute+1500*time.Microsecond), FailRefused)
	require.NoError(t, err)
	assert.Equal(t, 2, st2.Failures)
	assert.Equal(t, at.Add(time.Minute+time.Millisecond).UTC(), st2.Last, "kept to the millisecond")
	assert.Equal(t, FailRefused, st2.Reason)

	_, err = s.Fail(ctx, a6, at, FailUnreachable)
	require.NoError(t, err)
	for _, a := range []netip.AddrPort{other, ap("192.0.2.2:25")} {
		got, err := s.Get(ctx, a)
		require.NoError(t, err)
		assert.Zero(t, got, "%s is another address", a)
	}
	es, err := s.Entries(ctx)
	require.NoError(t, err)
	assert.ElementsMatch(t, []netip.AddrPort{a4, a6}, entryAddrs(es))

	require.NoError(t, s.Clear(ctx, a4))
	got, err = s.Get(ctx, a4)
	require.NoError(t, err)
	assert.Zero(t, got, "forgotten")
	require.NoError(t, s.Clear(ctx, a4), "forgetting twice")
	got, _ = s.Get(ctx, a6)
	assert.Equal(t, 1, got.Failures, "the other address stays")

	for _, bad := range []netip.AddrPort{{}, ap("192.0.2.1:0"), ap("[::ffff:192.0.2.1]:25"), ap("[fe80::1%eth0]:25")} {
		_, err := s.Fail(ctx, bad, at, FailRefused)
		assert.ErrorIs(t, err, ErrBadBackoff, "%s", bad)
	}
}

func entryAddrs(es []BackoffEntry) []netip.AddrPort {
	var out []netip.AddrPort
	for _, e := range es {
		out = append(out, e.Addr)
	}
	return out
}

// testBackoffSchedule runs the schedule's cases through a store: seed puts
// a case's old state in, jitter is set to the case's k.
func testBackoffSchedule(t *testing.T, s BackoffStore, seed func(addr netip.AddrPort, st BackoffState), k *int64) {
	for i, tt := range scheduleCases {
		t.Run(tt.reason, func(t *testing.T) {
			addr := netip.AddrPortFrom(netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)}), 25)
			if tt.old != (BackoffState{}) {
				seed(addr, tt.old)
			}
			*k = tt.k
			got, err := s.Fail(t.Context(), addr, time.UnixMilli(tt.at), tt.want.Reason)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
			got, err = s.Get(t.Context(), addr)
			require.NoError(t, err)
			assert.Equal(t, tt.want, got)
		})
	}
}

// testBackoffConcurrent has writers record failures of a few addresses at
// once: no failure is lost, and each address's state is one Next gives.
func testBackoffConcurrent(t *testing.T, s BackoffStore, writers, each int) {
	addrs := []netip.AddrPort{ap("192.0.2.1:25"), ap("192.0.2.2:25"), ap("[2001:db8::3]:25")}
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range each {
				at := time.UnixMilli(t0 + int64(i)*sec + int64(w))
				if _, err := s.Fail(t.Context(), addrs[(w+i)%len(addrs)], at, FailConnectTimeout); err != nil {
					t.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	total := 0
	for j, a := range addrs {
		st, err := s.Get(t.Context(), a)
		require.NoError(t, err)
		require.NoError(t, st.check())
		assert.Equal(t, msTime(t0+int64(j)), st.First, "%s: the earliest of its failures, whatever the order of writes", a)
		total += st.Failures
	}
	assert.Equal(t, writers*each, total, "no failure lost")
}

// TestMemoryBackoff: the contract, the schedule, concurrent writers, the
// zero value.
func TestMemoryBackoff(t *testing.T) {
	t.Run("contract", func(t *testing.T) { testBackoffStore(t, &MemoryBackoff{}) })
	t.Run("schedule", func(t *testing.T) {
		var k int64
		s := &MemoryBackoff{jitter: func() int64 { return k }}
		testBackoffSchedule(t, s, func(a netip.AddrPort, st BackoffState) { s.put(a, st) }, &k)
	})
	t.Run("concurrent", func(t *testing.T) { testBackoffConcurrent(t, &MemoryBackoff{}, 8, 500) })
}

// TestMemoryBackoffBound: a full store makes room by the earliest Retry:
// addresses whose backoff is over first, then the one that would wait the
// least; an address already held is updated in place.
func TestMemoryBackoffBound(t *testing.T) {
	tests := []struct {
		reason string
		max    int
		retry  map[string]int64 // the states in the store, by Retry
		add    string
		gone   string // "": nothing evicted
	}{
		{"room left: nothing goes", 4, map[string]int64{"192.0.2.1:25": t0 + mn, "192.0.2.2:25": t0 + 2*mn}, "192.0.2.9:25", ""},
		{"full: the earliest retry goes", 3,
			map[string]int64{"192.0.2.1:25": t0 + 30*mn, "192.0.2.2:25": t0 + 2*mn, "192.0.2.3:25": t0 + 50*mn}, "192.0.2.9:25", "192.0.2.2:25"},
		{"full: a backoff long over goes first", 3,
			map[string]int64{"192.0.2.1:25": t0 + 30*mn, "192.0.2.2:25": t0 + 2*mn, "192.0.2.3:25": t0 - 3*hr}, "192.0.2.9:25", "192.0.2.3:25"},
		{"full, and the address is held: nothing goes", 3,
			map[string]int64{"192.0.2.1:25": t0 + 30*mn, "192.0.2.2:25": t0 + 2*mn, "192.0.2.3:25": t0 + 50*mn}, "192.0.2.2:25", ""},
		{"zero MaxEntries: 10,000", 0, map[string]int64{"192.0.2.1:25": t0 + mn}, "192.0.2.9:25", ""},
	}
	for _, tt := range tests {
		t.Run(tt.reason, func(t *testing.T) {
			s := &MemoryBackoff{MaxEntries: tt.max}
			for a, r := range tt.retry {
				s.put(ap(a), state(1, r-mn, r-mn, r, FailConnectTimeout))
			}
			_, err := s.Fail(t.Context(), ap(tt.add), time.UnixMilli(t0), FailRefused)
			require.NoError(t, err)
			es, _ := s.Entries(t.Context())
			want := map[netip.AddrPort]bool{ap(tt.add): true}
			for a := range tt.retry {
				want[ap(a)] = a != tt.gone
			}
			for _, e := range es {
				assert.True(t, want[e.Addr], "%s kept", e.Addr)
				delete(want, e.Addr)
			}
			for a, kept := range want {
				assert.False(t, kept, "%s lost", a)
			}
			if tt.max > 0 {
				assert.LessOrEqual(t, len(es), tt.max)
			}
		})
	}
	s := &MemoryBackoff{MaxEntries: 5, jitter: func() int64 { return 0 }}
	for i := range 50 {
		_, err := s.Fail(t.Context(), netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 25),
			time.UnixMilli(t0+int64(i)*sec), FailRefused)
		require.NoError(t, err)
	}
	es, _ := s.Entries(t.Context())
	assert.Len(t, es, 5, "bounded")
	assert.Equal(t, ap("192.0.2.45:25"), es[0].Addr, "the latest kept")
}

// TestFileBackoff: the contract, the schedule, concurrent writers; what a
// file keeps across instances.
func TestFileBackoff(t *testing.T) {
	t.Run("contract", func(t *testing.T) {
		testBackoffStore(t, &FileBackoff{Path: filepath.Join(t.TempDir(), "backoff.json")})
	})
	t.Run("schedule", func(t *testing.T) {
		var k int64
		s := &FileBackoff{Path: filepath.Join(t.TempDir(), "backoff.json")}
		s.mem.jitter = func() int64 { return k }
		testBackoffSchedule(t, s, func(a netip.AddrPort, st BackoffState) {
			require.NoError(t, s.load())
			s.mem.mu.Lock()
			defer s.mem.mu.Unlock()
			s.mem.put(a, st)
		}, &k)
	})
	t.Run("concurrent", func(t *testing.T) {
		testBackoffConcurrent(t, &FileBackoff{Path: filepath.Join(t.TempDir(), "backoff.json")}, 4, 50)
	})
	t.Run("across restarts", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, "backoff.json")
		a := &FileBackoff{Path: path}
		st, err := a.Fail(t.Context(), ap("192.0.2.1:25"), time.UnixMilli(t0), FailConnectTimeout)
		require.NoError(t, err)
		_, err = a.Fail(t.Context(), ap("[2001:db8::2]:25"), time.UnixMilli(t0), FailTLS)
		require.NoError(t, err)
		require.NoError(t, a.Clear(t.Context(), ap("[2001:db8::2]:25")))
		b := &FileBackoff{Path: path}
		got, err := b.Get(t.Context(), ap("192.0.2.1:25"))
		require.NoError(t, err)
		assert.Equal(t, st, got, "read back as written")
		es, err := b.Entries(t.Context())
		require.NoError(t, err)
		assert.Len(t, es, 1, "the cleared address is gone from the file")
		names, _ := filepath.Glob(filepath.Join(dir, "*"))
		assert.Equal(t, []string{path}, names, "no temporary file left")
	})
}

// TestFileBackoffBadEntries: entries that do not parse are each left out
// with an error naming them, once, and never hide the others; a file that
// is no JSON is moved aside.
func TestFileBackoffBadEntries(t *testing.T) {
	good := backoffFileEntry{Addr: "192.0.2.1:25", Failures: 2, First: time.UnixMilli(t0).UTC(),
		Last: time.UnixMilli(t0 + mn).UTC(), Retry: time.UnixMilli(t0 + 2*mn).UTC(), Reason: "connect-timeout"}
	bad := []struct {
		change func(e *backoffFileEntry)
		want   string
	}{
		{func(e *backoffFileEntry) { e.Addr = "192.0.2.999:25" }, `address "192.0.2.999:25"`},
		{func(e *backoffFileEntry) { e.Addr = "192.0.2.3:0" }, `address "192.0.2.3:0"`},
		{func(e *backoffFileEntry) { e.Addr, e.Reason = "192.0.2.4:25", "rejected" }, "reason rejected"},
		{func(e *backoffFileEntry) { e.Addr, e.Reason = "192.0.2.5:25", "sleepy" }, `reason "sleepy"`},
		{func(e *backoffFileEntry) { e.Addr, e.Failures = "192.0.2.6:25", -1 }, "-1 failures"},
		{func(e *backoffFileEntry) { e.Addr, e.First = "192.0.2.7:25", e.Last.Add(time.Second) }, "first failure"},
		{func(e *backoffFileEntry) { e.Addr, e.Retry = "192.0.2.8:25", e.Last.Add(2*time.Hour) }, "retry"},
	}
	f := backoffFile{Version: 1, Entries: []backoffFileEntry{good}}
	for _, b := range bad {
		e := good
		b.change(&e)
		f.Entries = append(f.Entries, e)
	}
	f.Entries = append(f.Entries, backoffFileEntry{Addr: "[2001:db8::9]:25", Failures: 1, First: good.First, Last: good.First,
		Retry: good.First.Add(time.Minute), Reason: "tls"})
	path := filepath.Join(t.TempDir(), "backoff.json")
	js, err := json.Marshal(f)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, js, 0o600))

	s := &FileBackoff{Path: path}
	es, err := s.Entries(t.Context())
	assert.ErrorIs(t, err, ErrBadBackoff)
	for _, b := range bad {
		assert.ErrorContains(t, err, b.want)
	}
	assert.Equal(t, []netip.AddrPort{ap("192.0.2.1:25"), ap("[2001:db8::9]:25")}, entryAddrs(es), "the good entries, both")
	_, err = s.Get(t.Context(), ap("192.0.2.1:25"))
	assert.NoError(t, err, "the error is given once")

	for _, content := range []string{"not json", `{"version": 2, "entries": []}`} {
		require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
		s := &FileBackoff{Path: path}
		st, err := s.Get(t.Context(), ap("192.0.2.1:25"))
		assert.ErrorIs(t, err, ErrBadBackoff, "%s", content)
		assert.Zero(t, st)
		moved, rerr := os.ReadFile(path + ".corrupt")
		require.NoError(t, rerr)
		assert.Equal(t, content, string(moved))
		_, err = s.Fail(t.Context(), ap("192.0.2.1:25"), time.UnixMilli(t0), FailRefused)
		assert.NoError(t, err, "a fresh file")
	}
}

// TestFileBackoffReadersDoNotWait: a Get is answered while a Fail is
// writing the file (held here at the file's lock).
func TestFileBackoffReadersDoNotWait(t *testing.T) {
	s := &FileBackoff{Path: filepath.Join(t.TempDir(), "backoff.json")}
	a := ap("192.0.2.1:25")
	_, err := s.Fail(t.Context(), a, time.UnixMilli(t0), FailRefused)
	require.NoError(t, err)
	s.wmu.Lock() // the file is being written
	writing := make(chan error)
	go func() {
		_, err := s.Fail(t.Context(), a, time.UnixMilli(t0+mn), FailRefused)
		writing <- err
	}()
	for st, _ := s.mem.Get(t.Context(), a); st.Failures < 2; st, _ = s.mem.Get(t.Context(), a) {
		runtime.Gosched() // until the second Fail is at the file
	}
	read := make(chan BackoffState)
	go func() {
		st, _ := s.Get(t.Context(), a)
		read <- st
	}()
	select {
	case st := <-read:
		assert.Equal(t, 2, st.Failures, "the new state, before the file has it")
		s.wmu.Unlock()
	case <-time.After(10 * time.Second):
		t.Error("Get waited for the write")
		s.wmu.Unlock()
		<-read
	}
	require.NoError(t, <-writing)
}

// TestFileBackoffUnreadable: while the file cannot be read (here a
// directory stands at its path), the store answers from memory and writes
// nothing over it; once it can be, what memory kept is written.
func TestFileBackoffUnreadable(t *testing.T) {
	path := filepath.Join(t.TempDir(), "backoff.json")
	require.NoError(t, os.Mkdir(path, 0o700))
	require.NoError(t, os.WriteFile(filepath.Join(path, "keep"), []byte("x"), 0o600))
	s := &FileBackoff{Path: path}
	st, err := s.Fail(t.Context(), ap("192.0.2.1:25"), time.UnixMilli(t0), FailRefused)
	assert.ErrorContains(t, err, "reading backoff file")
	assert.Equal(t, 1, st.Failures, "kept in memory")
	got, err := s.Get(t.Context(), ap("192.0.2.1:25"))
	assert.Error(t, err)
	assert.Equal(t, st, got, "answered from memory")
	b, err := os.ReadFile(filepath.Join(path, "keep"))
	require.NoError(t, err, "nothing written over it")
	assert.Equal(t, "x", string(b))

	require.NoError(t, os.RemoveAll(path))
	_, err = s.Fail(t.Context(), ap("192.0.2.2:25"), time.UnixMilli(t0), FailRefused)
	require.NoError(t, err, "readable again: loaded, then written")
	es, err := (&FileBackoff{Path: path}).Entries(t.Context())
	require.NoError(t, err)
	assert.Len(t, es, 2, "what was kept in memory is written too")
}
