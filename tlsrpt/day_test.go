package tlsrpt

import (
	"testing"
	"time"
)

// TestDay: a report's day is the UTC day, 00:00 to 24:00 (RFC 8460,
// Section 4.1), whatever the zone of the time it is taken from.
func TestDay(t *testing.T) {
	east := time.FixedZone("UTC+10", 10*3600)
	for _, tc := range []struct {
		t    time.Time
		want string
		why  string
	}{
		{time.Date(2016, 4, 1, 0, 0, 0, 0, time.UTC), "2016-04-01", "midnight UTC opens the day"},
		{time.Date(2016, 4, 1, 23, 59, 59, 999999999, time.UTC), "2016-04-01", "the last instant of the day"},
		{time.Date(2016, 4, 2, 8, 0, 0, 0, east), "2016-04-01", "08:00 at UTC+10 is still April 1st in UTC"},
		{time.Date(2016, 12, 31, 23, 0, 0, 0, time.UTC), "2016-12-31", "the year's last day"},
	} {
		d := DayOf(tc.t)
		if d.String() != tc.want {
			t.Errorf("DayOf(%v) = %s, want %s (%s)", tc.t, d, tc.want, tc.why)
		}
		if p, err := ParseDay(d.String()); err != nil || p != d {
			t.Errorf("ParseDay(%s) = %v, %v", d, p, err)
		}
		if s, e := d.Start(), d.End(); s.Location() != time.UTC || e.Sub(s) != 24*time.Hour || tc.t.Before(s) || !tc.t.Before(e) {
			t.Errorf("%s: [%v, %v) does not hold %v", d, s, e, tc.t)
		}
	}
	d := Day{2016, 12, 31}
	if n := d.AddDays(1); n != (Day{2017, 1, 1}) || !d.Before(n) || n.Before(d) || d.Before(d) {
		t.Errorf("the day after %s: %s", d, n)
	}
	for _, s := range []string{"2016-4-1", "2016-02-30", "", "2016-04-01T00:00:00Z"} {
		if _, err := ParseDay(s); err == nil {
			t.Errorf("ParseDay(%q) accepted", s)
		}
	}
	if !(Day{}).IsZero() || d.IsZero() {
		t.Error("IsZero")
	}
}
