package main

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"

	"github.com/streamspace/controlplane/internal/benchstack"
	"github.com/streamspace/controlplane/internal/procstat"
)

// target is one side of the comparison: a Session resource and its client.
type target struct {
	name       string
	apiVersion string
	client     dynamic.ResourceInterface
}

// results are one side's figures.
type results struct {
	create1, createN     float64 // objects per second
	listSmall, listLarge time.Duration
	listSelective        time.Duration
	selectiveItems       int
	watchP50, watchP99   time.Duration
	fanoutP50, fanoutP99 time.Duration
	fanoutAll            time.Duration // median over updates of the time until every watcher had the event
	memory               memory        // at the large object count
}

// measure runs every measurement against t, in an order that builds the
// object counts up: creates, LIST at small, fill, memory, LIST at large,
// selective LIST, update-to-watch latency, fan-out.
func measure(ctx context.Context, o options, t *target, readMemory func() (memory, error)) (results, error) {
	var r results
	var err error
	logf("%s: create with 1 client", t.name)
	if r.create1, err = createRange(ctx, o, t, 0, 1000, 1); err != nil {
		return r, err
	}
	logf("%s: create with %d clients", t.name, o.clients)
	if r.createN, err = createRange(ctx, o, t, 1000, 5000, o.clients); err != nil {
		return r, err
	}
	logf("%s: fill to %d", t.name, o.small)
	if _, err = createRange(ctx, o, t, 5000, o.small, o.clients); err != nil {
		return r, err
	}
	if r.listSmall, _, err = medianList(ctx, t, metav1.ListOptions{}, 5, o.small); err != nil {
		return r, err
	}
	logf("%s: fill to %d", t.name, o.large)
	if _, err = createRange(ctx, o, t, o.small, o.large, o.clients); err != nil {
		return r, err
	}
	time.Sleep(5 * time.Second) // let the watch cache and the garbage collector settle
	if r.memory, err = readMemory(); err != nil {
		return r, err
	}
	if r.listLarge, _, err = medianList(ctx, t, metav1.ListOptions{}, 3, o.large); err != nil {
		return r, err
	}
	selective := metav1.ListOptions{FieldSelector: "spec.user=" + userName(7)}
	if r.listSelective, r.selectiveItems, err = medianList(ctx, t, selective, 10, -1); err != nil {
		return r, err
	}
	logf("%s: update-to-watch latency over %d updates", t.name, o.updates)
	if r.watchP50, r.watchP99, err = watchLatency(ctx, t, objectName(1), o.updates); err != nil {
		return r, err
	}
	logf("%s: delivery to %d watchers", t.name, o.watchers)
	if r.fanoutP50, r.fanoutP99, r.fanoutAll, err = fanout(ctx, t, objectName(2), o.watchers, 10); err != nil {
		return r, err
	}
	return r, nil
}

func objectName(i int) string { return fmt.Sprintf("session-%06d", i) }

func userName(i int) string { return fmt.Sprintf("user-%03d", i) }

// newSession is the object both sides create: the same body, only the
// apiVersion differs.
func (t *target) newSession(i, users int) *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": t.apiVersion,
		"kind":       "Session",
		"metadata": map[string]any{
			"name":   objectName(i),
			"labels": map[string]any{"app.kubernetes.io/part-of": "bench"},
		},
		"spec": map[string]any{
			"user":     userName(i % users),
			"template": "firefox",
			"resources": map[string]any{
				"requests": map[string]any{"cpu": "500m", "memory": "1Gi"},
				"limits":   map[string]any{"cpu": "1000m", "memory": "2Gi"},
			},
			"tags": []any{"bench"},
		},
	}}
}

// createRange creates objects [from, to) with the given number of concurrent
// clients and returns the rate.
func createRange(ctx context.Context, o options, t *target, from, to, clients int) (float64, error) {
	start := time.Now()
	err := benchstack.Parallel(from, to, clients, func(i int) error {
		if _, err := t.client.Create(ctx, t.newSession(i, o.users), metav1.CreateOptions{}); err != nil {
			return fmt.Errorf("create %s: %w", objectName(i), err)
		}
		return nil
	})
	if err != nil {
		return 0, err
	}
	return float64(to-from) / time.Since(start).Seconds(), nil
}

// medianList lists with opts n times and returns the median duration and the
// item count; want >= 0 checks the count.
func medianList(ctx context.Context, t *target, opts metav1.ListOptions, n, want int) (time.Duration, int, error) {
	var durations []time.Duration
	items := 0
	for range n {
		start := time.Now()
		list, err := t.client.List(ctx, opts)
		if err != nil {
			return 0, 0, fmt.Errorf("list %v: %w", opts, err)
		}
		durations = append(durations, time.Since(start))
		items = len(list.Items)
		if want >= 0 && items != want {
			return 0, 0, fmt.Errorf("list returned %d items, want %d", items, want)
		}
	}
	return percentile(durations, 50), items, nil
}

// watchLatency patches one object n times, one after the other, and times
// each from the request to the MODIFIED event on a watch of that object.
func watchLatency(ctx context.Context, t *target, name string, n int) (p50, p99 time.Duration, err error) {
	rv, err := currentRV(ctx, t, name)
	if err != nil {
		return 0, 0, err
	}
	w, err := t.client.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: rv})
	if err != nil {
		return 0, 0, err
	}
	defer w.Stop()
	var latencies []time.Duration
	for i := range n {
		start := time.Now()
		rv, err := bump(ctx, t, name, i)
		if err != nil {
			return 0, 0, err
		}
		received, err := waitForEvent(ctx, w, rv)
		if err != nil {
			return 0, 0, err
		}
		latencies = append(latencies, received.Sub(start))
	}
	return percentile(latencies, 50), percentile(latencies, 99), nil
}

// currentRV is the resourceVersion to watch the object from: the current
// one of the collection (a list of just the object), not the object's own,
// which dates from its create, tens of thousands of writes ago, and may be
// older than the watch cache's history (410 Gone).
func currentRV(ctx context.Context, t *target, name string) (string, error) {
	list, err := t.client.List(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name})
	if err != nil {
		return "", fmt.Errorf("list %s: %w", name, err)
	}
	if len(list.Items) != 1 {
		return "", fmt.Errorf("list %s: %d items", name, len(list.Items))
	}
	return list.GetResourceVersion(), nil
}

// bump changes an annotation of the object and returns its new resourceVersion.
func bump(ctx context.Context, t *target, name string, i int) (string, error) {
	patch := fmt.Sprintf(`{"metadata":{"annotations":{"bench/seq":"%d-%d"}}}`, i, time.Now().UnixNano())
	obj, err := t.client.Patch(ctx, name, types.MergePatchType, []byte(patch), metav1.PatchOptions{})
	if err != nil {
		return "", fmt.Errorf("patch %s: %w", name, err)
	}
	return obj.GetResourceVersion(), nil
}

// waitForEvent returns when the watch delivers the object at rv (events
// arrive in order, so earlier ones are passed over).
func waitForEvent(ctx context.Context, w watch.Interface, rv string) (time.Time, error) {
	timeout := time.After(time.Minute)
	for {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				return time.Time{}, fmt.Errorf("watch closed waiting for resourceVersion %s", rv)
			}
			if e.Type == watch.Error {
				return time.Time{}, fmt.Errorf("watch error waiting for resourceVersion %s: %v", rv, e.Object)
			}
			if u, ok := e.Object.(*unstructured.Unstructured); ok && u.GetResourceVersion() == rv {
				return time.Now(), nil
			}
		case <-timeout:
			return time.Time{}, fmt.Errorf("no event at resourceVersion %s within a minute", rv)
		case <-ctx.Done():
			return time.Time{}, ctx.Err()
		}
	}
}

// fanout opens watchers watches of one object, patches it updates times and
// returns, over all deliveries, the p50 and p99 from request to event, and the
// median time until the last watcher had it.
func fanout(ctx context.Context, t *target, name string, watchers, updates int) (p50, p99, all time.Duration, err error) {
	rv, err := currentRV(ctx, t, name)
	if err != nil {
		return 0, 0, 0, err
	}
	var ws []watch.Interface
	defer func() {
		for _, w := range ws {
			w.Stop()
		}
	}()
	for range watchers {
		w, err := t.client.Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=" + name, ResourceVersion: rv})
		if err != nil {
			return 0, 0, 0, fmt.Errorf("open watch %d: %w", len(ws), err)
		}
		ws = append(ws, w)
	}
	var latencies, alls []time.Duration
	for i := range updates {
		start := time.Now()
		rv, err := bump(ctx, t, name, i)
		if err != nil {
			return 0, 0, 0, err
		}
		received := make([]time.Time, len(ws))
		errs := make([]error, len(ws))
		var wg sync.WaitGroup
		for j, w := range ws {
			wg.Add(1)
			go func() {
				defer wg.Done()
				received[j], errs[j] = waitForEvent(ctx, w, rv)
			}()
		}
		wg.Wait()
		var last time.Duration
		for j := range ws {
			if errs[j] != nil {
				return 0, 0, 0, fmt.Errorf("watcher %d: %w", j, errs[j])
			}
			d := received[j].Sub(start)
			latencies = append(latencies, d)
			last = max(last, d)
		}
		alls = append(alls, last)
	}
	return percentile(latencies, 50), percentile(latencies, 99), percentile(alls, 50), nil
}

func percentile(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

// memory is a process's resident memory from /proc/<pid>/status, in kB.
type memory struct {
	rssKB, peakKB int64
}

func (m memory) minus(base memory) memory {
	return memory{rssKB: m.rssKB - base.rssKB, peakKB: m.peakKB - base.peakKB}
}

func readMemory(pid int) (memory, error) {
	rss, peak, err := procstat.Memory(pid)
	return memory{rssKB: rss >> 10, peakKB: peak >> 10}, err
}
