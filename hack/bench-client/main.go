// Command bench-client measures the StreamSpace API and the same Session as a
// CRD the way an outside reviewer would, with code of its own (none of
// hack/bench's): a plain client-go dynamic client speaking JSON, one run
// alternating CRD, ours, ours, CRD, each round in a fresh namespace, every
// round reported and each side's best of its two. It checks hack/bench's
// figures from outside (make bench-client).
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/streamspace/controlplane/internal/benchdoc"
	"github.com/streamspace/controlplane/internal/benchstack"
	"github.com/streamspace/controlplane/internal/devstack"
	"github.com/streamspace/controlplane/internal/procstat"
	"github.com/streamspace/controlplane/pkg/apis/stream"
)

var ours = schema.GroupVersionResource{Group: "stream.space", Version: "v1alpha1", Resource: "sessions"}

func main() {
	objects := flag.Int("objects", 10000, "Sessions created in each round (of 100 users)")
	clients := flag.Int("clients", 16, "concurrent creators")
	patches := flag.Int("patches", 200, "patches timed for update → watch event")
	out := flag.String("out", "", "markdown file whose bench-client section is (re)written; empty: print only")
	dir := flag.String("dir", "", "state directory of the control plane (default: a temporary one)")
	profiles := flag.String("profiles", "", "directory for CPU profiles of kube-apiserver and streamspace-apiserver during each round's creates (default: none taken)")
	flag.Parse()
	if *objects < 200 || *clients <= 0 || *patches <= 0 {
		fmt.Fprintln(os.Stderr, "bench-client: --objects at least 200, --clients and --patches positive")
		os.Exit(2)
	}
	if err := run(*objects, *clients, *patches, *out, *dir, *profiles); err != nil {
		fmt.Fprintf(os.Stderr, "bench-client: %v\n", err)
		os.Exit(1)
	}
}

// figures of one round.
type figures struct {
	side, namespace       string
	createPerSec          float64
	listAll, listSelected time.Duration
	selected              int
	watchP99              time.Duration
	load                  string
	// cpu is each serving process's CPU time over the round's creates.
	cpu map[string]time.Duration
}

// servers are the processes whose CPU is read over the creates: the
// request path of either side (kube-apiserver and etcd for the CRD,
// kube-apiserver, streamspace-apiserver and Postgres for ours).
var servers = []string{"kube-apiserver", "etcd", "streamspace-apiserver", "postgres"}

// postgresBackends is the part of Postgres's CPU spent in the backends of
// client connections (the statements); the rest is the cluster's own work:
// autovacuum, checkpoints, WAL writing.
const postgresBackends = "of which client backends"

// cpuColumns are the CPU figures reported for each round.
var cpuColumns = append(slices.Clone(servers), postgresBackends)

// cpuPerCreate is a process's CPU over the round's creates, per create, in ms.
func (f figures) cpuPerCreate(process string, objects int) float64 {
	return ms(f.cpu[process]) / float64(objects)
}

func run(objects, clients, patches int, out, dir, profiles string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Hour)
	defer cancel()
	began := time.Now()
	stack, cfg, stop, err := benchstack.Start(ctx, "bench-client", dir, false)
	defer stop()
	if err != nil {
		return err
	}
	pids := map[string]int{}
	for _, name := range servers {
		if pids[name], err = stack.PID(name); err != nil {
			return err
		}
	}
	var profiler *profiler
	if profiles != "" {
		if profiler, err = newProfiler(stack, cfg, profiles); err != nil {
			return err
		}
	}
	if err := benchstack.InstallSessionCRD(ctx, cfg); err != nil {
		return err
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = 100000, 100000
	cfg.ContentType = "application/json"
	dyn := dynamic.NewForConfigOrDie(cfg)
	kube := kubernetes.NewForConfigOrDie(cfg)
	var rounds []figures
	for i, side := range []string{"CRD", "StreamSpace", "StreamSpace", "CRD"} {
		gvr, apiVersion := benchstack.CRDSessions, benchstack.CRDSessions.GroupVersion().String()
		if side == "StreamSpace" {
			gvr, apiVersion = ours, ours.GroupVersion().String()
		}
		ns := fmt.Sprintf("client-%d", i+1)
		if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
			Labels: map[string]string{stream.SessionsNamespaceLabel: stream.SessionsNamespaceEnabled}}}, metav1.CreateOptions{}); err != nil {
			return err
		}
		if profiler != nil {
			profiler.start(ctx, fmt.Sprintf("round-%d-%s", i+1, strings.ToLower(side)))
		}
		f, err := measure(ctx, dyn.Resource(gvr).Namespace(ns), apiVersion, objects, clients, patches, pids)
		if profiler != nil {
			if perr := profiler.wait(); perr != nil && err == nil {
				err = perr
			}
		}
		if err != nil {
			return fmt.Errorf("round %d (%s): %w", i+1, side, err)
		}
		f.side, f.namespace, f.load = side, ns, benchdoc.LoadAverage()
		rounds = append(rounds, f)
		fmt.Fprintf(os.Stderr, "bench-client: round %d %s: create %.0f/s, LIST all %s, LIST selected %s (%d), update→watch p99 %s, CPU per create: %s\n",
			i+1, side, f.createPerSec, f.listAll.Round(time.Millisecond), f.listSelected.Round(100*time.Microsecond), f.selected, f.watchP99.Round(100*time.Microsecond), f.cpuLine(objects))
		// The round's objects go before the next round starts.
		// A DeleteCollection of 50,000 objects outlasts kube-apiserver's
		// 60 s request timeout: it is repeated until none is left.
		c := dyn.Resource(gvr).Namespace(ns)
		if err := wait.PollUntilContextTimeout(ctx, time.Second, 20*time.Minute, true, func(ctx context.Context) (bool, error) {
			l, err := c.List(ctx, metav1.ListOptions{Limit: 1})
			if err != nil || len(l.Items) > 0 {
				if err := c.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{}); err != nil {
					fmt.Fprintf(os.Stderr, "bench-client: delete the objects of %s: %v (continuing)\n", ns, err)
				}
				return false, nil
			}
			return true, nil
		}); err != nil {
			return fmt.Errorf("round %d's objects not gone: %w", i+1, err)
		}
	}
	md := report(rounds, objects, clients, patches, began)
	fmt.Print(md)
	if out == "" {
		return nil
	}
	begin, end := benchdoc.Markers("bench-client")
	return benchdoc.Replace(out, begin, end, begin+"\n"+md+end+"\n")
}

func session(apiVersion string, i int) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": apiVersion, "kind": "Session",
		"metadata": map[string]any{"name": fmt.Sprintf("s-%06d", i)},
		"spec": map[string]any{"user": fmt.Sprintf("user-%03d", i%100), "template": "firefox",
			"resources": map[string]any{"requests": map[string]any{"cpu": "500m", "memory": "1Gi"}}},
	}}
}

func measure(ctx context.Context, c dynamic.ResourceInterface, apiVersion string, objects, clients, patches int, pids map[string]int) (figures, error) {
	var f figures
	var next atomic.Int64
	var firstErr error
	var once sync.Once
	var wg sync.WaitGroup
	cpuBefore, err := procstat.CPUs(pids, "postgres")
	if err != nil {
		return f, err
	}
	backendsBefore, err := procstat.PostgresBackendsCPU(pids["postgres"])
	if err != nil {
		return f, err
	}
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= objects {
					return
				}
				if _, err := c.Create(ctx, session(apiVersion, i), metav1.CreateOptions{}); err != nil {
					once.Do(func() { firstErr = err })
					return
				}
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return f, firstErr
	}
	f.createPerSec = float64(objects) / time.Since(start).Seconds()
	cpuAfter, err := procstat.CPUs(pids, "postgres")
	if err != nil {
		return f, err
	}
	backendsAfter, err := procstat.PostgresBackendsCPU(pids["postgres"])
	if err != nil {
		return f, err
	}
	f.cpu = map[string]time.Duration{postgresBackends: backendsAfter - backendsBefore}
	for name, t := range cpuAfter {
		f.cpu[name] = t - cpuBefore[name]
	}

	timed := func(opts metav1.ListOptions) (time.Duration, int, error) {
		t := time.Now()
		l, err := c.List(ctx, opts)
		if err != nil {
			return 0, 0, err
		}
		return time.Since(t), len(l.Items), nil
	}
	var n int
	if f.listAll, n, err = timed(metav1.ListOptions{}); err != nil || n != objects {
		return f, fmt.Errorf("LIST all: %d items, %v", n, err)
	}
	var sel []time.Duration
	for range 5 {
		d, n, err := timed(metav1.ListOptions{FieldSelector: "spec.user=user-007"})
		if err != nil {
			return f, err
		}
		sel, f.selected = append(sel, d), n
	}
	slices.Sort(sel)
	f.listSelected = sel[len(sel)/2]

	l, err := c.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=s-000001"})
	if err != nil {
		return f, err
	}
	w, err := c.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=s-000001", ResourceVersion: l.GetResourceVersion()})
	if err != nil {
		return f, err
	}
	defer w.Stop()
	var lat []time.Duration
	for i := range patches {
		t := time.Now()
		obj, err := c.Patch(ctx, "s-000001", types.MergePatchType, fmt.Appendf(nil, `{"metadata":{"annotations":{"seq":"%d"}}}`, i), metav1.PatchOptions{})
		if err != nil {
			return f, err
		}
		for got := false; !got; {
			select {
			case e, ok := <-w.ResultChan():
				if !ok || e.Type == watch.Error {
					return f, fmt.Errorf("watch ended: %v", e.Object)
				}
				got = e.Object.(*unstructured.Unstructured).GetResourceVersion() == obj.GetResourceVersion()
			case <-time.After(time.Minute):
				return f, fmt.Errorf("no watch event for patch %d within a minute", i)
			}
		}
		lat = append(lat, time.Since(t))
	}
	slices.Sort(lat)
	f.watchP99 = lat[(len(lat)*99+99)/100-1]
	return f, nil
}

func report(rounds []figures, objects, clients, patches int, began time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run of %s (commit %s), on %s. Independent client (`hack/bench-client`): client-go dynamic client, JSON,\n",
		began.UTC().Format("2006-01-02 15:04 MST"), benchdoc.Commit(), benchdoc.Machine())
	fmt.Fprintf(&b, "rate limit lifted; rounds CRD, ours, ours, CRD in fresh namespaces, %d Sessions of 100 users each, created by %d clients;\n", objects, clients)
	fmt.Fprintf(&b, "LIST all once, LIST `spec.user=user-007` median of 5, update → watch p99 over %d patches. streamspace-controller stopped.\n\n", patches)
	fmt.Fprintf(&b, "| round | side | create (objects/s) | LIST all | LIST spec.user= | update → watch p99 | load average after |\n|---:|---|---:|---:|---:|---:|---|\n")
	for i, f := range rounds {
		fmt.Fprintf(&b, "| %d | %s | %.0f | %.0f ms | %.1f ms (%d) | %.1f ms | %s |\n", i+1, f.side, f.createPerSec,
			ms(f.listAll), ms(f.listSelected), f.selected, ms(f.watchP99), f.load)
	}
	fmt.Fprintf(&b, "\nCPU per create over each round's creates (ms; user+system time from /proc, everything each process did meanwhile;\n"+
		"Postgres is the postmaster and all its children, *%s* the part of it in the backends serving connections,\n"+
		"the rest is autovacuum, checkpoints and WAL writing):\n\n", postgresBackends)
	fmt.Fprintf(&b, "| round | side | %s | request path |\n|---:|---|%s---:|\n", strings.Join(cpuColumns, " | "), strings.Repeat("---:|", len(cpuColumns)))
	for i, f := range rounds {
		fmt.Fprintf(&b, "| %d | %s |", i+1, f.side)
		for _, name := range cpuColumns {
			fmt.Fprintf(&b, " %.2f |", f.cpuPerCreate(name, objects))
		}
		fmt.Fprintf(&b, " %.2f |\n", f.pathCPUPerCreate(objects))
	}
	best := func(side string, v func(figures) float64, higher bool) float64 {
		var vs []float64
		for _, f := range rounds {
			if f.side == side {
				vs = append(vs, v(f))
			}
		}
		if higher {
			return slices.Max(vs)
		}
		return slices.Min(vs)
	}
	fmt.Fprintf(&b, "\n| each side's best of two | StreamSpace | CRD | ratio (ours/CRD) |\n|---|---:|---:|---:|\n")
	for _, row := range []struct {
		what   string
		v      func(figures) float64
		higher bool
		unit   string
	}{
		{fmt.Sprintf("create, %d clients (objects/s)", clients), func(f figures) float64 { return f.createPerSec }, true, ""},
		{fmt.Sprintf("LIST all, %d", objects), func(f figures) float64 { return ms(f.listAll) }, false, " ms"},
		{fmt.Sprintf("LIST spec.user= (%d of %d)", objects/100, objects), func(f figures) float64 { return ms(f.listSelected) }, false, " ms"},
		{"update → watch event p99", func(f figures) float64 { return ms(f.watchP99) }, false, " ms"},
	} {
		o, c := best("StreamSpace", row.v, row.higher), best("CRD", row.v, row.higher)
		fmt.Fprintf(&b, "| %s | %.1f%s | %.1f%s | %.2f |\n", row.what, o, row.unit, c, row.unit, o/c)
	}
	return b.String()
}

// pathCPUPerCreate is the CPU per create of the processes a side's
// request passes through.
func (f figures) pathCPUPerCreate(objects int) float64 {
	path := []string{"kube-apiserver", "etcd"}
	if f.side == "StreamSpace" {
		path = []string{"kube-apiserver", "streamspace-apiserver", "postgres"}
	}
	var sum float64
	for _, name := range path {
		sum += f.cpuPerCreate(name, objects)
	}
	return sum
}

func (f figures) cpuLine(objects int) string {
	var parts []string
	for _, name := range cpuColumns {
		parts = append(parts, fmt.Sprintf("%s %.2f ms", name, f.cpuPerCreate(name, objects)))
	}
	return strings.Join(parts, ", ") + fmt.Sprintf("; request path %.2f ms", f.pathCPUPerCreate(objects))
}

// profiler takes CPU profiles of kube-apiserver and streamspace-apiserver
// while a round creates its objects.
type profiler struct {
	dir     string
	seconds int
	clients map[string]*http.Client
	urls    map[string]string
	wg      sync.WaitGroup
	err     error
	mu      sync.Mutex
}

func newProfiler(stack *devstack.Stack, admin *rest.Config, dir string) (*profiler, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	kube, err := rest.HTTPClientFor(admin)
	if err != nil {
		return nil, err
	}
	// streamspace-apiserver itself: its /debug/pprof is not behind the
	// aggregator.
	ours, err := rest.HTTPClientFor(benchstack.DirectConfig(stack, admin))
	if err != nil {
		return nil, err
	}
	return &profiler{dir: dir, seconds: 5,
		clients: map[string]*http.Client{"kube-apiserver": kube, "streamspace-apiserver": ours},
		urls:    map[string]string{"kube-apiserver": admin.Host, "streamspace-apiserver": stack.StreamspaceURL},
	}, nil
}

func (p *profiler) start(ctx context.Context, prefix string) {
	p.err = nil
	for name, client := range p.clients {
		p.wg.Go(func() {
			if err := benchstack.SaveProfile(ctx, client, p.urls[name], "profile", p.seconds, filepath.Join(p.dir, prefix+"-"+name+".pprof")); err != nil {
				p.mu.Lock()
				p.err = fmt.Errorf("profile of %s: %w", name, err)
				p.mu.Unlock()
			}
		})
	}
}

func (p *profiler) wait() error {
	p.wg.Wait()
	return p.err
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
