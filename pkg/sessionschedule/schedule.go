// Package sessionschedule is the time arithmetic of session schedules,
// shared by the validation that accepts them and the controller that acts
// on them: parsing cron expressions in an IANA time zone, the next start
// and stop, and which scheduled time is due.
package sessionschedule

import (
	"fmt"
	"strings"
	"time"

	// The zone database is compiled in, so that schedules read the same on
	// every machine, with or without /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/robfig/cron/v3"
)

// parser reads the five standard fields and the @hourly, @daily, ...
// descriptors; seconds are not offered (a session is not started to the
// second) and neither is @every (a schedule is wall-clock times).
var parser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// Lookback bounds how far back a controller that was down looks for a
// scheduled time it missed: a start or stop older than this is not acted on.
const Lookback = 7 * 24 * time.Hour

// Action is what a scheduled time does to a session.
type Action string

const (
	Start Action = "Start"
	Stop  Action = "Stop"
)

// Schedule is a parsed spec.schedule.
type Schedule struct {
	start, stop cron.Schedule
	loc         *time.Location
}

// Location parses an IANA time zone name; empty is UTC.
func Location(name string) (*time.Location, error) {
	if name == "" {
		return time.UTC, nil
	}
	if name == "Local" {
		return nil, fmt.Errorf("must be an IANA time zone name such as Europe/Berlin, not Local")
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone: %v", err)
	}
	return loc, nil
}

// Expression parses one cron expression (empty gives nil).
func Expression(expr string) (cron.Schedule, error) {
	if expr == "" {
		return nil, nil
	}
	if strings.Contains(expr, "TZ=") {
		return nil, fmt.Errorf("the time zone is spec.schedule.timeZone, not a TZ= or CRON_TZ= prefix")
	}
	if strings.HasPrefix(strings.TrimSpace(expr), "@every") {
		return nil, fmt.Errorf("@every is not a time of day: use minute hour day-of-month month day-of-week")
	}
	s, err := parser.Parse(expr)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Parse reads a schedule. Errors name the part: start, stop or timeZone.
func Parse(start, stop, zone string) (*Schedule, error) {
	loc, err := Location(zone)
	if err != nil {
		return nil, &PartError{Part: "timeZone", Err: err}
	}
	s := &Schedule{loc: loc}
	if s.start, err = Expression(start); err != nil {
		return nil, &PartError{Part: "start", Err: err}
	}
	if s.stop, err = Expression(stop); err != nil {
		return nil, &PartError{Part: "stop", Err: err}
	}
	return s, nil
}

// PartError is an error in one part of a schedule.
type PartError struct {
	Part string
	Err  error
}

func (e *PartError) Error() string { return e.Part + ": " + e.Err.Error() }

func (e *PartError) Unwrap() error { return e.Err }

// next is the first time of expr strictly after t, or zero when there is
// none (no expression, or none within the parser's five years).
//
// The expression is matched against wall-clock times of the zone, which
// never skip or repeat, and each match is then placed on the timeline
// (instant): so a time a daylight-saving change skips happens at the
// change, once, and a time it repeats happens at its first occurrence only,
// as in cron.
func (s *Schedule) next(expr cron.Schedule, t time.Time) time.Time {
	if expr == nil {
		return time.Time{}
	}
	w := s.wall(t)
	// Matches placed before t are those of a repeated hour, at most a few
	// hours of minutes.
	for range 24 * 60 {
		w = expr.Next(w)
		if w.IsZero() {
			return w
		}
		if at := s.instant(w); at.After(t) {
			return at
		}
	}
	return time.Time{}
}

// wall is t's wall-clock time in the zone, written as a UTC time.
func (s *Schedule) wall(t time.Time) time.Time {
	l := t.In(s.loc)
	y, mo, d := l.Date()
	h, mi, sec := l.Clock()
	return time.Date(y, mo, d, h, mi, sec, 0, time.UTC)
}

// instant is the first instant whose wall-clock time in the zone is w, or,
// when a daylight-saving change skips w, the instant of that change.
func (s *Schedule) instant(w time.Time) time.Time {
	y, mo, d := w.Date()
	h, mi, sec := w.Clock()
	at := time.Date(y, mo, d, h, mi, sec, 0, s.loc)
	if !s.wall(at).Equal(w) {
		// Skipped: the change is the first instant whose wall clock is
		// past w. Wall time only jumps forward there, so bisect.
		lo, hi := at.Add(-3*time.Hour), at.Add(3*time.Hour)
		for hi.Sub(lo) > time.Second {
			mid := lo.Add(hi.Sub(lo) / 2)
			if s.wall(mid).Before(w) {
				lo = mid
			} else {
				hi = mid
			}
		}
		return hi.Truncate(time.Second)
	}
	// Repeated: an earlier instant (by the size of the change) shows the
	// same wall clock.
	for _, shift := range []time.Duration{30 * time.Minute, time.Hour, 2 * time.Hour} {
		if earlier := at.Add(-shift); s.wall(earlier).Equal(w) {
			return earlier
		}
	}
	return at
}

// Next returns the first start and the first stop strictly after t (zero
// when the schedule has none).
func (s *Schedule) Next(t time.Time) (start, stop time.Time) {
	return s.next(s.start, t), s.next(s.stop, t)
}

// latest is the last time of expr in (since, now], or zero.
func (s *Schedule) latest(expr cron.Schedule, since, now time.Time) time.Time {
	var last time.Time
	for t := s.next(expr, since); !t.IsZero() && !t.After(now); t = s.next(expr, t) {
		last = t
	}
	return last
}

// Due returns the scheduled time to act on at now: the latest start or stop
// time after since (the time last acted on, or the session's creation) and
// no later than now, at most Lookback ago. When a start and a stop both
// passed (a controller that was down), the later one wins: it is what the
// owner wants now. At the same instant, stop wins.
func (s *Schedule) Due(since, now time.Time) (at time.Time, action Action, ok bool) {
	if floor := now.Add(-Lookback); since.Before(floor) {
		since = floor
	}
	start, stop := s.latest(s.start, since, now), s.latest(s.stop, since, now)
	switch {
	case start.IsZero() && stop.IsZero():
		return time.Time{}, "", false
	case start.After(stop):
		return start, Start, true
	default:
		return stop, Stop, true
	}
}
