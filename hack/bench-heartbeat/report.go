package main

import (
	"fmt"
	"slices"
	"strings"
	"time"
)

type report struct {
	options         *options
	machine, commit string
	began, finished time.Time
	rounds          []round
	tables          []tableInfo
	feeds, sessions int
	loadEnd         string
}

func (r report) markdown() string {
	o := r.options
	var b strings.Builder
	fmt.Fprintln(&b, sectionBegin)
	fmt.Fprintln(&b, "## Heartbeats of a fleet of viewers (`make bench-heartbeat`)")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "`make bench-heartbeat` (`hack/bench-heartbeat`) starts the local control plane with streamspace-controller and")
	fmt.Fprintf(&b, "streamspace-bridge running, %d users (each a token and a namespace) and one more fake node per 100 sessions,\n", o.users)
	fmt.Fprintln(&b, "then creates Sessions (template firefox, round robin over the users) with 1–4 Connections each (uniformly")
	fmt.Fprintf(&b, "drawn) and sends each Connection's heartbeat every %s as its owner (the user's token, client-go, through\n", o.interval)
	fmt.Fprintln(&b, "kube-apiserver's aggregator). Each connection beats first at a random moment of its first interval, so the")
	fmt.Fprintln(&b, "load is spread uniformly; the schedule is open loop (a heartbeat is sent at its time however slow the")
	fmt.Fprintln(&b, "previous answers are). *From due* is the latency from the scheduled time to the answer (it includes any")
	fmt.Fprintln(&b, "lateness of the load generator, which shares the cores), *from send* from the request to the answer.")
	fmt.Fprintf(&b, "%d WebSocket session feeds of the bridge stay open over the users for the whole run. The fleet grows size\n", r.feeds)
	fmt.Fprintln(&b, "by size on one stack: a size's new sessions are created first and its viewers opened once every session is")
	fmt.Fprintf(&b, "Running; after one interval of warm-up at a size, the heartbeats due in the next %s are\n", o.duration)
	fmt.Fprintln(&b, "measured. CPU is user+system time from `/proc/<pid>/stat` over the window, divided by the heartbeats of the")
	fmt.Fprintln(&b, "window; it includes everything else the process did meanwhile (the controllers' and bridge's traffic).")
	fmt.Fprintln(&b, "Postgres is the postmaster and its backends.")
	var extra []string
	if len(o.streamspaceArgs) > 0 {
		extra = append(extra, "streamspace-apiserver `"+strings.Join(o.streamspaceArgs, " ")+"`")
	}
	if len(o.controllerArgs) > 0 {
		extra = append(extra, "streamspace-controller `"+strings.Join(o.controllerArgs, " ")+"`")
	}
	if len(extra) > 0 {
		fmt.Fprintf(&b, "Extra flags: %s.\n", strings.Join(extra, ", "))
	}
	if o.label != "" {
		fmt.Fprintln(&b)
		fmt.Fprintln(&b, o.label)
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Last run %s (commit %s) on %s; load average %s at the end.\n", r.began.Format("2006-01-02"), r.commit, r.machine, r.loadEnd)
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| viewers (sessions) | heartbeats/s | heartbeats | errors | from due p50 / p99 / max | from send p50 / p99 / max | CPU ms per heartbeat: streamspace-apiserver / kube-apiserver / Postgres | connections at the end | load at the end |")
	fmt.Fprintln(&b, "|---|---|---|---|---|---|---|---|---|")
	for _, rd := range r.rounds {
		fmt.Fprintf(&b, "| %d (%d) | %.0f | %d | %d | %s / %s / %s | %s / %s / %s | %s / %s / %s | %d | %s |\n",
			rd.viewers, rd.sessions, float64(rd.beats)/rd.window.Seconds(), rd.beats, rd.errors,
			ms(pct(rd.fromDue, 50)), ms(pct(rd.fromDue, 99)), ms(pct(rd.fromDue, 100)),
			ms(pct(rd.fromSend, 50)), ms(pct(rd.fromSend, 99)), ms(pct(rd.fromSend, 100)),
			strings.TrimSuffix(rd.perBeat("streamspace-apiserver"), " ms"), strings.TrimSuffix(rd.perBeat("kube-apiserver"), " ms"), strings.TrimSuffix(rd.perBeat("postgres"), " ms"),
			rd.connections, rd.load)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "From due p99 minute by minute of each window (heartbeats due in that minute):")
	fmt.Fprintln(&b)
	for _, rd := range r.rounds {
		fmt.Fprintf(&b, "- %d viewers: %s\n", rd.viewers, rd.timeline())
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Seconds of each window with a heartbeat over %s (by due time), and in each such second the process\n", ms(slowSecond))
	fmt.Fprintln(&b, "furthest above its own average CPU of the window (sampled every second from `/proc`): a tail made by bursts")
	fmt.Fprintln(&b, "of one process shows as that process; a tail of steady load spreads:")
	fmt.Fprintln(&b)
	for _, rd := range r.rounds {
		fmt.Fprintf(&b, "- %d viewers: %s\n", rd.viewers, rd.slow)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "Where the machine's cores went during each window (average cores busy; *other* is the machine's busy time")
	fmt.Fprintln(&b, "outside these processes, *steal* the time the hypervisor ran another guest while this one had work):")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, coresTable(r.rounds))
	fmt.Fprintln(&b, "The servers' own latency histograms over each window (their `/metrics`, bucket-interpolated):")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, histogramTable(r.rounds))
	fmt.Fprintf(&b, "Tables at the end (%d sessions), largest first:\n", r.sessions)
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| table | rows | size |")
	fmt.Fprintln(&b, "|---|---|---|")
	for _, t := range r.tables {
		fmt.Fprintf(&b, "| %s | %d | %.1f MiB |\n", t.name, t.rows, float64(t.bytes)/(1<<20))
	}
	for _, rd := range r.rounds {
		for _, p := range rd.profileTops {
			fmt.Fprintln(&b)
			fmt.Fprintf(&b, "%s profile of %s at %d viewers (`go tool pprof -top -sample_index=%s`, first entries):\n", p.kind.title, p.process, rd.viewers, p.kind.sampleIndex)
			fmt.Fprintln(&b)
			fmt.Fprintln(&b, "```")
			fmt.Fprintln(&b, p.top)
			fmt.Fprintln(&b, "```")
		}
	}
	fmt.Fprintln(&b, sectionEnd)
	return b.String()
}

// coresTable is each window's CPU by process, in cores: the processes of
// the stack, the load generator, the rest of the machine and steal.
func coresTable(rounds []round) string {
	var b strings.Builder
	cols := append(slices.Clone(stackProcesses), "bench-heartbeat")
	fmt.Fprintf(&b, "| viewers | %s | other | all busy | steal | idle |\n", strings.Join(cols, " | "))
	fmt.Fprintf(&b, "|---|%s\n", strings.Repeat("---:|", len(cols)+4))
	for _, rd := range rounds {
		secs := rd.window.Seconds()
		cores := func(d time.Duration) string { return fmt.Sprintf("%.2f", d.Seconds()/secs) }
		fmt.Fprintf(&b, "| %d |", rd.viewers)
		var ours time.Duration
		for _, c := range cols {
			ours += rd.cpu[c]
			fmt.Fprintf(&b, " %s |", cores(rd.cpu[c]))
		}
		fmt.Fprintf(&b, " %s | %s | %s | %s |\n", cores(max(rd.machine.Busy-ours, 0)), cores(rd.machine.Busy), cores(rd.machine.Steal), cores(rd.machine.Idle))
	}
	return b.String()
}
