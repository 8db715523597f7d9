package access

import (
	"fmt"
	"time"
)

// period is the length of a counter's window. All windows are aligned in UTC
// so every replica computes the same boundaries.
type period int

const (
	periodMinute period = iota
	periodDay
	periodWeek
	periodMonth
)

func parsePeriod(s string) (period, error) {
	switch s {
	case "day":
		return periodDay, nil
	case "week":
		return periodWeek, nil
	case "month", "":
		// Month is the configuration default.
		return periodMonth, nil
	}
	return 0, fmt.Errorf("quota_period %q: want day, week or month", s)
}

// String is the configuration name of the period.
func (p period) String() string {
	switch p {
	case periodMinute:
		return "minute"
	case periodDay:
		return "day"
	case periodWeek:
		return "week"
	case periodMonth:
		return "month"
	}
	return "unknown"
}

// bounds returns the start and end of the window holding t: the UTC minute,
// the UTC day, the ISO week (from Monday 00:00 UTC) or the UTC month.
func (p period) bounds(t time.Time) (start, end time.Time) {
	t = t.UTC()
	switch p {
	case periodMinute:
		start = t.Truncate(time.Minute)
		return start, start.Add(time.Minute)
	case periodDay:
		start = time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 1)
	case periodWeek:
		back := (int(t.Weekday()) + 6) % 7 // days since Monday
		start = time.Date(t.Year(), t.Month(), t.Day()-back, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 0, 7)
	default:
		start = time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
		return start, start.AddDate(0, 1, 0)
	}
}
