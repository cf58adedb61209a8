package connection

import (
	"testing"
	"time"

	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

func TestSilenceGuard(t *testing.T) {
	const timeout = time.Minute
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) time.Time { return start.Add(d) }
	// pass counts the stale among the overdue, as the database does.
	pass := func(g *silenceGuard, now time.Time, stale, total int) bool {
		return g.allow(now, now.Add(-timeout), postgres.LeaseCount{Stale: stale, Overdue: stale, Total: total}, timeout)
	}
	passOverdue := func(g *silenceGuard, now time.Time, stale, overdue, total int) bool {
		return g.allow(now, now.Add(-timeout), postgres.LeaseCount{Stale: stale, Overdue: overdue, Total: total}, timeout)
	}

	t.Run("no reaping in the first stale timeout after a start", func(t *testing.T) {
		g := silenceGuard{reachableSince: start}
		if pass(&g, at(30*time.Second), 1, 1000) {
			t.Fatal("reaped before a full stale timeout since the start")
		}
		if !pass(&g, at(timeout), 1, 1000) {
			t.Fatal("did not reap a single silent connection after a full stale timeout")
		}
	})

	t.Run("a few silent connections are reaped", func(t *testing.T) {
		g := silenceGuard{reachableSince: start}
		if !pass(&g, at(10*time.Minute), massSilenceMin-1, massSilenceMin) {
			t.Fatal("did not reap fewer than massSilenceMin silent connections")
		}
		if !pass(&g, at(11*time.Minute), 99, 1000) {
			t.Fatal("did not reap under massSilenceFraction of the connections")
		}
	})

	t.Run("a mass silence holds reaping and then gives everyone a full timeout", func(t *testing.T) {
		g := silenceGuard{reachableSince: start}
		now := at(10 * time.Minute)
		if pass(&g, now, 4504, 5000) {
			t.Fatal("reaped in a mass silence")
		}
		if pass(&g, now.Add(timeout), 3000, 5000) {
			t.Fatal("reaped while the mass silence lasts")
		}
		// Heartbeats flow again: a few are still silent (their beats are
		// on their way) but the silence is no longer mass.
		end := now.Add(2 * timeout)
		if pass(&g, end, 5, 5000) {
			t.Fatal("reaped right after a mass silence: the connections had no full stale timeout")
		}
		if pass(&g, end.Add(timeout/2), 5, 5000) {
			t.Fatal("reaped within a stale timeout of the end of a mass silence")
		}
		if !pass(&g, end.Add(timeout), 5, 5000) {
			t.Fatal("did not reap a full stale timeout after the mass silence ended")
		}
	})

	t.Run("a mass silence longer than the hold is reaped", func(t *testing.T) {
		g := silenceGuard{reachableSince: start}
		now := at(10 * time.Minute)
		if pass(&g, now, 2500, 5000) {
			t.Fatal("reaped at the start of a mass silence")
		}
		if pass(&g, now.Add(massSilenceHold*timeout-time.Second), 2500, 5000) {
			t.Fatal("reaped within the hold")
		}
		if !pass(&g, now.Add(massSilenceHold*timeout), 2500, 5000) {
			t.Fatal("did not reap a mass silence that outlasted the hold")
		}
	})

	t.Run("a mass silence with late beats is held for as long as they come", func(t *testing.T) {
		// An overloaded heartbeat path: a third of the viewers overdue,
		// and hundreds of beats arriving after a silence longer than the
		// overdue threshold. Viewers are alive; none is reaped, however long
		// it lasts.
		g := silenceGuard{reachableSince: start}
		now := at(10 * time.Minute)
		slow := postgres.LeaseCount{Stale: 2000, Overdue: 6000, Total: 18000, Late: 900}
		for i := range 10 {
			if g.allow(now.Add(time.Duration(i)*timeout), now.Add(time.Duration(i)*timeout-timeout), slow, timeout) {
				t.Fatalf("reaped %s into a mass silence with late beats", time.Duration(i)*timeout)
			}
		}
		if !g.slowPath {
			t.Fatal("the guard does not report a slow path")
		}
		// The late beats stop, the silence stays: after the hold counted
		// from the last late beats, it is taken as departures.
		last := now.Add(9 * timeout)
		gone := postgres.LeaseCount{Stale: 6000, Overdue: 6000, Total: 18000}
		if g.allow(last.Add(massSilenceHold*timeout-time.Second), last.Add(massSilenceHold*timeout-time.Second-timeout), gone, timeout) {
			t.Fatal("reaped within the hold after the last late beats")
		}
		if !g.allow(last.Add(massSilenceHold*timeout), last.Add(massSilenceHold*timeout-timeout), gone, timeout) {
			t.Fatal("did not reap a silence without late beats that outlasted the hold")
		}
	})

	t.Run("a few late beats do not hold a departure", func(t *testing.T) {
		// A bridge went with 2,500 viewers; 30 others beat late meanwhile
		// (laptops waking up): far under a tenth of the overdue.
		g := silenceGuard{reachableSince: start}
		now := at(10 * time.Minute)
		c := postgres.LeaseCount{Stale: 2500, Overdue: 2500, Total: 5000, Late: 30}
		if g.allow(now, now.Add(-timeout), c, timeout) {
			t.Fatal("reaped at the start of a mass silence")
		}
		if !g.allow(now.Add(massSilenceHold*timeout), now.Add(massSilenceHold*timeout-timeout), c, timeout) {
			t.Fatal("a few late beats held a departure beyond the hold")
		}
		if g.slowPath {
			t.Fatal("the guard reports a slow path for a few late beats")
		}
	})

	t.Run("a stall is seen from the overdue before the first connection is stale", func(t *testing.T) {
		// Heartbeats stop at once; beats were spread over the interval, so
		// the overdue share reaches the fraction while only a few, or
		// none, have crossed the stale timeout.
		g := silenceGuard{reachableSince: start}
		now := at(10 * time.Minute)
		if !passOverdue(&g, now, 0, 400, 5000) {
			t.Fatal("a few overdue connections held reaping")
		}
		if passOverdue(&g, now.Add(time.Second), 0, 600, 5000) {
			t.Fatal("reaped with 12% of the connections overdue")
		}
		if passOverdue(&g, now.Add(20*time.Second), 150, 2500, 5000) {
			t.Fatal("reaped the first stale connections of a stall that the overdue had shown")
		}
		if g.massSince != now.Add(time.Second) {
			t.Fatalf("mass silence since %s, want %s", g.massSince, now.Add(time.Second))
		}
	})

	t.Run("an outage of the heartbeat path reaps nothing and then gives everyone a full timeout", func(t *testing.T) {
		// A small installation (fewer viewers than a mass silence needs)
		// whose kube-apiserver is down for ten stale timeouts: the reaper's
		// passes see the path down and do not decide.
		g := silenceGuard{reachableSince: start}
		now := at(10 * time.Minute)
		if !pass(&g, now, 1, 5) {
			t.Fatal("did not reap a silent connection before the outage")
		}
		for range 10 {
			g.outage()
		}
		back := now.Add(10 * timeout)
		if pass(&g, back, 5, 5) {
			t.Fatal("reaped right after an outage of the heartbeat path: the viewers had no stale timeout to beat")
		}
		if pass(&g, back.Add(timeout-time.Second), 5, 5) {
			t.Fatal("reaped within a stale timeout of the end of the outage")
		}
		if !pass(&g, back.Add(timeout), 5, 5) {
			t.Fatal("did not reap a full stale timeout after the outage")
		}
	})

	t.Run("an outage during a mass silence starts its hold again", func(t *testing.T) {
		g := silenceGuard{reachableSince: start}
		now := at(10 * time.Minute)
		if pass(&g, now, 2500, 5000) {
			t.Fatal("reaped at the start of a mass silence")
		}
		g.outage()
		back := now.Add(massSilenceHold * timeout)
		if pass(&g, back, 2500, 5000) {
			t.Fatal("reaped right after an outage that outlasted the hold of the mass silence before it")
		}
		if pass(&g, back.Add(massSilenceHold*timeout-time.Second), 2500, 5000) {
			t.Fatal("reaped within the hold of a mass silence seen after an outage")
		}
		if !pass(&g, back.Add(massSilenceHold*timeout), 2500, 5000) {
			t.Fatal("did not reap a mass silence that outlasted its hold after the outage")
		}
	})
}
