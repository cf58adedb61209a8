package main

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/streamspace/controlplane/internal/benchdoc"
)

// The section of docs/benchmarks.md that make bench-wire owns.

type report struct {
	options  options
	machine  string
	began    time.Time
	finished time.Time
	rounds   []roundResult
}

// summary is the median over the rounds of one case.
type summary struct {
	c                                             wireCase
	wireBytes, bodyBytes                          int64
	wall, serverCPU, kubeCPU, clientCPU, decoding time.Duration
}

func (r report) summaries() []summary {
	var out []summary
	for _, c := range wireCases {
		var rs []roundResult
		for _, x := range r.rounds {
			if x.c == c {
				rs = append(rs, x)
			}
		}
		med := func(f func(roundResult) time.Duration) time.Duration {
			v := make([]time.Duration, 0, len(rs))
			for _, x := range rs {
				v = append(v, f(x))
			}
			slices.Sort(v)
			return v[len(v)/2]
		}
		out = append(out, summary{
			c: c, wireBytes: rs[len(rs)-1].wireBytes, bodyBytes: rs[len(rs)-1].bodyBytes,
			wall:      med(func(x roundResult) time.Duration { return x.wall }),
			serverCPU: med(func(x roundResult) time.Duration { return x.serverCPU }),
			kubeCPU:   med(func(x roundResult) time.Duration { return x.kubeCPU }),
			clientCPU: med(func(x roundResult) time.Duration { return x.clientCPU }),
			decoding:  med(func(x roundResult) time.Duration { return x.clientDecode }),
		})
	}
	return out
}

func (r report) markdown() string {
	o := r.options
	var b strings.Builder
	fmt.Fprintln(&b, sectionBegin)
	fmt.Fprintf(&b, "## LIST of %d Sessions: JSON vs protobuf (`make bench-wire`)\n\n", o.objects)
	fmt.Fprintf(&b, "`make bench-wire` (`hack/bench-wire`) starts the local control plane, stops streamspace-controller, creates\n")
	fmt.Fprintf(&b, "%d Sessions with a running session's status (four conditions) in one namespace, and lists them all, unpaginated,\n", o.objects)
	fmt.Fprintf(&b, "through kube-apiserver's aggregator as the admin: in JSON and in protobuf, each with `Accept-Encoding: gzip`\n")
	fmt.Fprintf(&b, "(what client-go sends by default) and with `identity`. %d rounds of %d LISTs per case, the order of the cases\n", o.rounds, o.lists)
	fmt.Fprintf(&b, "reversed every other round, after one unreported warm-up LIST per case. Flags: `--objects`, `--rounds`, `--lists`.\n\n")
	fmt.Fprintf(&b, "Run of %s (commit %s), %s, on %s.\n\n", r.began.UTC().Format("2006-01-02 15:04 MST"), benchdoc.Commit(),
		r.finished.Sub(r.began).Round(time.Second), r.machine)
	fmt.Fprintf(&b, "Per LIST, medians of the rounds:\n\n")
	fmt.Fprintf(&b, "| format | Accept-Encoding | bytes on the wire | body | wall time | streamspace-apiserver CPU | kube-apiserver CPU | client CPU (decode alone) |\n")
	fmt.Fprintf(&b, "|---|---|---:|---:|---:|---:|---:|---:|\n")
	sums := r.summaries()
	for _, s := range sums {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s (%s) |\n", short(s.c.format), s.c.encoding, mib(s.wireBytes), mib(s.bodyBytes),
			ms(s.wall), ms(s.serverCPU), ms(s.kubeCPU), ms(s.clientCPU), ms(s.decoding))
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Protobuf relative to JSON (same encoding):\n\n")
	fmt.Fprintf(&b, "| Accept-Encoding | bytes on the wire | wall time | streamspace-apiserver CPU | kube-apiserver CPU | client CPU | decode alone |\n")
	fmt.Fprintf(&b, "|---|---:|---:|---:|---:|---:|---:|\n")
	for _, enc := range []string{"gzip", "identity"} {
		var js, pb summary
		for _, s := range sums {
			if s.c.encoding != enc {
				continue
			}
			if s.c.format == "application/json" {
				js = s
			} else {
				pb = s
			}
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n", enc, ratio(float64(pb.wireBytes), float64(js.wireBytes)),
			ratio(float64(pb.wall), float64(js.wall)), ratio(float64(pb.serverCPU), float64(js.serverCPU)),
			ratio(float64(pb.kubeCPU), float64(js.kubeCPU)), ratio(float64(pb.clientCPU), float64(js.clientCPU)),
			ratio(float64(pb.decoding), float64(js.decoding)))
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Every round (per LIST: wall time is the median of the round's %d, CPU the mean):\n\n", o.lists)
	fmt.Fprintf(&b, "| round | format | Accept-Encoding | Content-Encoding | bytes on the wire | wall time | streamspace-apiserver CPU | kube-apiserver CPU | client CPU | decode alone |\n")
	fmt.Fprintf(&b, "|---:|---|---|---|---:|---:|---:|---:|---:|---:|\n")
	for _, x := range r.rounds {
		fmt.Fprintf(&b, "| %d | %s | %s | %s | %d | %s | %s | %s | %s | %s |\n", x.round, short(x.c.format), x.c.encoding, x.contentEnc,
			x.wireBytes, ms(x.wall), ms(x.serverCPU), ms(x.kubeCPU), ms(x.clientCPU), ms(x.clientDecode))
	}
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Server CPU is user+system time from `/proc/<pid>/stat` before the request and after the last byte (10 ms\n")
	fmt.Fprintf(&b, "ticks, so a mean of %d LISTs); it includes encoding from the watch cache, compression and TLS, and for\n", o.lists)
	fmt.Fprintf(&b, "kube-apiserver the aggregator's proxying. Client CPU is this process's `getrusage` over gunzip and decode\n")
	fmt.Fprintf(&b, "into a `SessionList` with the serializer client-go's typed clients use (garbage collection included);\n")
	fmt.Fprintf(&b, "wall time is request to last byte, without decoding. Client, servers and Postgres share the machine's cores.\n")
	fmt.Fprintln(&b, sectionEnd)
	return b.String()
}

func short(mediaType string) string {
	if mediaType == "application/json" {
		return "JSON"
	}
	return "protobuf"
}

func mib(n int64) string { return fmt.Sprintf("%.2f MiB", float64(n)/(1<<20)) }

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d)/float64(time.Millisecond)) }

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// The markers of this program's section of docs/benchmarks.md.
var sectionBegin, sectionEnd = benchdoc.Markers("bench-wire")

// write replaces this program's section of path (appends it when absent).
func (r report) write(path string) error {
	return benchdoc.Replace(path, sectionBegin, sectionEnd, r.markdown())
}
