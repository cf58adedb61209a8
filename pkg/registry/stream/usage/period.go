package usage

import (
	"fmt"
	"time"
)

// period is the stretch of time a usage covers, [start, end) in UTC; both
// nil for all time.
type period struct {
	name       string
	start, end *time.Time
}

// periodLayouts are the periods spec.period names, by their layout: a year,
// a month, a day.
var periodLayouts = []struct {
	layout              string
	years, months, days int
}{
	{"2006", 1, 0, 0},
	{"2006-01", 0, 1, 0},
	{"2006-01-02", 0, 0, 1},
}

// allTime is the spec.period of every recorded interval.
const allTime = "all"

// parsePeriod reads the value of the field selector spec.period; empty is
// the month of now, in UTC.
func parsePeriod(value string, now time.Time) (period, error) {
	if value == allTime {
		return period{name: allTime}, nil
	}
	if value == "" {
		now = now.UTC()
		value = time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC).Format("2006-01")
	}
	for _, l := range periodLayouts {
		start, err := time.Parse(l.layout, value)
		if err != nil || start.Format(l.layout) != value {
			continue
		}
		end := start.AddDate(l.years, l.months, l.days)
		return period{name: value, start: &start, end: &end}, nil
	}
	return period{}, fmt.Errorf("spec.period=%q: want a month (2026-12), a day (2026-12-05), a year (2026) or %s", value, allTime)
}
