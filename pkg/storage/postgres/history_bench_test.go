package postgres

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/storage"
)

// BenchmarkHeartbeatHistorySize updates 5,000 objects over and over, as the
// heartbeats of 5,000 connections would (one op = one round: every object
// updated once), with a short history retention and background compaction,
// and reports the on-disk size of the history and of the table
// (pg_total_relation_size: heap, indexes, TOAST) at the end and at the
// largest seen between rounds. Bounded means the final size does not grow
// with the number of rounds: compare -benchtime 10x with 40x.
func BenchmarkHeartbeatHistorySize(b *testing.B) {
	const (
		objects = 5000
		writers = 16
	)
	pool := newTestPool(b)
	backend := newTestBackend(b, pool, BackendOptions{HistoryRetention: 2 * time.Second, CompactionInterval: 500 * time.Millisecond})
	s := backend.newStore(ObjectsTable, examplev1Codec(), newPod, newPodList, "/pods/", nil)
	ctx := context.Background()
	padding := strings.Repeat("x", 600) // a Connection-sized object, about 1 kB stored
	for i := range objects {
		pod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: fmt.Sprintf("conn-%05d", i),
			Annotations: map[string]string{"padding": padding}}}
		if err := s.Create(ctx, "/pods/ns/"+pod.Name, pod, &example.Pod{}, 0); err != nil {
			b.Fatal(err)
		}
	}
	var peakHistory, peakTable int64
	b.ResetTimer()
	for round := range b.N {
		var wg sync.WaitGroup
		errs := make(chan error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < objects; i += writers {
					key := fmt.Sprintf("/pods/ns/conn-%05d", i)
					err := s.GuaranteedUpdate(ctx, key, &example.Pod{}, false, nil, storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
						pod := obj.(*example.Pod)
						pod.Annotations["heartbeat"] = fmt.Sprint(round)
						return pod, nil
					}), nil)
					if err != nil {
						errs <- err
						return
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			b.Fatal(err)
		}
		history, table := relationSizes(b, backend)
		peakHistory, peakTable = max(peakHistory, history), max(peakTable, table)
	}
	b.StopTimer()
	history, table := relationSizes(b, backend)
	var rows int64
	if err := pool.QueryRow(ctx, sqlHistoryRows).Scan(&rows); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(objects*b.N)/b.Elapsed().Seconds(), "updates/s")
	b.ReportMetric(float64(history)/(1<<20), "history-MB")
	b.ReportMetric(float64(peakHistory)/(1<<20), "peak-history-MB")
	b.ReportMetric(float64(table)/(1<<20), "table-MB")
	b.ReportMetric(float64(peakTable)/(1<<20), "peak-table-MB")
	b.ReportMetric(float64(rows), "history-rows")
}

func relationSizes(b *testing.B, backend *Backend) (history, table int64) {
	b.Helper()
	err := backend.pool.QueryRow(context.Background(),
		`SELECT pg_total_relation_size('history'), pg_total_relation_size('objects')`).Scan(&history, &table)
	if err != nil {
		b.Fatal(err)
	}
	return history, table
}
