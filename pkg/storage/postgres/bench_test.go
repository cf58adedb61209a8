package postgres

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/apis/example"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamspace/controlplane/internal/postgresproc"
)

// BenchmarkCreate measures creates per second against the raw store (no
// watch cache) with 1 and 16 concurrent clients, on a Postgres with the
// default, durable settings (the tests' server runs with fsync off): the
// write path's throughput, which group commit raises by sharing one
// transaction, and so one WAL flush, among the writes that arrive together.
func BenchmarkCreate(b *testing.B) {
	pool := durableBenchmarkPool(b)
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			backend := newTestBackend(b, pool, BackendOptions{})
			prefix := fmt.Sprintf("/pods/%s-%d/", b.Name(), b.N)
			s := backend.newStore(ObjectsTable, examplev1Codec(), newPod, newPodList, "/pods/", nil,
				WithGroupResource(schema.GroupResource{Resource: "pods"}))
			var next atomic.Int64
			errs := make(chan error, clients)
			b.ResetTimer()
			var wg sync.WaitGroup
			for range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						pod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "bench", Name: fmt.Sprintf("pod-%d", i)}}
						if err := s.Create(context.Background(), prefix+pod.Name, pod, &example.Pod{}, 0); err != nil {
							errs <- err
							return
						}
					}
				}()
			}
			wg.Wait()
			b.StopTimer()
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
		})
	}
}

// durableBenchmarkPool starts a Postgres of its own with default settings
// (fsync on, synchronous_commit on) for the benchmark.
func durableBenchmarkPool(b *testing.B) *pgxpool.Pool {
	b.Helper()
	dir, err := os.MkdirTemp("", "pgbench-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	srv, err := postgresproc.Start(context.Background(), postgresproc.Options{Dir: filepath.Join(dir, "pg")})
	if err != nil {
		b.Fatalf("start postgres: %v", err)
	}
	b.Cleanup(func() { _ = srv.Stop() })
	pool, err := NewPool(context.Background(), srv.DSN(), 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool
}
