package mxroute

import (
	"database/sql"
	"errors"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/mxroute-go/mxroute/internal/pgtest"

	_ "github.com/jackc/pgx/v5/stdlib"
	_ "modernc.org/sqlite"
)

// openSQLite opens a fresh SQLite database file, writers waiting for one
// another rather than failing (the busy timeout SQLBackoff's doc asks for).
func openSQLite(t *testing.T) *sql.DB {
	t.Helper()
	path := filepath.Join(t.TempDir(), "backoff.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(30000)&_pragma=journal_mode(WAL)")
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// newSQLBackoff makes the table of a store and checks that Init may run
// again.
func newSQLBackoff(t *testing.T, db *sql.DB, table string) *SQLBackoff {
	t.Helper()
	s := &SQLBackoff{DB: db, Table: table}
	for range 2 {
		require.NoError(t, s.Init(t.Context()))
	}
	return s
}

// TestSQLBackoffSQLite: the contract, the schedule computed in SQL, rows
// that do not parse, and concurrent writers, against SQLite
// (modernc.org/sqlite, pure Go).
func TestSQLBackoffSQLite(t *testing.T) {
	testSQLBackoff(t, openSQLite(t), 8, 100)
}

// TestSQLBackoffPostgres: the same against a real PostgreSQL, started for
// the test (internal/pgtest; skipped without it, failed under CI=true).
func TestSQLBackoffPostgres(t *testing.T) {
	srv := pgtest.Start(t)
	db, err := sql.Open("pgx", srv.DSN)
	require.NoError(t, err)
	defer db.Close()
	testSQLBackoff(t, db, 8, 250)
}

func testSQLBackoff(t *testing.T, db *sql.DB, writers, each int) {
	t.Run("contract", func(t *testing.T) { testBackoffStore(t, newSQLBackoff(t, db, "")) })
	t.Run("schedule", func(t *testing.T) {
		var k int64
		s := newSQLBackoff(t, db, "schedule")
		s.jitter = func() int64 { return k }
		testBackoffSchedule(t, s, func(a netip.AddrPort, st BackoffState) { insertBackoffRow(t, db, "schedule", a.String(), st) }, &k)
	})
	t.Run("bad rows", func(t *testing.T) { testSQLBackoffBadRows(t, db, newSQLBackoff(t, db, "bad_rows")) })
	t.Run("concurrent", func(t *testing.T) { testBackoffConcurrent(t, newSQLBackoff(t, db, "concurrent"), writers, each) })
	t.Run("prune", func(t *testing.T) {
		s := newSQLBackoff(t, db, "prune")
		for i, at := range []int64{t0, t0 + hr, t0 + 2*hr} {
			_, err := s.Fail(t.Context(), netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 25), time.UnixMilli(at), FailRefused)
			require.NoError(t, err)
		}
		n, err := s.Prune(t.Context(), time.UnixMilli(t0+hr))
		require.NoError(t, err)
		assert.Equal(t, int64(1), n)
		es, err := s.Entries(t.Context())
		require.NoError(t, err)
		assert.ElementsMatch(t, []netip.AddrPort{ap("192.0.2.1:25"), ap("192.0.2.2:25")}, entryAddrs(es))
	})
	t.Run("bad tables", func(t *testing.T) {
		for _, bad := range []string{"x; DROP TABLE bad_rows", "1abc", "a.b", strings.Repeat("t", 64)} {
			s := &SQLBackoff{DB: db, Table: bad}
			assert.ErrorIs(t, s.Init(t.Context()), ErrBadTable, "%q", bad)
			_, err := s.Get(t.Context(), ap("192.0.2.1:25"))
			assert.ErrorIs(t, err, ErrBadTable, "%q", bad)
		}
		_, err := (&SQLBackoff{}).Get(t.Context(), ap("192.0.2.1:25"))
		assert.Error(t, err, "no DB")
	})
}

// insertBackoffRow writes a row as another program might.
func insertBackoffRow(t *testing.T, db *sql.DB, table, addr string, st BackoffState) {
	t.Helper()
	insertRawBackoffRow(t, db, table, addr, int64(st.Failures), st.First.UnixMilli(), st.Last.UnixMilli(), st.Retry.UnixMilli(), st.Reason.String())
}

func insertRawBackoffRow(t *testing.T, db *sql.DB, table, addr string, failures, first, last, retry int64, reason string) {
	t.Helper()
	_, err := db.ExecContext(t.Context(), `INSERT INTO `+table+` (`+backoffColumns+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		addr, failures, first, last, retry, reason)
	require.NoError(t, err)
}

// testSQLBackoffBadRows: rows written by something else that do not parse
// are each skipped with an error naming them, and never hide the good rows;
// Get of such a row is an error and no state; Fail over one with no
// failures starts afresh.
func testSQLBackoffBadRows(t *testing.T, db *sql.DB, s *SQLBackoff) {
	ctx := t.Context()
	good := []string{"192.0.2.1:25", "[2001:db8::1]:25"}
	for _, a := range good {
		_, err := s.Fail(ctx, ap(a), time.UnixMilli(t0), FailConnectTimeout)
		require.NoError(t, err)
	}
	rows := []struct {
		addr                         string
		failures, first, last, retry int64
		reason                       string
		want                         string // in the error
	}{
		{"192.0.2.999:25", 1, t0, t0, t0 + mn, "refused", `address "192.0.2.999:25"`},
		{"mx.example:25", 1, t0, t0, t0 + mn, "refused", `address "mx.example:25"`},
		{"192.0.2.3:25", 1, t0, t0, t0 + mn, "cancelled", "reason cancelled"},
		{"192.0.2.4:25", 1, t0, t0, t0 + mn, "", `reason ""`},
		{"192.0.2.5:25", 0, t0, t0, t0 + mn, "refused", "0 failures"},
		{"192.0.2.6:25", 1, t0 + 1, t0, t0 + mn, "refused", "first failure"},
		{"192.0.2.7:25", 1, t0, t0, t0, "refused", "retry"},
		{"192.0.2.8:25", 1, t0, t0, t0 + 2*hr, "refused", "retry"},
	}
	for _, r := range rows {
		insertRawBackoffRow(t, db, "bad_rows", r.addr, r.failures, r.first, r.last, r.retry, r.reason)
	}
	es, err := s.Entries(ctx)
	assert.ErrorIs(t, err, ErrBadBackoff)
	for _, r := range rows {
		assert.ErrorContains(t, err, r.want)
		assert.ErrorContains(t, err, "bad_rows row "+`"`+r.addr+`"`)
	}
	assert.ElementsMatch(t, []netip.AddrPort{ap(good[0]), ap(good[1])}, entryAddrs(es), "the good rows, all")

	st, err := s.Get(ctx, ap("192.0.2.3:25"))
	assert.ErrorIs(t, err, ErrBadBackoff)
	assert.ErrorContains(t, err, "reason cancelled")
	assert.Zero(t, st)

	st, err = s.Fail(ctx, ap("192.0.2.5:25"), time.UnixMilli(t0+hr), FailRefused)
	require.NoError(t, err)
	assert.Equal(t, state(1, t0+hr, t0+hr, st.Retry.UnixMilli(), FailRefused), st, "a row of no failures starts afresh")

	_, err = s.Get(ctx, ap("192.0.2.1:25"))
	assert.NoError(t, err)
	assert.False(t, errors.Is(err, ErrBadTable))
}
