package sessionschedule

import (
	"errors"
	"testing"
	"time"
)

func mustParse(t *testing.T, start, stop, zone string) *Schedule {
	t.Helper()
	s, err := Parse(start, stop, zone)
	if err != nil {
		t.Fatalf("Parse(%q, %q, %q): %v", start, stop, zone, err)
	}
	return s
}

func at(t *testing.T, zone, value string) time.Time {
	t.Helper()
	loc, err := time.LoadLocation(zone)
	if err != nil {
		t.Fatal(err)
	}
	v, err := time.ParseInLocation("2006-01-02 15:04", value, loc)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Weekdays 08:00 to 18:00 in Berlin stay 08:00 and 18:00 local time across
// both daylight saving changes of 2026 (29 March, 25 October), so their UTC
// instants move by an hour.
func TestNextAcrossDaylightSaving(t *testing.T) {
	s := mustParse(t, "0 8 * * 1-5", "0 18 * * 1-5", "Europe/Berlin")
	cases := []struct {
		after, start, stop string // Berlin local times
		startUTC           string
	}{
		// Friday before the spring change: next start is Monday, after it.
		{"2026-03-27 19:00", "2026-03-30 08:00", "2026-03-30 18:00", "2026-03-30T06:00:00Z"},
		{"2026-03-26 19:00", "2026-03-27 08:00", "2026-03-27 18:00", "2026-03-27T07:00:00Z"},
		// Friday before the autumn change.
		{"2026-10-23 19:00", "2026-10-26 08:00", "2026-10-26 18:00", "2026-10-26T07:00:00Z"},
		{"2026-10-22 19:00", "2026-10-23 08:00", "2026-10-23 18:00", "2026-10-23T06:00:00Z"},
	}
	for _, c := range cases {
		start, stop := s.Next(at(t, "Europe/Berlin", c.after))
		if want := at(t, "Europe/Berlin", c.start); !start.Equal(want) {
			t.Errorf("after %s: next start %s, want %s", c.after, start, want)
		}
		if want := at(t, "Europe/Berlin", c.stop); !stop.Equal(want) {
			t.Errorf("after %s: next stop %s, want %s", c.after, stop, want)
		}
		if got := start.UTC().Format(time.RFC3339); got != c.startUTC {
			t.Errorf("after %s: next start is %s UTC, want %s", c.after, got, c.startUTC)
		}
	}
}

// A time the spring change skips (02:30 on 29 March 2026 in Berlin) and a
// time the autumn change repeats (02:30 on 25 October) are each acted on
// once, and the days around them keep their time.
func TestTimesInTheDaylightSavingGapAndOverlap(t *testing.T) {
	s := mustParse(t, "30 2 * * *", "", "Europe/Berlin")
	var starts []time.Time
	for t0 := at(t, "Europe/Berlin", "2026-03-28 00:00"); len(starts) < 3; {
		next, _ := s.Next(t0)
		starts = append(starts, next)
		t0 = next
	}
	if want := at(t, "Europe/Berlin", "2026-03-28 02:30"); !starts[0].Equal(want) {
		t.Errorf("28 March: %s, want %s", starts[0], want)
	}
	// 02:30 does not exist on 29 March: the start is at the change
	// (02:00 CET becomes 03:00 CEST, 01:00 UTC), once.
	if got := starts[1].UTC().Format(time.RFC3339); got != "2026-03-29T01:00:00Z" {
		t.Errorf("29 March: start at %s, want the change at 2026-03-29T01:00:00Z", got)
	}
	if want := at(t, "Europe/Berlin", "2026-03-30 02:30"); !starts[2].Equal(want) {
		t.Errorf("30 March: %s, want %s", starts[2], want)
	}

	starts = nil
	for t0 := at(t, "Europe/Berlin", "2026-10-24 12:00"); len(starts) < 2; {
		next, _ := s.Next(t0)
		starts = append(starts, next)
		t0 = next
	}
	// 02:30 happens twice on 25 October: the first, in summer time.
	if got := starts[0].UTC().Format(time.RFC3339); got != "2026-10-25T00:30:00Z" {
		t.Errorf("25 October: first start %s, want 02:30 CEST (2026-10-25T00:30:00Z)", got)
	}
	if want := at(t, "Europe/Berlin", "2026-10-26 02:30"); !starts[1].Equal(want) {
		t.Errorf("the repeated hour was acted on twice: second start %s, want %s", starts[1], want)
	}
}

// Every minute, asked from inside the repeated hour: the next time is the
// first minute not yet passed on the wall clock, never one already had.
func TestEveryMinuteInTheRepeatedHour(t *testing.T) {
	s := mustParse(t, "* * * * *", "", "Europe/Berlin")
	second := time.Date(2026, 10, 25, 1, 10, 0, 0, time.UTC) // 02:10 CET, the second 02:10
	next, _ := s.Next(second)
	if got := next.UTC().Format(time.RFC3339); got != "2026-10-25T02:00:00Z" {
		t.Errorf("next minute after the second 02:10: %s, want 03:00 CET (2026-10-25T02:00:00Z)", got)
	}
}

func TestDue(t *testing.T) {
	s := mustParse(t, "0 8 * * 1-5", "0 18 * * 1-5", "Europe/Berlin")
	berlin := func(v string) time.Time { return at(t, "Europe/Berlin", v) }
	cases := []struct {
		name       string
		since, now string
		want       string
		action     Action
		ok         bool
	}{
		{"nothing passed yet", "2026-12-07 09:00", "2026-12-07 17:59", "", "", false},
		{"the stop time passed", "2026-12-07 09:00", "2026-12-07 18:00", "2026-12-07 18:00", Stop, true},
		{"a start on time", "2026-12-07 18:00", "2026-12-08 08:00", "2026-12-08 08:00", Start, true},
		// Down from Friday evening to Monday 10:00: the missed Monday start
		// is acted on once, no stop since.
		{"after a weekend down", "2026-12-04 18:00", "2026-12-07 10:00", "2026-12-07 08:00", Start, true},
		// Down across a whole day: the latest time (the stop) wins.
		{"down through a start and a stop", "2026-12-07 18:00", "2026-12-08 19:00", "2026-12-08 18:00", Stop, true},
		{"already acted on", "2026-12-08 08:00", "2026-12-08 12:00", "", "", false},
	}
	for _, c := range cases {
		got, action, ok := s.Due(berlin(c.since), berlin(c.now))
		if ok != c.ok || action != c.action || (c.ok && !got.Equal(berlin(c.want))) {
			t.Errorf("%s: Due = %s %s %v, want %s %s %v", c.name, got, action, ok, c.want, c.action, c.ok)
		}
	}
	// A controller down for longer than Lookback acts on the latest time
	// within it, not on anything older.
	now := berlin("2026-12-31 12:00")
	got, action, ok := s.Due(berlin("2026-01-01 00:00"), now)
	if !ok || action != Start || !got.Equal(berlin("2026-12-31 08:00")) {
		t.Errorf("long outage: Due = %s %s %v, want the start of 31 December", got, action, ok)
	}
}

func TestSameInstantStopWins(t *testing.T) {
	s := mustParse(t, "0 12 * * *", "0 12 * * *", "UTC")
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	if _, action, ok := s.Due(now.Add(-time.Hour), now); !ok || action != Stop {
		t.Errorf("start and stop at 12:00: %s %v, want Stop", action, ok)
	}
}

func TestParseErrors(t *testing.T) {
	cases := []struct {
		start, stop, zone, part string
	}{
		{"0 8 * * 1-5", "", "Mars/Olympus", "timeZone"},
		{"0 8 * * 1-5", "", "Local", "timeZone"},
		{"0 25 * * *", "", "UTC", "start"},
		{"", "CRON_TZ=Europe/Berlin 0 18 * * *", "UTC", "stop"},
		{"@every 1h", "", "UTC", "start"},
		{"0 0 8 * * *", "", "UTC", "start"}, // seconds are not offered
	}
	for _, c := range cases {
		_, err := Parse(c.start, c.stop, c.zone)
		var pe *PartError
		if !errors.As(err, &pe) || pe.Part != c.part {
			t.Errorf("Parse(%q, %q, %q) = %v, want an error in %s", c.start, c.stop, c.zone, err, c.part)
		}
	}
	if _, err := Parse("@weekly", "0 18 * * MON-FRI", "America/New_York"); err != nil {
		t.Errorf("descriptor and names: %v", err)
	}
}
