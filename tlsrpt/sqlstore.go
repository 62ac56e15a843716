package tlsrpt

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// SQLStore is a Store in a SQL database that a fleet of MTAs can share:
// PostgreSQL (9.5 and later) or SQLite (3.24 and later). The caller opens
// the *sql.DB with the driver of its choice; this package imports none.
// Each Add is one upsert, "INSERT ... ON CONFLICT ... DO UPDATE SET n = n +
// excluded.n", which the database applies atomically: concurrent writers,
// in one process or many, lose no count. With SQLite, open the database
// with a busy timeout (e.g. modernc.org/sqlite's
// "_pragma=busy_timeout(5000)") so that writers wait for one another
// rather than fail.
//
// The zero value is not usable: DB is required. Call Init once to create
// the table.
type SQLStore struct {
	// DB is the database. Required.
	DB *sql.DB
	// Table is the table's name: a letter or "_", then letters, digits,
	// "_", at most 63. Zero: "tlsrpt_counters".
	Table string
}

// ErrBadTable: SQLStore.Table is not a plain SQL identifier (it is put
// into statements, so nothing else is accepted).
var ErrBadTable = errors.New("tlsrpt: malformed SQL table name")

var tableRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,62}$`)

func (s *SQLStore) table() (string, error) {
	t := s.Table
	if t == "" {
		t = "tlsrpt_counters"
	}
	if !tableRE.MatchString(t) {
		return "", fmt.Errorf("%w: %q", ErrBadTable, t)
	}
	if s.DB == nil {
		return "", errors.New("tlsrpt: SQLStore without a DB")
	}
	return t, nil
}

// The columns of a counter, in the order of every statement here. key_id
// is the SHA-256 of the rest of the key (a policy's text can be 64 KiB, too
// long for an index), policy_string and mx_host JSON arrays, and the
// addresses text ("" when not known).
const sqlColumns = `day, policy_domain, key_id, policy_type, policy_string, mx_host, result_type,
	sending_ip, receiving_ip, receiving_mx_hostname, receiving_mx_helo, additional_information,
	failure_reason_code, n`

// Init creates the table and its index if they do not exist.
func (s *SQLStore) Init(ctx context.Context) error {
	t, err := s.table()
	if err != nil {
		return err
	}
	_, err = s.DB.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS `+t+` (
	day TEXT NOT NULL,
	policy_domain TEXT NOT NULL,
	key_id TEXT NOT NULL,
	policy_type TEXT NOT NULL,
	policy_string TEXT NOT NULL,
	mx_host TEXT NOT NULL,
	result_type TEXT NOT NULL,
	sending_ip TEXT NOT NULL,
	receiving_ip TEXT NOT NULL,
	receiving_mx_hostname TEXT NOT NULL,
	receiving_mx_helo TEXT NOT NULL,
	additional_information TEXT NOT NULL,
	failure_reason_code TEXT NOT NULL,
	n BIGINT NOT NULL,
	PRIMARY KEY (day, policy_domain, key_id)
)`)
	if err != nil {
		return fmt.Errorf("tlsrpt: creating table %s: %w", t, err)
	}
	return nil
}

// Add adds n to the counter of k in one upsert.
func (s *SQLStore) Add(ctx context.Context, k Key, n int64) error {
	t, err := s.table()
	if err != nil {
		return err
	}
	if err := k.check(); err != nil {
		return err
	}
	strs, _ := json.Marshal(nonNil(k.Policy.String))
	mx, _ := json.Marshal(nonNil(k.Policy.MXHost))
	_, err = s.DB.ExecContext(ctx, `INSERT INTO `+t+` (`+sqlColumns+`)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
	ON CONFLICT (day, policy_domain, key_id) DO UPDATE SET n = `+t+`.n + excluded.n`,
		k.Day.String(), k.Policy.Domain, k.id(), string(k.Policy.Type), string(strs), string(mx), string(k.Result),
		addrText(k.SendingIP), addrText(k.ReceivingIP), k.MXHost, k.HELO, k.AdditionalInfo, k.ReasonCode, n)
	if err != nil {
		return fmt.Errorf("tlsrpt: adding to counter of %s %s: %w", k.Day, k.Policy.Domain, err)
	}
	return nil
}

// Counters gives the counters of day for domain ("" for all). A row that
// does not parse is skipped, its error joined to the one returned, and the
// others are read all the same.
func (s *SQLStore) Counters(ctx context.Context, day Day, domain string) ([]Counter, error) {
	t, err := s.table()
	if err != nil {
		return nil, err
	}
	q := `SELECT ` + sqlColumns + ` FROM ` + t + ` WHERE day = $1`
	args := []any{day.String()}
	if domain != "" {
		q += ` AND policy_domain = $2`
		args = append(args, domain)
	}
	rows, err := s.DB.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: reading counters of %s: %w", day, err)
	}
	defer rows.Close()
	var out []Counter
	var errs []error
	for rows.Next() {
		var r [13]string
		var n int64
		if err := rows.Scan(&r[0], &r[1], &r[2], &r[3], &r[4], &r[5], &r[6], &r[7], &r[8], &r[9], &r[10], &r[11], &r[12], &n); err != nil {
			errs = append(errs, fmt.Errorf("%w: a row of %s: %w", ErrBadKey, t, err))
			continue
		}
		c, err := parseRow(r, n)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s row (%s, %s, %s): %w", t, r[0], r[1], r[2], err))
			continue
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		errs = append(errs, fmt.Errorf("tlsrpt: reading counters of %s: %w", day, err))
	}
	return out, errors.Join(errs...)
}

// parseRow turns the columns of a row into a counter, or says why not.
func parseRow(r [13]string, n int64) (Counter, error) {
	t := counterText{Day: r[0], PolicyDomain: r[1], PolicyType: r[3], Result: r[6], SendingIP: r[7], ReceivingIP: r[8],
		MXName: r[9], HELO: r[10], AdditionalInfo: r[11], ReasonCode: r[12], N: n}
	if err := json.Unmarshal([]byte(r[4]), &t.PolicyString); err != nil {
		return Counter{}, fmt.Errorf("%w: policy_string %q: %v", ErrBadKey, r[4], err)
	}
	if err := json.Unmarshal([]byte(r[5]), &t.MXHost); err != nil {
		return Counter{}, fmt.Errorf("%w: mx_host %q: %v", ErrBadKey, r[5], err)
	}
	return t.counter()
}

// Pending gives the domains and days with counters before the day given.
func (s *SQLStore) Pending(ctx context.Context, before Day) ([]DomainDay, error) {
	t, err := s.table()
	if err != nil {
		return nil, err
	}
	rows, err := s.DB.QueryContext(ctx, `SELECT DISTINCT day, policy_domain FROM `+t+` WHERE day < $1`, before.String())
	if err != nil {
		return nil, fmt.Errorf("tlsrpt: listing pending reports: %w", err)
	}
	defer rows.Close()
	var out []DomainDay
	var errs []error
	for rows.Next() {
		var day, domain string
		if err := rows.Scan(&day, &domain); err != nil {
			errs = append(errs, fmt.Errorf("%w: a row of %s: %w", ErrBadKey, t, err))
			continue
		}
		d, err := ParseDay(day)
		if err != nil {
			errs = append(errs, fmt.Errorf("%w: %s row (%s, %s): day %q", ErrBadKey, t, day, domain, day))
			continue
		}
		if nd, err := normDomain(domain); err != nil || nd != domain {
			errs = append(errs, fmt.Errorf("%w: %s row (%s, %s): policy domain %q", ErrBadKey, t, day, domain, domain))
			continue
		}
		out = append(out, DomainDay{Domain: domain, Day: d})
	}
	if err := rows.Err(); err != nil {
		errs = append(errs, fmt.Errorf("tlsrpt: listing pending reports: %w", err))
	}
	return out, errors.Join(errs...)
}

// Delete removes the counters of day for domain ("" for all).
func (s *SQLStore) Delete(ctx context.Context, day Day, domain string) error {
	t, err := s.table()
	if err != nil {
		return err
	}
	q := `DELETE FROM ` + t + ` WHERE day = $1`
	args := []any{day.String()}
	if domain != "" {
		q += ` AND policy_domain = $2`
		args = append(args, domain)
	}
	if _, err := s.DB.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("tlsrpt: deleting counters of %s %s: %w", day, strings.TrimSpace(domain), err)
	}
	return nil
}
