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
	options   options
	machine   string
	began     time.Time
	finished  time.Time
	ours, crd results
}

func (r report) markdown() string {
	o := r.options
	var b strings.Builder
	fmt.Fprintln(&b, sectionBegin)
	fmt.Fprintf(&b, "Run of %s (commit %s), %s, on %s. Both sides in one run on one local control plane\n",
		r.began.UTC().Format("2006-01-02 15:04 MST"), benchdoc.Commit(), r.finished.Sub(r.began).Round(time.Second), r.machine)
	fmt.Fprintf(&b, "(`internal/devstack`: etcd, kube-apiserver, Postgres 15 with default durability settings), admin client\n")
	fmt.Fprintf(&b, "certificate, client-go dynamic client (JSON) with the rate limit lifted (QPS %d) for both.\n\n", 100000)
	fmt.Fprintf(&b, "| measurement | StreamSpace | CRD | ratio (ours/CRD) | better is | target |\n|---|---:|---:|---:|---|---|\n")
	row := func(what string, ours, crd float64, unit string, higherBetter bool, target string) {
		ratio := ours / crd
		better := "lower"
		if higherBetter {
			better = "higher"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %.2f | %s | %s |\n", what, format(ours, unit), format(crd, unit), ratio, better, target)
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	row("create, 1 client (objects/s)", r.ours.create1, r.crd.create1, "/s", true, "")
	row(fmt.Sprintf("create, %d clients (objects/s)", o.clients), r.ours.createN, r.crd.createN, "/s", true, fmt.Sprintf("≥ 1 (aim 1.5): %s", verdict(r.ours.createN/r.crd.createN >= 1)))
	row(fmt.Sprintf("LIST all, %d objects", o.small), ms(r.ours.listSmall), ms(r.crd.listSmall), "ms", false, "")
	row(fmt.Sprintf("LIST all, %d objects", o.large), ms(r.ours.listLarge), ms(r.crd.listLarge), "ms", false, fmt.Sprintf("≤ 1: %s", verdict(r.ours.listLarge <= r.crd.listLarge)))
	row(fmt.Sprintf("LIST spec.user=… (%d of %d), %d objects", r.ours.selectiveItems, o.large, o.large), ms(r.ours.listSelective), ms(r.crd.listSelective), "ms", false,
		fmt.Sprintf("≤ 1: %s", verdict(r.ours.listSelective <= r.crd.listSelective)))
	row("update → watch event, p50", ms(r.ours.watchP50), ms(r.crd.watchP50), "ms", false, "")
	row("update → watch event, p99", ms(r.ours.watchP99), ms(r.crd.watchP99), "ms", false, fmt.Sprintf("≤ 2: %s", verdict(r.ours.watchP99 <= 2*r.crd.watchP99)))
	row(fmt.Sprintf("update → event at %d watchers, p50", o.watchers), ms(r.ours.fanoutP50), ms(r.crd.fanoutP50), "ms", false, "")
	row(fmt.Sprintf("update → event at %d watchers, p99", o.watchers), ms(r.ours.fanoutP99), ms(r.crd.fanoutP99), "ms", false, "")
	row(fmt.Sprintf("update → event at all %d watchers (median of 10)", o.watchers), ms(r.ours.fanoutAll), ms(r.crd.fanoutAll), "ms", false, "")
	row(fmt.Sprintf("memory at %d objects: RSS of streamspace-apiserver vs kube-apiserver's RSS growth", o.large),
		float64(r.ours.memory.rssKB)/1024, float64(r.crd.memory.rssKB)/1024, "MiB", false, fmt.Sprintf("≤ 1: %s", verdict(r.ours.memory.rssKB <= r.crd.memory.rssKB)))
	row("peak RSS (VmHWM) of streamspace-apiserver vs kube-apiserver's peak growth", float64(r.ours.memory.peakKB)/1024, float64(r.crd.memory.peakKB)/1024, "MiB", false, "")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Objects: Sessions of %d users in one namespace, about 600 bytes of JSON each. Creates: objects 0–999 with one\n", o.users)
	fmt.Fprintf(&b, "client, 1000–4999 with %d; the rest (fills, not timed) with %d. LISTs: unpaginated, default resourceVersion\n", o.clients, o.clients)
	fmt.Fprintf(&b, "(consistent, served by each server's watch cache); median of 5 (small), 3 (large) and 10 (selective) runs.\n")
	fmt.Fprintf(&b, "Watch latency: %d merge patches of one object, one after the other, each timed from the request to the\n", o.updates)
	fmt.Fprintf(&b, "MODIFIED event on a watch of that object. Fan-out: %d watches of one object, 10 patches. Memory: VmRSS from\n", o.watchers)
	fmt.Fprintf(&b, "/proc after the fill to %d; the CRD side was measured first and its figure is kube-apiserver's growth\n", o.large)
	fmt.Fprintf(&b, "from before the first CRD object. streamspace-controller is stopped during the run.\n")
	fmt.Fprintln(&b, sectionEnd)
	return b.String()
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
