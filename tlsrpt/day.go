package tlsrpt

import (
	"fmt"
	"time"
)

// Day is a UTC day, the period of a report: "The report SHOULD cover a full
// day, from 00:00-24:00 UTC" (RFC 8460, Section 4.1). The zero Day is no
// day.
type Day struct {
	Year  int
	Month time.Month
	Day   int
}

// DayOf gives the UTC day of t.
func DayOf(t time.Time) Day {
	y, m, d := t.UTC().Date()
	return Day{y, m, d}
}

// ParseDay parses "2006-01-02".
func ParseDay(s string) (Day, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return Day{}, fmt.Errorf("tlsrpt: day %q: %w", s, err)
	}
	return DayOf(t), nil
}

// String gives the day as "2006-01-02".
func (d Day) String() string { return fmt.Sprintf("%04d-%02d-%02d", d.Year, d.Month, d.Day) }

// IsZero reports whether d is the zero Day.
func (d Day) IsZero() bool { return d == Day{} }

// Start gives the day's first instant, 00:00:00 UTC.
func (d Day) Start() time.Time { return time.Date(d.Year, d.Month, d.Day, 0, 0, 0, 0, time.UTC) }

// End gives the next day's first instant, 24:00 UTC of d.
func (d Day) End() time.Time { return d.Start().AddDate(0, 0, 1) }

// AddDays gives the day n days after d (before it for n < 0).
func (d Day) AddDays(n int) Day { return DayOf(d.Start().AddDate(0, 0, n)) }

// Before reports whether d is earlier than e.
func (d Day) Before(e Day) bool { return d.Start().Before(e.Start()) }
