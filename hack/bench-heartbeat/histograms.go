package main

import (
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// histogram is a latency histogram of a server's /metrics, summed over the
// series that match its labels: cumulative counts by upper bound.
type histogram struct {
	// title says which latency it is, for the report.
	title string
	// process is the server whose /metrics has it; family and labels
	// select its series.
	process, family string
	labels          map[string]string

	bounds []float64 // seconds, ascending, +Inf excluded
	counts []float64 // cumulative, one per bound
	total  float64
}

// windowHistograms are the latencies recorded inside the servers during a
// window, which say where the heartbeats' tail comes from: waiting for a
// seat in kube-apiserver, kube-apiserver's whole handling (proxying
// included), waiting for a seat in streamspace-apiserver, its whole
// handling, its authorization reviews, the lease statement's commit and
// the other writes.
func windowHistograms() []histogram {
	heartbeat := map[string]string{"resource": "connections", "subresource": "heartbeat"}
	return []histogram{
		{title: "kube-apiserver: priority and fairness wait (global-default)", process: "kube-apiserver",
			family: "apiserver_flowcontrol_request_wait_duration_seconds", labels: map[string]string{"priority_level": "global-default", "execute": "true"}},
		{title: "kube-apiserver: execution in global-default (heartbeats proxied, people's other requests)", process: "kube-apiserver",
			family: "apiserver_flowcontrol_request_execution_seconds", labels: map[string]string{"priority_level": "global-default"}},
		{title: "streamspace-apiserver: priority and fairness wait (all levels)", process: "streamspace-apiserver",
			family: "apiserver_flowcontrol_request_wait_duration_seconds", labels: map[string]string{"execute": "true"}},
		{title: "streamspace-apiserver: heartbeat requests, whole", process: "streamspace-apiserver",
			family: "apiserver_request_duration_seconds", labels: heartbeat},
		{title: "streamspace-apiserver: SubjectAccessReviews to kube-apiserver", process: "streamspace-apiserver",
			family: "apiserver_delegated_authz_request_duration_seconds"},
		{title: "streamspace-apiserver: lease batches (statement and commit)", process: "streamspace-apiserver",
			family: "streamspace_postgres_storage_heartbeat_batch_duration_seconds"},
		{title: "streamspace-apiserver: storage writes (persisted heartbeats, status updates)", process: "streamspace-apiserver",
			family: "streamspace_postgres_storage_write_duration_seconds"},
	}
}

// scrapeHistograms reads every histogram of hs from its server's /metrics
// (as the admin).
func (f *fleet) scrapeHistograms(ctx context.Context, hs []histogram) ([]histogram, error) {
	urls := map[string][2]string{
		"kube-apiserver":        {f.stack.KubeAPIServerURL, f.stack.CACert},
		"streamspace-apiserver": {f.stack.StreamspaceURL, f.stack.StreamspaceCA},
	}
	families := map[string]map[string]*dto.MetricFamily{}
	out := slices.Clone(hs)
	for i := range out {
		h := &out[i]
		fams, ok := families[h.process]
		if !ok {
			var err error
			if fams, err = f.metrics(ctx, urls[h.process][0], urls[h.process][1]); err != nil {
				return nil, fmt.Errorf("metrics of %s: %w", h.process, err)
			}
			families[h.process] = fams
		}
		h.bounds, h.counts, h.total = nil, nil, 0
		fam := fams[h.family]
		if fam == nil {
			continue
		}
	series:
		for _, m := range fam.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range h.labels {
				if have[k] != v {
					continue series
				}
			}
			hist := m.GetHistogram()
			if h.bounds == nil {
				for _, b := range hist.GetBucket() {
					if !math.IsInf(b.GetUpperBound(), 1) {
						h.bounds = append(h.bounds, b.GetUpperBound())
					}
				}
				h.counts = make([]float64, len(h.bounds))
			}
			for j, b := range hist.GetBucket() {
				if j < len(h.counts) {
					h.counts[j] += float64(b.GetCumulativeCount())
				}
			}
			h.total += float64(hist.GetSampleCount())
		}
	}
	return out, nil
}

func (f *fleet) metrics(ctx context.Context, baseURL, caFile string) (map[string]*dto.MetricFamily, error) {
	client, err := f.adminClient(caFile, time.Minute)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET /metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// since is the histogram of the observations after earlier.
func (h histogram) since(earlier histogram) histogram {
	d := h
	d.counts = slices.Clone(h.counts)
	if len(earlier.counts) == len(d.counts) {
		for i := range d.counts {
			d.counts[i] -= earlier.counts[i]
		}
		d.total -= earlier.total
	}
	return d
}

// quantile estimates the q-quantile (0..1) by linear interpolation inside
// its bucket, as Prometheus's histogram_quantile does; beyond the last
// finite bound it answers that bound, marked with ">".
func (h histogram) quantile(q float64) string {
	if h.total <= 0 || len(h.bounds) == 0 {
		return "-"
	}
	rank := q * h.total
	lower, below := 0.0, 0.0
	for i, b := range h.bounds {
		if h.counts[i] >= rank {
			in := h.counts[i] - below
			v := b
			if in > 0 {
				v = lower + (b-lower)*(rank-below)/in
			}
			return fmt.Sprintf("%.1f ms", v*1000)
		}
		lower, below = b, h.counts[i]
	}
	return fmt.Sprintf("> %.0f ms", h.bounds[len(h.bounds)-1]*1000)
}

// over is the share of observations above bound seconds (bound must be one
// of the histogram's bounds to be exact).
func (h histogram) over(bound float64) string {
	if h.total <= 0 {
		return "-"
	}
	for i, b := range h.bounds {
		if b >= bound {
			return fmt.Sprintf("%.2f %%", 100*(h.total-h.counts[i])/h.total)
		}
	}
	return "-"
}

// histogramTable is the report's table of the window's histograms.
func histogramTable(rounds []round) string {
	var b strings.Builder
	fmt.Fprintln(&b, "| viewers | latency inside the servers | observations | p50 | p99 | over 100 ms |")
	fmt.Fprintln(&b, "|---|---|---:|---:|---:|---:|")
	for _, rd := range rounds {
		for _, h := range rd.histograms {
			fmt.Fprintf(&b, "| %d | %s | %.0f | %s | %s | %s |\n", rd.viewers, h.title, h.total, h.quantile(0.5), h.quantile(0.99), h.over(0.1))
		}
	}
	return b.String()
}
