package mxroute

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// SQLBackoff is a BackoffStore in a SQL database that a fleet of MTAs
// shares, so that an address one of them found dead is tried last by all:
// PostgreSQL (9.5 and later) or SQLite (3.35 and later). The caller opens
// the *sql.DB with the driver of its choice; this package imports none.
// Each Fail is one upsert ("INSERT ... ON CONFLICT ... DO UPDATE ...
// RETURNING") that computes the count, the times and the retry of
// BackoffState.Next in SQL from the row as it stands, which the database
// applies atomically: concurrent writers, in one process or many, lose no
// failure. Get and Clear are one statement each. With SQLite, open the
// database with a busy timeout (e.g. modernc.org/sqlite's
// "_pragma=busy_timeout(5000)") so that writers wait for one another
// rather than fail.
//
// Rows are never removed but by Clear and Prune: an address that is never
// dialled again keeps its row; Prune removes those whose last failure is
// old. The zero value is not usable: DB is required. Call Init once to
// create the table.
type SQLBackoff struct {
	// DB is the database. Required.
	DB *sql.DB
	// Table is the table's name: a letter or "_", then letters, digits,
	// "_", at most 63. Zero: "mxroute_backoff".
	Table string

	jitter func() int64 // tests; nil: random
}

// ErrBadTable: SQLBackoff.Table is not a plain SQL identifier (it is put
// into statements, so nothing else is accepted).
var ErrBadTable = errors.New("mxroute: malformed SQL table name")

var sqlTableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

func (s *SQLBackoff) table() (string, error) {
	t := s.Table
	if t == "" {
		t = "mxroute_backoff"
	}
	if !sqlTableRE.MatchString(t) {
		return "", fmt.Errorf("%w: %q", ErrBadTable, t)
	}
	if s.DB == nil {
		return "", errors.New("mxroute: SQLBackoff without a DB")
	}
	return t, nil
}

// The columns of a row, in the order of every statement here: the address
// as netip.AddrPort gives it ("192.0.2.1:25", "[2001:db8::1]:25"), the
// times in Unix milliseconds, the reason by its name (Failure.String).
const backoffColumns = `addr, failures, first_failure, last_failure, retry_at, reason`

// Init creates the table if it does not exist.
func (s *SQLBackoff) Init(ctx context.Context) error {
	t, err := s.table()
	if err != nil {
		return err
	}
	_, err = s.DB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+t+` (
	addr TEXT NOT NULL PRIMARY KEY,
	failures BIGINT NOT NULL,
	first_failure BIGINT NOT NULL,
	last_failure BIGINT NOT NULL,
	retry_at BIGINT NOT NULL,
	reason TEXT NOT NULL
)`)
	if err != nil {
		return fmt.Errorf("mxroute: creating table %s: %w", t, err)
	}
	return nil
}

// Get gives what is remembered of addr. A row that does not parse is an
// error wrapping ErrBadBackoff, with the zero state.
func (s *SQLBackoff) Get(ctx context.Context, addr netip.AddrPort) (BackoffState, error) {
	t, err := s.table()
	if err != nil {
		return BackoffState{}, err
	}
	row := s.DB.QueryRowContext(ctx, `SELECT `+backoffColumns+` FROM `+t+` WHERE addr = $1`, addr.String())
	_, st, err := scanBackoff(t, row)
	if errors.Is(err, sql.ErrNoRows) {
		return BackoffState{}, nil
	}
	return st, err
}

// The upsert of Fail: BackoffState.next in SQL, over the row as it stands
// ({T}.col is the old value in every SET expression). $1 addr, $2 the
// failure's time, $3 its reason, $4 the retry of a first failure, $5 the
// time before which a last failure is forgotten, $6 jitter's k. {W} is the
// time the address has been failing, within [{MIN}, {MAX}], and {RETRY} $2
// plus {W} shortened by {W}*k/1024, as jitter does.
const backoffUpsert = `INSERT INTO {T} (` + backoffColumns + `)
VALUES ($1, 1, $2, $2, $4, $3)
ON CONFLICT (addr) DO UPDATE SET
	failures = CASE WHEN {FRESH} THEN 1 ELSE {T}.failures + 1 END,
	first_failure = CASE WHEN {FRESH} OR {T}.first_failure > $2 THEN $2 ELSE {T}.first_failure END,
	last_failure = CASE WHEN {FRESH} OR {T}.last_failure < $2 THEN $2 ELSE {T}.last_failure END,
	retry_at = CASE WHEN {FRESH} THEN $4
		WHEN {T}.retry_at > {RETRY} AND {T}.retry_at <= (CASE WHEN {T}.last_failure > $2 THEN {T}.last_failure ELSE $2 END) + {MAX} THEN {T}.retry_at
		ELSE {RETRY} END,
	reason = $3
RETURNING ` + backoffColumns

// failSQL is backoffUpsert for table t.
func failSQL(t string) string {
	q := strings.NewReplacer(
		"{FRESH}", `({T}.failures < 1 OR {T}.last_failure < $5)`,
		"{RETRY}", `($2 + {W} - {W} * $6 / `+strconv.Itoa(jitterDiv)+`)`,
	).Replace(backoffUpsert)
	q = strings.ReplaceAll(q, "{W}",
		`(CASE WHEN $2 - {T}.first_failure < {MIN} THEN {MIN} WHEN $2 - {T}.first_failure > {MAX} THEN {MAX} ELSE $2 - {T}.first_failure END)`)
	return strings.NewReplacer(
		"{T}", t,
		"{MIN}", strconv.FormatInt(backoffMin, 10),
		"{MAX}", strconv.FormatInt(backoffMax, 10),
	).Replace(q)
}

// Fail records a failure of addr at at, in one upsert.
func (s *SQLBackoff) Fail(ctx context.Context, addr netip.AddrPort, at time.Time, reason Failure) (BackoffState, error) {
	t, err := s.table()
	if err != nil {
		return BackoffState{}, err
	}
	if err := checkAddr(addr); err != nil {
		return BackoffState{}, err
	}
	ms, k := at.UnixMilli(), drawJitter(s.jitter)
	row := s.DB.QueryRowContext(ctx, failSQL(t), addr.String(), ms, reason.String(), ms+jitter(backoffMin, k), ms-backoffForget, k)
	_, st, err := scanBackoff(t, row)
	if err != nil {
		return BackoffState{}, fmt.Errorf("mxroute: recording a failure of %s: %w", addr, err)
	}
	return st, nil
}

// Clear forgets addr.
func (s *SQLBackoff) Clear(ctx context.Context, addr netip.AddrPort) error {
	t, err := s.table()
	if err != nil {
		return err
	}
	if _, err := s.DB.ExecContext(ctx, `DELETE FROM `+t+` WHERE addr = $1`, addr.String()); err != nil {
		return fmt.Errorf("mxroute: forgetting %s: %w", addr, err)
	}
	return nil
}

// Prune removes the addresses whose last failure is before before, and
// says how many: rows that only order nothing any more (their backoff
// ended), e.g. before time.Now().Add(-24 * time.Hour), after which
// BackoffState.Next starts afresh anyway.
func (s *SQLBackoff) Prune(ctx context.Context, before time.Time) (int64, error) {
	t, err := s.table()
	if err != nil {
		return 0, err
	}
	res, err := s.DB.ExecContext(ctx, `DELETE FROM `+t+` WHERE last_failure < $1`, before.UnixMilli())
	if err != nil {
		return 0, fmt.Errorf("mxroute: pruning %s: %w", t, err)
	}
	return res.RowsAffected()
}

// Entries lists every address remembered, in no order. A row that does not
// parse is left out, its error joined to the one returned, and the others
// are read all the same.
func (s *SQLBackoff) Entries(ctx context.Context) ([]BackoffEntry, error) {
	t, err := s.table()
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT `+backoffColumns+` FROM `+t)
	if err != nil {
		return nil, fmt.Errorf("mxroute: reading %s: %w", t, err)
	}
	defer rows.Close()
	var out []BackoffEntry
	var errs []error
	for rows.Next() {
		addr, st, err := scanBackoff(t, rows)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out = append(out, BackoffEntry{Addr: addr, BackoffState: st})
	}
	if err := rows.Err(); err != nil {
		errs = append(errs, fmt.Errorf("mxroute: reading %s: %w", t, err))
	}
	return out, errors.Join(errs...)
}

// scanBackoff reads one row, or says why it does not parse (sql.ErrNoRows
// as it is).
func scanBackoff(t string, row interface{ Scan(...any) error }) (netip.AddrPort, BackoffState, error) {
	var (
		addr, reason                string
		failures, first, last, retr int64
	)
	if err := row.Scan(&addr, &failures, &first, &last, &retr, &reason); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return netip.AddrPort{}, BackoffState{}, err
		}
		return netip.AddrPort{}, BackoffState{}, fmt.Errorf("%w: a row of %s: %w", ErrBadBackoff, t, err)
	}
	fe := backoffFileEntry{Addr: addr, Failures: int(failures), First: msTime(first), Last: msTime(last), Retry: msTime(retr), Reason: reason}
	a, st, err := fe.parse()
	if err != nil {
		return netip.AddrPort{}, BackoffState{}, fmt.Errorf("%s row %q: %w", t, addr, err)
	}
	return a, st, nil
}
