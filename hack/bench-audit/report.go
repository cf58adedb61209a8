package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/streamspace/controlplane/internal/benchdoc"
)

// The section of docs/benchmarks.md that make bench-audit owns.

var sectionBegin, sectionEnd = benchdoc.Markers("bench-audit")

type report struct {
	options   options
	machine   string
	loadAtEnd string
	began     time.Time
	finished  time.Time
	rounds    []roundResult
}

func (r report) write(path string) error {
	return benchdoc.Replace(path, sectionBegin, sectionEnd, r.markdown())
}

// side is the rounds of one side.
func (r report) side(audit bool) []roundResult {
	var out []roundResult
	for _, x := range r.rounds {
		if x.audit == audit {
			out = append(out, x)
		}
	}
	return out
}

func values(rs []roundResult, f func(roundResult) float64) []float64 {
	out := make([]float64, 0, len(rs))
	for _, x := range rs {
		out = append(out, f(x))
	}
	return out
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// spread is "median (min–max)".
func spread(v []float64, format string) string {
	return fmt.Sprintf(format+" ("+format+"–"+format+")", median(v), slices.Min(v), slices.Max(v))
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }

func (r report) markdown() string {
	o := r.options
	on, off := r.side(true), r.side(false)
	var b strings.Builder
	fmt.Fprintln(&b, sectionBegin)
	fmt.Fprintf(&b, "## Session creates with the audit trail in Postgres on and off (`make bench-audit`)\n\n")
	fmt.Fprintf(&b, "`make bench-audit` (`hack/bench-audit`) starts the local control plane and stops streamspace-controller. Before\n")
	fmt.Fprintf(&b, "every round it restarts the streamspace-apiserver behind the aggregator, on the same stack and Postgres, either\n")
	fmt.Fprintf(&b, "with its defaults (*audit on*: the Postgres audit backend behind the library's buffered backend, batches of up\n")
	fmt.Fprintf(&b, "to 500 events at least every second, the built-in policy, which records a create at Request level, with its\n")
	fmt.Fprintf(&b, "body) or with `--audit-postgres=false` (*audit off*: no audit backend, no policy); the sides alternate on, off,\n")
	fmt.Fprintf(&b, "off, on, ... (%d rounds each). A round creates a fresh namespace, sends %d untimed warm-up creates, waits until\n", o.rounds, o.warmup)
	fmt.Fprintf(&b, "their rows are in `audit_log` (audit on), then times %d Session creates (about 600 bytes of JSON each) from %d\n", o.objects, o.clients)
	fmt.Fprintf(&b, "concurrent clients, as the admin with the typed client-go client through kube-apiserver (JSON, rate limit\n")
	fmt.Fprintf(&b, "lifted). It then counts the rows of `audit_log` for the round's namespace, reads the replica's audit counters\n")
	fmt.Fprintf(&b, "from its `/metrics`, and deletes the round's Sessions and namespace before the next round starts. Flags:\n")
	fmt.Fprintf(&b, "`--rounds` (per side), `--objects`, `--warmup`, `--clients`, `--cpu-profiles DIR`.\n\n")
	fmt.Fprintf(&b, "Run of %s (commit %s), %s, on %s; load average %s at the end.\n\n", r.began.UTC().Format("2006-01-02 15:04 MST"),
		benchdoc.Commit(), r.finished.Sub(r.began).Round(time.Second), r.machine, r.loadAtEnd)
	if o.cpuProfiles != "" {
		fmt.Fprintf(&b, "CPU and allocation profiles of streamspace-apiserver (`/debug/pprof/profile` and `/debug/pprof/allocs`, %d s from\n", o.profileSeconds)
		fmt.Fprintf(&b, "the first timed create) were taken in\n")
		fmt.Fprintf(&b, "every round, on both sides alike.\n\n")
	}

	fmt.Fprintf(&b, "Medians of the rounds (min–max):\n\n")
	fmt.Fprintf(&b, "| per round | audit on | audit off | on/off (medians) |\n|---|---:|---:|---:|\n")
	row := func(label, format string, f func(roundResult) float64) {
		a, z := values(on, f), values(off, f)
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", label, spread(a, format), spread(z, format), ratio(median(a), median(z)))
	}
	row(fmt.Sprintf("creates/s, %d clients", o.clients), "%.0f", roundResult.rate)
	row("create latency p50 (ms)", "%.1f", func(x roundResult) float64 { return float64(x.p50) / float64(time.Millisecond) })
	row("create latency p99 (ms)", "%.1f", func(x roundResult) float64 { return float64(x.p99) / float64(time.Millisecond) })
	row("streamspace-apiserver CPU per create (ms)", "%.2f", roundResult.serverCPUPerCreate)
	row("Postgres CPU per create (ms)", "%.2f", roundResult.postgresCPUPerCreate)
	row("kube-apiserver CPU per create (ms)", "%.2f", roundResult.kubeCPUPerCreate)
	row("the three together (ms)", "%.2f", func(x roundResult) float64 {
		return x.serverCPUPerCreate() + x.postgresCPUPerCreate() + x.kubeCPUPerCreate()
	})
	row("streamspace-apiserver peak RSS (MiB)", "%.0f", func(x roundResult) float64 { return float64(x.peakRSS) / (1 << 20) })
	fmt.Fprintln(&b)

	fmt.Fprintf(&b, "Every round (CPU per timed create; audit events are the replica's counters for the round: produced /\n")
	fmt.Fprintf(&b, "written / dropped / errors):\n\n")
	fmt.Fprintf(&b, "| round | audit | load (1 min) | creates/s | p50 | p99 | streamspace-apiserver CPU | Postgres CPU | kube-apiserver CPU | rows in audit_log / creates | all rows in after | audit events |\n")
	fmt.Fprintf(&b, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.rounds {
		allIn := "—"
		switch {
		case x.audit && x.allIn < 0:
			allIn = "not within 30 s"
		case x.audit:
			allIn = x.allIn.Round(10 * time.Millisecond).String()
		}
		m := x.metrics
		fmt.Fprintf(&b, "| %d | %s | %s | %.0f | %s | %s | %.2f ms | %.2f ms | %.2f ms | %d / %d | %s | %.0f / %.0f / %.0f / %.0f |\n",
			x.round, onOff(x.audit), x.load1, x.rate(), ms(x.p50), ms(x.p99), x.serverCPUPerCreate(), x.postgresCPUPerCreate(),
			x.kubeCPUPerCreate(), x.rows, x.creates, allIn, m.events, m.written, m.dropped, m.auditErrors)
	}
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, r.auditCheck(on, off))
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Creates/s is the timed creates over the time from the first request to the last answer; p50 and p99 are of the\n")
	fmt.Fprintf(&b, "single creates' latencies. CPU is user+system time from `/proc/<pid>/stat` (10 ms ticks) from the first timed\n")
	fmt.Fprintf(&b, "create until every row was in `audit_log` and at least %s after the last create, on both sides, divided by the\n", settle)
	fmt.Fprintf(&b, "timed creates; Postgres is the whole cluster (postmaster, backends, autovacuum, WAL writer, checkpointer).\n")
	fmt.Fprintf(&b, "\"All rows in after\" is when the tool, polling every 100 ms, first saw every create's row, counted from the\n")
	fmt.Fprintf(&b, "last create's answer. Rows count creates of Sessions answered 201 in the round's namespace, warm-up included.\n")
	fmt.Fprintf(&b, "Client, servers and Postgres share the machine's cores.\n")
	fmt.Fprint(&b, sectionEnd)
	return b.String()
}

// auditCheck says, from the figures, whether the audited rounds recorded
// every create once and nothing was dropped, and whether the other rounds
// recorded nothing.
func (r report) auditCheck(on, off []roundResult) string {
	var missing []string
	for _, x := range on {
		if !x.complete() || x.metrics.dropped != 0 || x.metrics.auditErrors != 0 {
			missing = append(missing, fmt.Sprintf("round %d (%d rows, %d answered 201, %d names, for %d creates; %.0f dropped, %.0f audit errors)",
				x.round, x.rows, x.rows201, x.names, x.creates, x.metrics.dropped, x.metrics.auditErrors))
		}
	}
	var s string
	if len(missing) == 0 {
		s = fmt.Sprintf("In every audited round `audit_log` held exactly one row per create (%d of %d, each answered 201, each name\n", on[0].creates, on[0].creates)
		s += "once), and the replica counted no dropped event and no audit error (`streamspace_audit_events_dropped_total` and\n"
		s += "`apiserver_audit_error_total` absent or 0)."
	} else {
		s = "Audited rounds that did not record every create exactly once, or counted drops or audit errors: " + strings.Join(missing, "; ") + "."
	}
	var noisy []string
	for _, x := range off {
		if x.rows != 0 || x.metrics.events != 0 {
			noisy = append(noisy, fmt.Sprintf("round %d (%d rows, %.0f events)", x.round, x.rows, x.metrics.events))
		}
	}
	if len(noisy) == 0 {
		s += " The rounds without the audit trail left no row and produced no audit event."
	} else {
		s += " Rounds without the audit trail that nonetheless recorded: " + strings.Join(noisy, "; ") + "."
	}
	return s
}
