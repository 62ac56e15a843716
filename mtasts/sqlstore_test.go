package mtasts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mxroute-go/mxroute/internal/pgtest"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// backend is a database the SQLStore tests run against.
type backend struct {
	driver, dsn string
	sqlite      bool
}

// open opens the database for the test (closed at its end): in a synctest
// bubble, open it there, so that its goroutines belong to the bubble.
func (b backend) open(t testing.TB) *sql.DB {
	t.Helper()
	db, err := sql.Open(b.driver, b.dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// store makes a SQLStore over a new table of db, and checks that Init may
// run again.
func newSQLTestStore(t testing.TB, db *sql.DB, table string, max int) *SQLStore {
	t.Helper()
	s := &SQLStore{DB: db, Table: table, MaxEntries: max}
	for range 2 {
		if err := s.Init(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// forEachBackend runs f against SQLite (modernc.org/sqlite, pure Go: a
// file of the test, WAL and a busy timeout as SQLStore's doc asks) and
// against a real PostgreSQL started for the test (internal/pgtest: skipped
// without it, failed under CI=true), one server for every scenario.
func forEachBackend(t *testing.T, f func(t *testing.T, b backend)) {
	t.Run("sqlite", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "sts.db")
		f(t, backend{driver: "sqlite", sqlite: true,
			dsn: "file:" + path + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)"})
	})
	t.Run("postgres", func(t *testing.T) {
		srv := pgtest.Start(t)
		f(t, backend{driver: "pgx", dsn: srv.DSN})
	})
}

// TestSQLStore runs every scenario against SQLite and PostgreSQL, each in
// a table of its own.
func TestSQLStore(t *testing.T) {
	scenarios := []struct {
		name string
		run  func(t *testing.T, b backend)
	}{
		{"round trip", testSQLRoundTrip},
		{"newer wins", testSQLNewerWins},
		{"concurrent writers", testSQLConcurrent},
		{"bad rows", testSQLBadRows},
		{"eviction", func(t *testing.T, b backend) {
			n := 0
			testEviction(t, func(t *testing.T, max int) (Store, func() []string) {
				n++
				s := newSQLTestStore(t, b.open(t), "evict"+strconv.Itoa(n), max)
				return s, func() []string { return sqlDomains(t, s) }
			})
		}},
		{"max bytes", testSQLMaxBytes},
		{"lookup eviction attack", func(t *testing.T, b backend) {
			testLookupEvictionAttack(t, func(t *testing.T) Store { return newSQLTestStore(t, b.open(t), "attack", 2) })
		}},
		{"uses", testSQLUses},
		{"reads during a write", testSQLReadsDuringWrite},
		{"fleet", testSQLFleet},
	}
	forEachBackend(t, func(t *testing.T, b backend) {
		for _, sc := range scenarios {
			t.Run(sc.name, func(t *testing.T) { sc.run(t, b) })
		}
	})
}

// sqlDomains gives the domains of the rows of s's table.
func sqlDomains(t testing.TB, s *SQLStore) []string {
	t.Helper()
	rows, err := s.DB.Query(`SELECT domain FROM ` + s.Table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var d string
		if err := rows.Scan(&d); err != nil {
			t.Fatal(err)
		}
		out = append(out, d)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sqlInt gives one integer a query of s's table answers.
func sqlInt(t testing.TB, s *SQLStore, q string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.DB.QueryRow(strings.ReplaceAll(q, "TABLE", s.Table), args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func mustPolicy(t testing.TB, text string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// testSQLRoundTrip: what is put is read back as it was, under the names a
// domain may be given by, and misuse is refused.
func testSQLRoundTrip(t *testing.T, b backend) {
	ctx := t.Context()
	db := b.open(t)
	s := newSQLTestStore(t, db, "roundtrip", 0)
	var big strings.Builder
	big.WriteString(policyText(ModeEnforce, 86400, "mx.example.com"))
	for big.Len() < 64<<10-40 {
		big.WriteString("ext: " + strings.Repeat("v", 30) + "\r\n")
	}
	now := time.Now()
	tests := []struct {
		reason   string
		domain   string // put under
		get      string // read under
		text     string
		id       string
		fetched  time.Time
		wantText string // "" : text
	}{
		{"an enforce policy with two patterns", "a.example", "a.example",
			policyText(ModeEnforce, 86400, "mx.a.example", "*.a.example"), "20240101", now, ""},
		{"case and a trailing dot do not matter", "B.Example.", "b.EXAMPLE",
			policyText(ModeTesting, 604800, "mx.b.example"), "x", now.Add(-time.Hour), ""},
		{"mode none, no mx", "c.example", "c.example", policyText(ModeNone, 3600), "gone", now, ""},
		{"extensions kept, LF line ends read back as CRLF", "d.example", "d.example",
			"version: STSv1\nmode: enforce\nmx: mx.d.example\nmax_age: 600\nfoo: bar baz\n", "e",
			now.Add(-time.Minute), "version: STSv1\r\nmode: enforce\r\nmx: mx.d.example\r\nmax_age: 600\r\nfoo: bar baz\r\n"},
		{"a policy of 64 KiB", "e.example", "e.example", big.String(), strings.Repeat("i", 32), now, ""},
		{"UTF-8 in an extension, a time with nanoseconds", "f.example", "f.example",
			policyText(ModeEnforce, 86400, "mx.f.example") + "note: ✓ é\r\n", "f", now.Add(-123456789), ""},
	}
	for _, tt := range tests {
		p := mustPolicy(t, tt.text)
		if err := s.Put(ctx, tt.domain, Entry{Policy: p, ID: tt.id, Fetched: tt.fetched}); err != nil {
			t.Fatalf("%s: Put: %v", tt.reason, err)
		}
		e, ok, err := s.Get(ctx, tt.get)
		want := tt.wantText
		if want == "" {
			want = tt.text
		}
		switch {
		case err != nil || !ok:
			t.Errorf("%s: Get: %v %v", tt.reason, ok, err)
		case e.ID != tt.id || e.Policy.ID != tt.id || !e.Fetched.Equal(tt.fetched):
			t.Errorf("%s: read %q %q %v, put %q %v", tt.reason, e.ID, e.Policy.ID, e.Fetched, tt.id, tt.fetched)
		case e.Policy.String() != want:
			t.Errorf("%s: policy read back as %q, want %q", tt.reason, e.Policy.String(), want)
		}
	}
	if e, ok, err := s.Get(ctx, "unknown.example"); ok || err != nil || e.Policy != nil {
		t.Errorf("an unknown domain: %+v %v %v, want no entry and no error", e, ok, err)
	}
	if err := s.Put(ctx, "evil.example/x?", Entry{Policy: mustPolicy(t, tests[0].text), Fetched: now}); !errors.Is(err, ErrBadDomain) {
		t.Errorf("a Put of a name that is no domain: %v, want ErrBadDomain", err)
	}
	for _, bad := range []string{"x; DROP TABLE roundtrip", "1abc", "a.b", strings.Repeat("t", 57)} {
		s := &SQLStore{DB: db, Table: bad}
		if err := s.Init(ctx); !errors.Is(err, ErrBadTable) {
			t.Errorf("table %q: Init %v, want ErrBadTable", bad, err)
		}
		if _, _, err := s.Get(ctx, "a.example"); !errors.Is(err, ErrBadTable) {
			t.Errorf("table %q: Get %v, want ErrBadTable", bad, err)
		}
	}
	if _, _, err := (&SQLStore{}).Get(ctx, "a.example"); err == nil {
		t.Error("a SQLStore without DB is an error")
	}
}

// testSQLNewerWins: a Put replaces the row only with a newer fetch (RFC
// 8461 has a policy replaced by the one fetched later), so a slow MTA of
// the fleet cannot roll back a policy; rows that cannot be valid do not
// block the domain.
func testSQLNewerWins(t *testing.T, b backend) {
	type put struct {
		at     time.Duration // fetched at now + at
		id     string
		maxAge int
	}
	tests := []struct {
		reason string
		have   *put          // the row first; nil: none
		sleep  time.Duration // between the two Puts
		put    put
		want   string // the id then held; "": no row
	}{
		{"into an empty table", nil, 0, put{0, "x", 86400}, "x"},
		{"a newer fetch replaces the row", &put{-time.Hour, "old", 86400}, 0, put{0, "new", 86400}, "new"},
		{"an older fetch, from a slow MTA, does not roll the row back", &put{0, "new", 86400}, 0, put{-time.Hour, "old", 86400}, "new"},
		{"an older fetch with a longer max_age does not either", &put{0, "new", 3600}, 0, put{-time.Minute, "old", 31557600}, "new"},
		{"the same instant: the larger id wins, whatever the order (a)", &put{0, "a", 86400}, 0, put{0, "b", 86400}, "b"},
		{"the same instant: the larger id wins, whatever the order (b)", &put{0, "b", 86400}, 0, put{0, "a", 86400}, "b"},
		{"an expired row is replaced by an older fetch still valid", &put{-10 * time.Minute, "short", 3600}, 2 * time.Hour,
			put{-3 * time.Hour, "long", 86400}, "long"},
		{"a row fetched hours ahead of this clock (a clock gone wrong) is replaced", &put{3 * time.Hour, "future", 86400}, 0,
			put{0, "now", 86400}, "now"},
		{"a row a few minutes ahead (clocks that differ a little) is newer", &put{10 * time.Minute, "ahead", 86400}, 0,
			put{0, "now", 86400}, "ahead"},
		{"an expired entry removes an older row", &put{-time.Hour, "old", 86400}, 0, put{0, "zero", 0}, ""},
		{"an expired entry of an older fetch leaves a newer row", &put{0, "new", 86400}, 0, put{-48 * time.Hour, "stale", 86400}, "new"},
	}
	for i, tt := range tests {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx := t.Context()
				s := newSQLTestStore(t, b.open(t), "newer"+strconv.Itoa(i), 0)
				entry := func(p put) Entry {
					return Entry{Policy: mustPolicy(t, policyText(ModeEnforce, p.maxAge, p.id+".mx.example")), ID: p.id,
						Fetched: time.Now().Add(p.at)}
				}
				if tt.have != nil {
					if err := s.Put(ctx, "a.example", entry(*tt.have)); err != nil {
						t.Fatal(err)
					}
				}
				time.Sleep(tt.sleep)
				if err := s.Put(ctx, "a.example", entry(tt.put)); err != nil {
					t.Fatal(err)
				}
				e, ok, err := s.Get(ctx, "a.example")
				switch {
				case err != nil:
					t.Fatal(err)
				case tt.want == "" && ok:
					t.Errorf("row %q held, want none: %s", e.ID, tt.reason)
				case tt.want != "" && (!ok || e.ID != tt.want || !e.Policy.Match(tt.want+".mx.example")):
					t.Errorf("row %q (%v) held, want %q: %s", e.ID, ok, tt.want, tt.reason)
				}
				settle(s)
			})
		})
	}
}

// testSQLConcurrent: 8 writers put fetches of the same domains in random
// order, many at the same instant, while a reader reads them: every row
// read is one entry whole, and each domain ends with its newest fetch (the
// larger id among those of one instant). With a bound, 8 writers of new
// domains leave the table within it.
func testSQLConcurrent(t *testing.T, b backend) {
	ctx := context.Background()
	db := b.open(t)
	s := newSQLTestStore(t, db, "concurrent", 0)
	const writers, each = 8, 25
	domains := []string{"a.example", "b.example", "c.example", "d.example"}
	base := time.Now().Add(-time.Hour)
	type fetch struct {
		domain string
		e      Entry
	}
	var (
		all    [writers][]fetch
		newest = map[string]Entry{}
		at     = map[string]time.Time{} // each id's fetch time
	)
	for w := range writers {
		for k := range each {
			for _, d := range domains {
				id := fmt.Sprintf("w%02d-%03d", w, k)
				e := Entry{Policy: mustPolicy(t, policyText(ModeEnforce, 86400, id+".mx.example")), ID: id,
					Fetched: base.Add(time.Duration((w*each+k)%40) * time.Second)} // ties across writers
				all[w] = append(all[w], fetch{d, e})
				at[id] = e.Fetched
				if n, ok := newest[d]; !ok || n.Fetched.Before(e.Fetched) || (n.Fetched.Equal(e.Fetched) && n.ID < e.ID) {
					newest[d] = e
				}
			}
		}
		rand.Shuffle(len(all[w]), func(i, j int) { all[w][i], all[w][j] = all[w][j], all[w][i] })
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers+1)
	stop := make(chan struct{})
	reader := make(chan struct{})
	go func() {
		defer close(reader)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			d := domains[i%len(domains)]
			e, ok, err := s.Get(ctx, d)
			if err != nil {
				errs <- err
				return
			}
			if ok && (e.Policy.MX[0].Domain != e.ID+".mx.example" || !e.Fetched.Equal(at[e.ID])) {
				errs <- fmt.Errorf("%s read as a mixed row: id %q, policy for %q, fetched %v", d, e.ID, e.Policy.MX[0].Domain, e.Fetched)
				return
			}
		}
	}()
	for w := range writers {
		wg.Go(func() {
			for _, f := range all[w] {
				if err := s.Put(ctx, f.domain, f.e); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	<-reader
	settle(s)
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, d := range domains {
		e, ok, err := s.Get(ctx, d)
		if err != nil || !ok || e.ID != newest[d].ID || !e.Fetched.Equal(newest[d].Fetched) {
			t.Errorf("%s ends with %q at %v (%v %v), want the newest fetch %q at %v", d, e.ID, e.Fetched, ok, err,
				newest[d].ID, newest[d].Fetched)
		}
	}
	settle(s)

	// 8 writers of new domains into a bounded table: the table ends
	// within its bound (concurrent evictions may overlap and take a few
	// rows more, never fewer).
	const max = 50
	bounded := newSQLTestStore(t, db, "concurrent_bounded", max)
	p := mustPolicy(t, policyText(ModeEnforce, 86400, "mx.example"))
	errs = make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for k := range 30 {
				if err := bounded.Put(ctx, fmt.Sprintf("w%d-%d.example", w, k), Entry{Policy: p, ID: "x", Fetched: time.Now()}); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := sqlInt(t, bounded, `SELECT COUNT(*) FROM TABLE`); n > max || n == 0 {
		t.Errorf("%d rows after concurrent Puts, want some and at most MaxEntries %d", n, max)
	}
}

// testSQLBadRows: rows written by something else that do not parse are
// each skipped: the Get of its domain finds no entry and an error naming
// it, the others are read as before, eviction goes on around them, and a
// fetch replaces them.
func testSQLBadRows(t *testing.T, b backend) {
	ctx := t.Context()
	s := newSQLTestStore(t, b.open(t), "bad_rows", 0)
	now := time.Now()
	good := policyText(ModeEnforce, 86400, "mx.example.com")
	for _, d := range []string{"good.example", "also.example"} {
		if err := s.Put(ctx, d, Entry{Policy: mustPolicy(t, good), ID: "g", Fetched: now}); err != nil {
			t.Fatal(err)
		}
	}
	fetched, expires := now.Add(-time.Hour).UnixNano(), now.Add(time.Hour).UnixNano()
	tests := []struct {
		reason     string
		domain     string
		fetched    any
		policy     string
		want       string // in the error besides the domain
		sqliteOnly bool   // PostgreSQL refuses the row
	}{
		{"a mode that does not exist", "mode.example", fetched, "version: STSv1\r\nmode: sometimes\r\nmx: mx.example.com\r\nmax_age: 86400\r\n", `mode "sometimes"`, false},
		{"no version", "version.example", fetched, "mode: enforce\r\nmx: mx.example.com\r\nmax_age: 86400\r\n", "no version", false},
		{"not a policy at all", "json.example", fetched, `{"mode": "enforce"}`, "is not", false},
		{"an empty policy", "empty.example", fetched, "", "no version", false},
		{"not UTF-8", "latin1.example", fetched, "version: STSv1\r\nmode: enforce\r\nmx: mx.exampl\xe9.com\r\nmax_age: 86400\r\n", "UTF-8", true},
		{"a fetch time that is no number", "time.example", "yesterday", good, "fetched", true},
	}
	for _, tt := range tests {
		if tt.sqliteOnly && !b.sqlite {
			continue
		}
		if _, err := s.DB.ExecContext(ctx, `INSERT INTO bad_rows (domain, policy_id, fetched, expires, enforce, size, last_used, policy)
			VALUES ($1, 'bad', $2, $3, 1, 100, 0, $4)`, tt.domain, tt.fetched, expires, tt.policy); err != nil {
			t.Fatalf("%s: %v", tt.reason, err)
		}
		e, ok, err := s.Get(ctx, tt.domain)
		if ok || e.Policy != nil || err == nil || !strings.Contains(err.Error(), strconv.Quote(tt.domain)) ||
			!strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Get %+v %v %v, want no entry and an error naming %q with %q", tt.reason, e, ok, err, tt.domain, tt.want)
		}
		for _, d := range []string{"good.example", "also.example"} {
			if e, ok, err := s.Get(ctx, d); !ok || err != nil || e.ID != "g" {
				t.Errorf("%s: the good row %s: %+v %v %v", tt.reason, d, e, ok, err)
			}
		}
	}
	// A fetch replaces each bad row.
	for _, tt := range tests {
		if tt.sqliteOnly && !b.sqlite {
			continue
		}
		if err := s.Put(ctx, tt.domain, Entry{Policy: mustPolicy(t, good), ID: "new", Fetched: time.Now()}); err != nil {
			t.Fatalf("%s: Put: %v", tt.reason, err)
		}
		if e, ok, err := s.Get(ctx, tt.domain); !ok || err != nil || e.ID != "new" {
			t.Errorf("%s: after a fetch: %+v %v %v, want the new entry", tt.reason, e, ok, err)
		}
	}
	// Eviction goes on around a bad row, evicting it first: nothing uses it.
	if _, err := s.DB.ExecContext(ctx, `INSERT INTO bad_rows (domain, policy_id, fetched, expires, enforce, size, last_used, policy)
		VALUES ('junk.example', 'bad', $1, $2, 1, 100, 0, 'junk')`, fetched, expires); err != nil {
		t.Fatal(err)
	}
	s.MaxEntries = int(sqlInt(t, s, `SELECT COUNT(*) FROM TABLE`))
	if err := s.Put(ctx, "more.example", Entry{Policy: mustPolicy(t, good), ID: "m", Fetched: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if n := sqlInt(t, s, `SELECT COUNT(*) FROM TABLE WHERE domain = 'junk.example'`); n != 0 {
		t.Error("the bad row, never used, was not evicted first")
	}
}

// testSQLMaxBytes: the table is bounded in bytes as well, by the same
// order of eviction: a flood of an attacker's 64 KiB policies stays within
// MaxBytes and leaves the victim's small policy in use; a policy larger
// than MaxBytes is still kept, alone.
func testSQLMaxBytes(t *testing.T, b backend) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		db := b.open(t)
		var body strings.Builder
		body.WriteString(policyText(ModeEnforce, 31557600, "mx.evil.example"))
		for body.Len() < 64<<10-10 {
			body.WriteString("x: y\r\n")
		}
		big := mustPolicy(t, body.String())
		small := mustPolicy(t, policyText(ModeEnforce, 86400, "mx.victim.example"))
		s := newSQLTestStore(t, db, "max_bytes", 0)
		s.MaxBytes = 200 << 10
		if err := s.Put(ctx, "victim.example", Entry{Policy: small, ID: "v", Fetched: time.Now()}); err != nil {
			t.Fatal(err)
		}
		for i := range 10 {
			time.Sleep(2 * time.Minute)
			if err := s.Put(ctx, "evil"+itoa(i)+".example", Entry{Policy: big, ID: "e", Fetched: time.Now()}); err != nil {
				t.Fatal(err)
			}
			time.Sleep(2 * time.Minute)
			if _, ok, err := s.Get(ctx, "victim.example"); !ok || err != nil {
				t.Fatalf("after %d of the attacker's policies the victim's is gone (%v)", i+1, err)
			}
			settle(s)
			if n := sqlInt(t, s, `SELECT CAST(SUM(size) AS BIGINT) FROM TABLE`); n > s.MaxBytes {
				t.Fatalf("after %d of the attacker's policies: %d bytes, over MaxBytes %d", i+1, n, s.MaxBytes)
			}
		}
		if n := len(sqlDomains(t, s)); n != 4 {
			t.Errorf("%d rows, want the victim's and the 3 of the attacker's that fit in 200 KiB", n)
		}

		// A large policy put among many small ones evicts as many of them
		// as its bytes need, in one Put.
		many := newSQLTestStore(t, db, "max_bytes_many", 0)
		many.MaxBytes = 80 << 10
		for i := range 100 {
			if err := many.Put(ctx, "small"+itoa(i)+".example", Entry{Policy: small, ID: "s", Fetched: time.Now()}); err != nil {
				t.Fatal(err)
			}
		}
		if err := many.Put(ctx, "evil.example", Entry{Policy: big, ID: "e", Fetched: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if n := sqlInt(t, many, `SELECT CAST(SUM(size) AS BIGINT) FROM TABLE`); n > many.MaxBytes {
			t.Errorf("a large policy among 100 small ones: %d bytes, over MaxBytes %d", n, many.MaxBytes)
		}
		if n := sqlInt(t, many, `SELECT COUNT(*) FROM TABLE`); n < 50 {
			t.Errorf("a large policy among 100 small ones left %d rows: more evicted than its bytes need", n)
		}

		one := newSQLTestStore(t, db, "max_bytes_one", 0)
		one.MaxBytes = 1000
		for _, d := range []string{"a.example", "b.example"} {
			if err := one.Put(ctx, d, Entry{Policy: big, ID: "e", Fetched: time.Now()}); err != nil {
				t.Fatal(err)
			}
			if got := sqlDomains(t, one); len(got) != 1 || got[0] != d {
				t.Errorf("a policy larger than MaxBytes: %q held, want %s alone", got, d)
			}
		}
	})
}

// testSQLUses: a Get records its use in last_used at most once a minute
// (a busy domain costs an UPDATE a minute, not one a delivery), and not at
// all for an expired row.
func testSQLUses(t *testing.T, b backend) {
	synctest.Test(t, func(t *testing.T) {
		ctx := t.Context()
		s := newSQLTestStore(t, b.open(t), "uses", 0)
		t0 := time.Now()
		if err := s.Put(ctx, "a.example", Entry{Policy: mustPolicy(t, policyText(ModeEnforce, 3600, "mx.example")), ID: "x", Fetched: t0}); err != nil {
			t.Fatal(err)
		}
		steps := []struct {
			reason string
			after  time.Duration // since the step before
			want   time.Duration // last_used - t0
		}{
			{"a Get within a minute of the put writes nothing", 30 * time.Second, 0},
			{"a Get a minute after the last use records it", 31 * time.Second, 61 * time.Second},
			{"a Get 10 seconds later writes nothing", 10 * time.Second, 61 * time.Second},
			{"a Get 59 seconds after the last recorded use writes nothing", 49 * time.Second, 61 * time.Second},
			{"a Get 5 minutes later records it", 5 * time.Minute, 7 * time.Minute},
			{"a Get of the row expired writes nothing", time.Hour, 7 * time.Minute},
		}
		for _, st := range steps {
			time.Sleep(st.after)
			if _, ok, err := s.Get(ctx, "a.example"); !ok || err != nil {
				t.Fatal(ok, err)
			}
			settle(s)
			if got := time.Duration(sqlInt(t, s, `SELECT last_used FROM TABLE`) - t0.UnixNano()); got != st.want {
				t.Errorf("last_used at t0+%v, want t0+%v: %s", got, st.want, st.reason)
			}
		}
	})
}

// testSQLReadsDuringWrite: a Get answers while another writer holds the
// row (PostgreSQL: its row lock; SQLite: the database's write lock) in a
// transaction left open, even when it is due to record its use: the use
// is written after the Get returns, once the writer is done. A Get that
// wrote the use itself would wait for the writer's commit.
func testSQLReadsDuringWrite(t *testing.T, b backend) {
	ctx := context.Background()
	db := b.open(t)
	s := newSQLTestStore(t, db, "reads", 0)
	if err := s.Put(ctx, "a.example", Entry{Policy: mustPolicy(t, policyText(ModeEnforce, 86400, "mx.example")), ID: "x", Fetched: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`UPDATE reads SET last_used = 0`); err != nil { // due for its use to be recorded
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tx.Exec(`UPDATE reads SET size = size + 1 WHERE domain = 'a.example'`); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		e, ok, err := s.Get(ctx, "a.example")
		if err == nil && (!ok || e.ID != "x") {
			err = fmt.Errorf("read %+v %v", e, ok)
		}
		done <- err
	}()
	waited := false
	select {
	case err := <-done:
		if err != nil {
			t.Error(err)
		}
	case <-time.After(10 * time.Second): // a deadlock detector, not a timing
		t.Error("Get waited behind a writer")
		waited = true
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if waited {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	settle(s)
	if n := sqlInt(t, s, `SELECT last_used FROM TABLE`); n == 0 {
		t.Error("the use was not recorded once the writer was done")
	}
}

// testSQLFleet: two MTAs (two Clients, two SQLStores over one table)
// share what they fetch: a policy one fetched is the other's, no fetch of
// its own, and a policy changed by one is seen by the other at once (no
// copy in the process hides it), and kept in force when its fetch is
// blocked.
func testSQLFleet(t *testing.T, b backend) {
	synctest.Test(t, func(t *testing.T) {
		db := b.open(t)
		e := newLookupEnv(t, newSQLTestStore(t, db, "fleet", 0))
		a := e.c
		other := &Client{TXT: e.txt.lookup, Fetcher: a.Fetcher, Store: &SQLStore{DB: db, Table: "fleet"}}
		on := func(c *Client) func(*lookupEnv) { return func(e *lookupEnv) { e.c = c } }
		e.run(t, dom, []step{
			{reason: "MTA A fetches the policy", before: both(on(a), txt("v=STSv1; id=one"), serveMX("mx1.a.example", 86400)),
				status: StatusFetched, mx: "mx1.a.example", id: "one", fetches: 1},
			{reason: "MTA B finds it in the table: no fetch", before: both(on(other), later(time.Minute)),
				status: StatusCached, mx: "mx1.a.example", id: "one", fetches: 1},
			{reason: "the domain changes its policy: B fetches it", before: both(txt("v=STSv1; id=two"), serveMX("mx2.a.example", 86400), later(time.Minute)),
				status: StatusFetched, mx: "mx2.a.example", id: "two", fetches: 2},
			{reason: "A sees B's fetch at once: no fetch", before: both(on(a), later(time.Minute)),
				status: StatusCached, mx: "mx2.a.example", id: "two", fetches: 2},
			{reason: "record and policy host blocked: A keeps B's policy in force", before: both(txt(), failHTTP),
				status: StatusKept, mx: "mx2.a.example", id: "two", fetches: 2, errIs: ErrNoRecord},
		})
		settle(a.Store)
		settle(other.Store)
	})
}

// BenchmarkSQLStoreGet: a Get of a policy held (the Store's part of every
// Lookup), against SQLite (a file) and a PostgreSQL on loopback, beside a
// MemoryStore's.
func BenchmarkSQLStoreGet(b *testing.B) {
	ctx := context.Background()
	p, err := ParsePolicy([]byte(policyText(ModeEnforce, 86400, "mx1.example.com", "*.example.net")))
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, s Store) {
		for i := range 1000 {
			if err := s.Put(ctx, "d"+itoa(i)+".example", Entry{Policy: p, ID: "x", Fetched: time.Now()}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if _, ok, err := s.Get(ctx, "d"+itoa(i%1000)+".example"); !ok || err != nil {
				b.Fatal(ok, err)
			}
			i++
		}
		settle(s)
	}
	b.Run("memory", func(b *testing.B) { run(b, &MemoryStore{}) })
	b.Run("sqlite", func(b *testing.B) {
		db := backend{driver: "sqlite", dsn: "file:" + filepath.Join(b.TempDir(), "sts.db") + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)"}.open(b)
		run(b, newSQLTestStore(b, db, "bench", 0))
	})
	b.Run("postgres", func(b *testing.B) {
		db := backend{driver: "pgx", dsn: pgtest.Start(b).DSN}.open(b)
		run(b, newSQLTestStore(b, db, "bench", 0))
	})
}

// BenchmarkSQLStorePutFull: a Put of a new domain into a full table of
// 10,000 rows, each evicting one: the upsert, a count of the rows, and the
// DELETEs of the expired rows and of the least recently used, through
// their indexes.
func BenchmarkSQLStorePutFull(b *testing.B) {
	ctx := context.Background()
	p, err := ParsePolicy([]byte(policyText(ModeEnforce, 86400, "mx1.example.com", "*.example.net")))
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, db *sql.DB) {
		s := newSQLTestStore(b, db, "bench_full", 0)
		// Filled in one statement: 10,000 Puts would take long.
		for i := 0; i < defaultMaxEntries; i += 500 {
			var q strings.Builder
			q.WriteString(`INSERT INTO bench_full (domain, policy_id, fetched, expires, enforce, size, last_used, policy) VALUES `)
			for j := i; j < i+500; j++ {
				if j > i {
					q.WriteString(", ")
				}
				now := time.Now()
				fmt.Fprintf(&q, "('f%d.example', 'x', %d, %d, 1, 200, %d, '%s')", j, now.UnixNano(),
					now.Add(p.MaxAge).UnixNano(), now.UnixNano()+int64(j), p.String())
			}
			if _, err := db.Exec(q.String()); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if err := s.Put(ctx, "n"+itoa(i)+".example", Entry{Policy: p, ID: "x", Fetched: time.Now()}); err != nil {
				b.Fatal(err)
			}
			i++
		}
		if n := sqlInt(b, s, `SELECT COUNT(*) FROM TABLE`); n != defaultMaxEntries {
			b.Fatalf("%d rows", n)
		}
	}
	b.Run("sqlite", func(b *testing.B) {
		run(b, backend{driver: "sqlite", dsn: "file:" + filepath.Join(b.TempDir(), "sts.db") + "?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)"}.open(b))
	})
	b.Run("postgres", func(b *testing.B) {
		run(b, backend{driver: "pgx", dsn: pgtest.Start(b).DSN}.open(b))
	})
}
