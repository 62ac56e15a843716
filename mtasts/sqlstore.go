package mtasts

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"regexp"
	"strings"
	"sync"
	"time"
)

// SQLStore is a Store in a SQL table that a fleet of MTAs shares, so that
// a policy one MTA fetched serves all (postfix-mta-sts-resolver's postgres
// cache is the peer): PostgreSQL (9.5 and later) or SQLite (3.25 and
// later; open it in WAL mode, so that reads do not wait for writes, with a
// busy timeout, e.g. modernc.org/sqlite's
// "_pragma=journal_mode(WAL)&_pragma=busy_timeout(5000)"). The caller
// opens the *sql.DB with the driver of its choice; this package imports
// none. The zero value is not usable: DB is required; call Init once to
// create the table.
//
// A row holds the policy as its text, re-parsed by every Get, the TXT
// record's id, and what refresh and eviction go by: when it was fetched,
// expires and was last used (Unix nanoseconds), whether its mode is
// enforce, its size. Every Get asks the database: a copy kept in the
// process would hide from this MTA a policy another one fetched, and this
// MTA's uses from the fleet's eviction; a Get by key is one round-trip,
// the order of the TXT question Lookup asks anyway (BenchmarkSQLStoreGet).
// It is bounded and evicts as MemoryStore does (see Put), and no statement
// opens a transaction of its own, so that no read waits behind one.
type SQLStore struct {
	// DB is the database. Required.
	DB *sql.DB
	// Table is the table's name: a letter or "_", then letters, digits,
	// "_", at most 56 (its indexes are named after it, with a suffix, in
	// PostgreSQL's 63). Zero: "mtasts_policies".
	Table string
	// MaxEntries bounds the rows kept. 0: 10,000 (as MemoryStore; a fleet
	// mailing more domains with MTA-STS than that should raise it).
	MaxEntries int
	// MaxBytes bounds the bytes the rows take, about: their policy text,
	// domain and id, and 100 bytes a row. 0: 32 MiB.
	MaxBytes int64

	mu       sync.Mutex
	pending  map[string]int64 // domains whose use is to be written, and when (Unix ns)
	touching bool             // the goroutine writing them runs
	touches  sync.WaitGroup   // the goroutine, for tests
}

// ErrBadTable: SQLStore.Table is not a plain SQL identifier (it is put
// into statements, so nothing else is accepted).
var ErrBadTable = errors.New("mtasts: malformed SQL table name")

var tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,55}$`)

const (
	// touchEvery is how old a row's last use must be for a Get to
	// record a new one.
	touchEvery = time.Minute
	// maxSkew is how far ahead of the writer's clock a row's fetch may be
	// and still be taken as newer.
	maxSkew = time.Hour
	// maxPending bounds the uses waiting to be written; more are dropped.
	maxPending = 10000
	// touchBatch is the most domains one UPDATE records.
	touchBatch = 500
	// touchTimeout bounds each UPDATE of the uses.
	touchTimeout = 30 * time.Second
	// rowOverhead is about the bytes of a row besides its text.
	rowOverhead = 100
)

func (s *SQLStore) table() (string, error) {
	t := s.Table
	if t == "" {
		t = "mtasts_policies"
	}
	if !tableRE.MatchString(t) {
		return "", fmt.Errorf("%w: %q", ErrBadTable, t)
	}
	if s.DB == nil {
		return "", errors.New("mtasts: SQLStore without a DB")
	}
	return t, nil
}

func (s *SQLStore) max() int64 {
	if s.MaxEntries > 0 {
		return int64(s.MaxEntries)
	}
	return defaultMaxEntries
}

func (s *SQLStore) maxBytes() int64 {
	if s.MaxBytes > 0 {
		return s.MaxBytes
	}
	return defaultMaxBytes
}

// Init creates the table and its indexes if they do not exist.
func (s *SQLStore) Init(ctx context.Context) error {
	t, err := s.table()
	if err != nil {
		return err
	}
	for _, q := range []string{`CREATE TABLE IF NOT EXISTS ` + t + ` (
	domain TEXT PRIMARY KEY,
	policy_id TEXT NOT NULL,
	fetched BIGINT NOT NULL,
	expires BIGINT NOT NULL,
	enforce INTEGER NOT NULL,
	size BIGINT NOT NULL,
	last_used BIGINT NOT NULL,
	policy TEXT NOT NULL
)`,
		`CREATE INDEX IF NOT EXISTS ` + t + `_evict ON ` + t + ` (enforce, last_used, domain)`,
		`CREATE INDEX IF NOT EXISTS ` + t + `_expires ON ` + t + ` (expires)`,
	} {
		if _, err := s.DB.ExecContext(ctx, q); err != nil {
			return fmt.Errorf("mtasts: creating table %s: %w", t, err)
		}
	}
	return nil
}

// unixNano is t in Unix nanoseconds, clamped to int64 (a zero Time is
// before 1678).
func unixNano(t time.Time) int64 {
	switch {
	case t.Before(time.Unix(0, math.MinInt64)):
		return math.MinInt64
	case t.After(time.Unix(0, math.MaxInt64)):
		return math.MaxInt64
	}
	return t.UnixNano()
}

// Get returns the entry of domain: one SELECT by primary key, which
// PostgreSQL's MVCC and SQLite's WAL answer beside any writer. A row that
// does not parse is no entry, and the error names it; the next fetch of
// the domain replaces it.
//
// Get records the use in the row's last_used, by which eviction goes, at
// most once a minute a domain, fleet-wide (the row's own last_used is the
// clock): a busy domain costs an UPDATE a minute, not one a delivery, and
// eviction knows uses to the minute. The UPDATE is made after Get returns,
// by one goroutine of the store that writes the uses pending, in batches,
// and ends when none is left, so that no Get waits behind a writer's lock;
// its failures are dropped (a use not recorded only makes a row look
// older).
func (s *SQLStore) Get(ctx context.Context, domain string) (Entry, bool, error) {
	t, err := s.table()
	if err != nil {
		return Entry{}, false, err
	}
	domain = normDomain(domain)
	var (
		id, text      string
		fetched, used int64
	)
	err = s.DB.QueryRowContext(ctx, `SELECT policy_id, fetched, last_used, policy FROM `+t+` WHERE domain = $1`, domain).
		Scan(&id, &fetched, &used, &text)
	if errors.Is(err, sql.ErrNoRows) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("mtasts: policy cache table %s: reading %q: %w", t, domain, err)
	}
	p, err := ParsePolicy([]byte(text))
	if err != nil {
		return Entry{}, false, fmt.Errorf("mtasts: policy cache table %s: row %q skipped: %w", t, domain, err)
	}
	p.ID = id
	e := Entry{Policy: p, ID: id, Fetched: time.Unix(0, fetched)}
	now := time.Now()
	if e.Valid(now) && unixNano(now)-used >= int64(touchEvery) {
		s.touch(ctx, domain, unixNano(now))
	}
	return e, true, nil
}

// newerSQL is the condition under which a write at $4 (Unix ns) of a fetch
// at $2 under id $3 replaces the row: an older fetch, or the same instant
// under a smaller id (so that any order of writers ends alike), or a row
// that expired, or one fetched more than maxSkew ahead ($5).
func newerSQL(t string) string {
	return `(` + t + `.fetched < $2 OR (` + t + `.fetched = $2 AND ` + t + `.policy_id < $3) OR ` +
		t + `.expires <= $4 OR ` + t + `.fetched > $5)`
}

// Put stores the entry of domain unless the table holds a newer fetch: one
// upsert whose WHERE lets only a later fetch replace the row (at the same
// instant, the larger id), so that concurrent writers end alike and a slow
// MTA of the fleet cannot roll a policy back. Fetch times come from the
// MTAs' clocks, which must agree (NTP); a row that expired, or was fetched
// more than an hour ahead of this clock (a clock gone wrong), is replaced
// by any Put, so that it cannot hold the domain. An entry already expired
// is not kept: it removes an older row.
//
// When the table is then over MaxEntries or MaxBytes, every expired row
// goes, then policies in mode none or testing, then the least recently
// used, until it is within them; never the row just put, and never by
// expiry, so that an attacker's year-long policies cannot push out a
// victim's one-day enforce policy in use (RFC 8461, Section 10.2). Two
// indexes serve it, so that a Put into a full table costs a count of the
// rows and a few index lookups, not a sort of the table
// (BenchmarkSQLStorePutFull).
func (s *SQLStore) Put(ctx context.Context, domain string, e Entry) error {
	t, err := s.table()
	if err != nil {
		return err
	}
	domain = normDomain(domain)
	if !validDomain(domain) {
		return &Error{Domain: domain, Err: ErrBadDomain}
	}
	now := time.Now()
	fetched, nowNS := unixNano(e.Fetched), unixNano(now)
	if !e.Valid(now) {
		_, err := s.DB.ExecContext(ctx, `DELETE FROM `+t+` WHERE domain = $1 AND `+newerSQL(t),
			domain, fetched, e.ID, nowNS, nowNS+int64(maxSkew))
		if err != nil {
			return fmt.Errorf("mtasts: policy cache table %s: removing %q: %w", t, domain, err)
		}
		return nil
	}
	text := e.Policy.String()
	size := int64(len(text) + len(domain) + len(e.ID) + rowOverhead)
	enforce := 0
	if e.Policy.Mode == ModeEnforce {
		enforce = 1
	}
	res, err := s.DB.ExecContext(ctx, `INSERT INTO `+t+` (domain, fetched, policy_id, expires, enforce, size, last_used, policy)
	VALUES ($1, $2, $3, $6, $7, $8, $4, $9)
	ON CONFLICT (domain) DO UPDATE SET fetched = excluded.fetched, policy_id = excluded.policy_id,
		expires = excluded.expires, enforce = excluded.enforce, size = excluded.size,
		last_used = excluded.last_used, policy = excluded.policy
	WHERE `+newerSQL(t),
		domain, fetched, e.ID, nowNS, nowNS+int64(maxSkew), unixNano(e.Expires()), enforce, size, text)
	if err != nil {
		return fmt.Errorf("mtasts: policy cache table %s: writing %q: %w", t, domain, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return nil // the table holds a newer fetch: nothing grew
	}
	return s.evict(ctx, t, domain, nowNS)
}

// evict brings the table within its bounds, never evicting keep (the row
// just put, which stays even if larger than MaxBytes): when over them,
// every expired row goes, then, if still over, the shortest run of the
// others in the order of eviction that leaves at most MaxEntries rows and
// MaxBytes. Concurrent evictions pick the same rows first, so they overlap
// rather than add up.
func (s *SQLStore) evict(ctx context.Context, t, keep string, now int64) error {
	n, bytes, err := s.count(ctx, t)
	if err != nil || n <= s.max() && bytes <= s.maxBytes() {
		return err
	}
	res, err := s.DB.ExecContext(ctx, `DELETE FROM `+t+` WHERE expires <= $1 AND domain <> $2`, now, keep)
	if err != nil {
		return fmt.Errorf("mtasts: policy cache table %s: evicting: %w", t, err)
	}
	if gone, err := res.RowsAffected(); err != nil || gone > 0 {
		if n, bytes, err = s.count(ctx, t); err != nil || n <= s.max() && bytes <= s.maxBytes() {
			return err
		}
	}
	// The run: the first rows in the order of eviction (mode none or
	// testing before enforce, then the least recently used; the domain
	// breaks ties), read through the index, at most as many as can be
	// needed (a row takes at least rowOverhead bytes); of them, a row goes
	// when it is among the first n-MaxEntries, or when the rows before it
	// do not yet free bytes-MaxBytes.
	overN, overBytes := max(n-s.max(), 0), max(bytes-s.maxBytes(), 0)
	limit := min(overN+overBytes/rowOverhead+1, n)
	const order = `ORDER BY enforce, last_used, domain`
	_, err = s.DB.ExecContext(ctx, `DELETE FROM `+t+` WHERE domain IN (
	SELECT domain FROM (
		SELECT domain, ROW_NUMBER() OVER (`+order+`) AS n,
			CAST(SUM(size) OVER (`+order+` ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) AS BIGINT) - size AS before
		FROM (SELECT domain, enforce, last_used, size FROM `+t+` WHERE domain <> $1 `+order+` LIMIT $2) AS candidates
	) AS ranked WHERE n <= $3 OR before < $4
)`, keep, limit, overN, overBytes)
	if err != nil {
		return fmt.Errorf("mtasts: policy cache table %s: evicting: %w", t, err)
	}
	return nil
}

// count gives the rows of the table and the bytes they take.
func (s *SQLStore) count(ctx context.Context, t string) (n, bytes int64, err error) {
	err = s.DB.QueryRowContext(ctx, `SELECT COUNT(*), CAST(COALESCE(SUM(size), 0) AS BIGINT) FROM `+t).Scan(&n, &bytes)
	if err != nil {
		return 0, 0, fmt.Errorf("mtasts: policy cache table %s: counting: %w", t, err)
	}
	return n, bytes, nil
}

// touch has the use of domain at now written, after Get returns: by the
// goroutine that writes the pending uses, started if none runs. It runs
// with ctx's values, never its cancellation (the Get is over).
func (s *SQLStore) touch(ctx context.Context, domain string, now int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.pending[domain]; !ok && len(s.pending) >= maxPending {
		return
	}
	if s.pending == nil {
		s.pending = make(map[string]int64)
	}
	s.pending[domain] = now
	if !s.touching {
		s.touching = true
		s.touches.Add(1)
		go s.writeUses(context.WithoutCancel(ctx))
	}
}

// writeUses writes the pending uses, in batches, until none is left.
func (s *SQLStore) writeUses(ctx context.Context) {
	defer s.touches.Done()
	for {
		s.mu.Lock()
		batch := s.pending
		s.pending = nil
		if len(batch) == 0 {
			s.touching = false
			s.mu.Unlock()
			return
		}
		s.mu.Unlock()
		t, err := s.table()
		if err != nil {
			continue
		}
		var (
			domains []string
			now     int64
		)
		for d, at := range batch {
			domains = append(domains, d)
			now = max(now, at)
		}
		for len(domains) > 0 {
			k := min(len(domains), touchBatch)
			args := []any{now}
			var marks strings.Builder
			for i, d := range domains[:k] {
				if i > 0 {
					marks.WriteString(", ")
				}
				fmt.Fprintf(&marks, "$%d", i+2)
				args = append(args, d)
			}
			domains = domains[k:]
			uctx, cancel := context.WithTimeout(ctx, touchTimeout)
			// Dropped on failure: the row only looks older.
			_, _ = s.DB.ExecContext(uctx, `UPDATE `+t+` SET last_used = $1 WHERE last_used < $1 AND domain IN (`+marks.String()+`)`, args...)
			cancel()
		}
	}
}
