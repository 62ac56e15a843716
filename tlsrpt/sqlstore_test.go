package tlsrpt

import (
	"database/sql"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mxroute-go/mxroute/internal/pgtest"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// openSQLite opens a fresh SQLite database file, writers waiting for one
// another rather than failing (the busy timeout SQLStore's doc asks for).
func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tlsrpt.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newSQLStore makes the table of a store and checks that Init may run
// again.
func newSQLStore(t *testing.T, db *sql.DB, table string) *SQLStore {
	t.Helper()
	s := &SQLStore{DB: db, Table: table}
	for range 2 {
		if err := s.Init(t.Context()); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// TestSQLStoreSQLite: the Store contract, rows that do not parse, and 8
// concurrent writers, against SQLite (modernc.org/sqlite, pure Go).
func TestSQLStoreSQLite(t *testing.T) {
	db := openSQLite(t)
	t.Run("contract", func(t *testing.T) { testStore(t, newSQLStore(t, db, "")) })
	t.Run("bad rows", func(t *testing.T) { testBadRows(t, db, newSQLStore(t, db, "bad_rows")) })
	t.Run("concurrent", func(t *testing.T) { testConcurrent(t, newSQLStore(t, db, "concurrent"), 8, 400) })
}

// TestSQLStorePostgres: the same against a real PostgreSQL, started for
// the test (internal/pgtest; skipped without it, failed under CI=true).
func TestSQLStorePostgres(t *testing.T) {
	srv := pgtest.Start(t)
	db, err := sql.Open("pgx", srv.DSN)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	t.Run("contract", func(t *testing.T) { testStore(t, newSQLStore(t, db, "")) })
	t.Run("bad rows", func(t *testing.T) { testBadRows(t, db, newSQLStore(t, db, "bad_rows")) })
	t.Run("concurrent", func(t *testing.T) { testConcurrent(t, newSQLStore(t, db, "concurrent"), 8, 1000) })
}

// testBadRows: rows written by something else that do not parse are each
// skipped with an error naming them, and never hide the good rows.
func testBadRows(t *testing.T, db *sql.DB, s *SQLStore) {
	ctx := t.Context()
	good := testKeys()[:3]
	for _, k := range good {
		if err := s.Add(ctx, k, 7); err != nil {
			t.Fatal(err)
		}
	}
	day := storeDay.String()
	for _, r := range []struct {
		row  []any
		want string // in the error
	}{
		{[]any{day, "example.com", "k1", "sts", "not json", "[]", "", "", "", "", "", "", "", 1}, `policy_string "not json"`},
		{[]any{day, "example.com", "k2", "sts", "[]", "{}", "", "", "", "", "", "", "", 1}, `mx_host "{}"`},
		{[]any{day, "example.com", "k3", "sts", "[]", "[]", "certificate-revoked", "", "", "", "", "", "", 1}, `result type "certificate-revoked"`},
		{[]any{day, "example.com", "k4", "dmarc", "[]", "[]", "", "", "", "", "", "", "", 1}, `policy type "dmarc"`},
		{[]any{day, "example.com", "k5", "sts", "[]", "[]", "starttls-not-supported", "192.0.2.999", "", "", "", "", "", 1}, `address "192.0.2.999"`},
		{[]any{day, "Example.COM", "k6", "sts", "[]", "[]", "", "", "", "", "", "", "", 1}, `policy domain "Example.COM"`},
		{[]any{day, "example.com", "k7", "sts", "[]", "[]", "", "", "", "", "", "", "", -3}, `count -3`},
		{[]any{"0000-00-00", "example.com", "k8", "sts", "[]", "[]", "", "", "", "", "", "", "", 1}, `day "0000-00-00"`},
	} {
		if _, err := db.ExecContext(ctx, `INSERT INTO bad_rows (`+sqlColumns+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)`, r.row...); err != nil {
			t.Fatal(err)
		}
		if r.row[0] != day {
			_, err := s.Pending(ctx, storeDay.AddDays(1))
			if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), r.want) {
				t.Errorf("Pending: %v, want an error with %q", err, r.want)
			}
			continue
		}
		cs, err := s.Counters(ctx, storeDay, "")
		if len(cs) != len(good) {
			t.Errorf("%d counters read, want the %d good ones", len(cs), len(good))
		}
		for _, c := range cs {
			if c.N != 7 {
				t.Errorf("a good counter reads %d, want 7", c.N)
			}
		}
		if !errors.Is(err, ErrBadKey) || !strings.Contains(err.Error(), r.want) {
			t.Errorf("Counters: %v, want an error with %q", err, r.want)
		}
	}
	p, err := s.Pending(ctx, storeDay.AddDays(1))
	if len(p) != 1 || p[0] != (DomainDay{"example.com", storeDay}) || err == nil {
		t.Errorf("Pending with a bad day row: %v, %v; want the good domain and an error", p, err)
	}
	for _, bad := range []string{"x; DROP TABLE bad_rows", "1abc", "a.b", strings.Repeat("t", 64)} {
		s := &SQLStore{DB: db, Table: bad}
		if err := s.Init(ctx); !errors.Is(err, ErrBadTable) {
			t.Errorf("table %q: %v, want ErrBadTable", bad, err)
		}
	}
}
