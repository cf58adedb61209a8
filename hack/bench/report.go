package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/streamspace/controlplane/internal/benchdoc"
)

// The section of docs/benchmarks.md that make bench owns; the rest of the
// file (other benchmarks) is left as it is.

type report struct {
	options  options
	machine  string
	began    time.Time
	finished time.Time
	rounds   []round
}

// figure is one row of the table: how to read it from a round's results,
// and the target for the ratio ours/CRD (0: none).
type figure struct {
	label        string
	unit         string
	higherBetter bool
	target       float64
	firstOnly    bool // the ratio from each side's first round only
	value        func(results) float64
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func (r report) figures() []figure {
	o := r.options
	return []figure{
		{label: "create, 1 client (objects/s)", unit: "/s", higherBetter: true, value: func(x results) float64 { return x.create1 }},
		{label: fmt.Sprintf("create, %d clients (objects/s)", o.clients), unit: "/s", higherBetter: true, target: 1.5, value: func(x results) float64 { return x.createN }},
		{label: fmt.Sprintf("LIST all, %d objects", o.small), unit: "ms", value: func(x results) float64 { return ms(x.listSmall) }},
		{label: fmt.Sprintf("LIST all, %d objects", o.large), unit: "ms", target: 1, value: func(x results) float64 { return ms(x.listLarge) }},
		{label: fmt.Sprintf("LIST spec.user=… (%d of %d)", o.large/o.users, o.large), unit: "ms", target: 0.2, value: func(x results) float64 { return ms(x.listSelective) }},
		{label: "update → watch event, p50", unit: "ms", value: func(x results) float64 { return ms(x.watchP50) }},
		{label: "update → watch event, p99", unit: "ms", target: 1, value: func(x results) float64 { return ms(x.watchP99) }},
		{label: fmt.Sprintf("update → event at %d watchers, p50", o.watchers), unit: "ms", value: func(x results) float64 { return ms(x.fanoutP50) }},
		{label: fmt.Sprintf("update → event at %d watchers, p99", o.watchers), unit: "ms", value: func(x results) float64 { return ms(x.fanoutP99) }},
		{label: fmt.Sprintf("update → event at all %d watchers (median of 10)", o.watchers), unit: "ms", value: func(x results) float64 { return ms(x.fanoutAll) }},
		{label: fmt.Sprintf("memory: RSS growth of the serving process during the fill to %d (first round of each side)", o.large), unit: "MiB", target: 0.5, firstOnly: true,
			value: func(x results) float64 { return float64(x.memory.rssKB) / 1024 }},
	}
}

// values are one side's figures in round order.
func (r report) values(f figure, ours bool) []float64 {
	var vs []float64
	for _, rd := range r.rounds {
		if rd.ours == ours {
			vs = append(vs, f.value(rd.results))
		}
	}
	return vs
}

func (r report) markdown() string {
	o := r.options
	var b strings.Builder
	fmt.Fprintln(&b, sectionBegin)
	fmt.Fprintf(&b, "Run of %s (commit %s), %s, on %s. Both sides in one run on one local control plane\n",
		r.began.UTC().Format("2006-01-02 15:04 MST"), benchdoc.Commit(), r.finished.Sub(r.began).Round(time.Second), r.machine)
	fmt.Fprintf(&b, "(`internal/devstack`: etcd, kube-apiserver, Postgres 15 with default durability settings), admin client\n")
	fmt.Fprintf(&b, "certificate, client-go dynamic client (JSON) with the rate limit lifted (QPS %d) for both. %d rounds per side,\n", 100000, o.rounds)
	fmt.Fprintf(&b, "alternating (CRD, ours, ours, CRD, …), each in a fresh namespace whose objects were all gone before the next round.\n")
	fmt.Fprintf(&b, "Medians of the rounds, the ratio of the medians, and every round's figure in round order.\n\n")
	fmt.Fprintf(&b, "| measurement | StreamSpace | CRD | ratio (ours/CRD) | better is | target | StreamSpace rounds | CRD rounds |\n|---|---:|---:|---:|---|---|---|---|\n")
	for _, f := range r.figures() {
		oursVals, crdVals := r.values(f, true), r.values(f, false)
		oursMed, _, _ := spread(oursVals)
		crdMed, _, _ := spread(crdVals)
		if f.firstOnly && len(oursVals) > 0 && len(crdVals) > 0 {
			oursMed, crdMed = oursVals[0], crdVals[0]
		}
		ratio := oursMed / crdMed
		better, target := "lower", ""
		if f.higherBetter {
			better = "higher"
		}
		if f.target > 0 {
			met := ratio <= f.target
			sign := "≤"
			if f.higherBetter {
				met, sign = ratio >= f.target, "≥"
			}
			target = fmt.Sprintf("%s %.1f: %s", sign, f.target, verdict(met))
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %s | %s | %s |\n", f.label, format(oursMed, f.unit), format(crdMed, f.unit), ratio, better, target,
			formatAll(oursVals, f.unit), formatAll(crdVals, f.unit))
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "| round | side | namespace | started (UTC) | took | load average before → after |\n|---:|---|---|---|---:|---|\n")
	for _, rd := range r.rounds {
		side := "CRD"
		if rd.ours {
			side = "StreamSpace"
		}
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %s | %s → %s |\n", rd.n, side, rd.namespace, rd.began.UTC().Format("15:04:05"), rd.took.Round(time.Second), rd.loadBefore, rd.loadAfter)
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Objects: Sessions of %d users, about 600 bytes of JSON each. Creates: objects 0–999 with one\n", o.users)
	fmt.Fprintf(&b, "client, 1000–4999 with %d; the rest (fills, not timed) with %d. LISTs: unpaginated, default resourceVersion\n", o.clients, o.clients)
	fmt.Fprintf(&b, "(consistent, served by each server's watch cache); median of 5 (small), 3 (large) and 10 (selective) runs.\n")
	fmt.Fprintf(&b, "Watch latency: %d merge patches of one object, one after the other, each timed from the request to the\n", o.updates)
	fmt.Fprintf(&b, "MODIFIED event on a watch of that object. Fan-out: %d watches of one object, 10 patches. Memory: VmRSS from\n", o.watchers)
	fmt.Fprintf(&b, "/proc of the serving process (streamspace-apiserver; kube-apiserver for the CRD) after the fill to %d minus\n", o.large)
	fmt.Fprintf(&b, "before the round; later rounds reuse memory the process kept from earlier ones, so the ratio is of each side's\n")
	fmt.Fprintf(&b, "first round. streamspace-controller is stopped during the run.\n")
	fmt.Fprintln(&b, sectionEnd)
	return b.String()
}

func formatAll(vs []float64, unit string) string {
	var parts []string
	for _, v := range vs {
		parts = append(parts, format(v, unit))
	}
	return strings.Join(parts, ", ")
}

func format(v float64, unit string) string {
	switch unit {
	case "/s":
		return fmt.Sprintf("%.0f", v)
	case "ms":
		if v < 10 {
			return fmt.Sprintf("%.2f ms", v)
		}
		return fmt.Sprintf("%.0f ms", v)
	default:
		return fmt.Sprintf("%.0f %s", v, unit)
	}
}

func verdict(met bool) string {
	if met {
		return "met"
	}
	return "**missed**"
}

// The markers of this program's section of docs/benchmarks.md.
var sectionBegin, sectionEnd = benchdoc.Markers("bench")

// write replaces this program's section of path (appends it when absent).
func (r report) write(path string) error {
	return benchdoc.Replace(path, sectionBegin, sectionEnd, r.markdown())
}
