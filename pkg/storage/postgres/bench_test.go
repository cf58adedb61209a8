package postgres

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/storage"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/streamspace/controlplane/internal/postgresproc"
	"github.com/streamspace/controlplane/internal/procstat"
)

// BenchmarkCreate measures creates per second against the raw store (no
// watch cache) with 1 and 16 concurrent clients, on a Postgres with the
// default, durable settings (the tests' server runs with fsync off): the
// write path's throughput, which group commit raises by sharing one
// transaction, and so one WAL flush, among the writes that arrive together.
//
// A watch of the prefix is open throughout, as the watch cache keeps one on
// every resource, and the round ends when it has seen every create: the
// figures are those of the write and of the change's way to the watchers.
// Besides creates/s it reports the CPU per create of this process (store,
// committer, tailer and watch) and of the Postgres cluster.
func BenchmarkCreate(b *testing.B) {
	pool, postmaster := durableBenchmarkPool(b)
	var rounds atomic.Int64 // a fresh prefix for every round, also with -count
	for _, clients := range []int{1, 16} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			backend := newTestBackend(b, pool, BackendOptions{})
			prefix := fmt.Sprintf("/pods/round-%d/", rounds.Add(1))
			s := backend.newStore(ObjectsTable, examplev1Codec(), newPod, newPodList, "/pods/", nil,
				WithGroupResource(schema.GroupResource{Resource: "pods"}))
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			w, err := s.Watch(ctx, prefix, storage.ListOptions{ResourceVersion: "0", Predicate: storage.Everything, Recursive: true})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Stop()
			seen := make(chan struct{})
			go func() {
				defer close(seen)
				n := 0
				for ev := range w.ResultChan() {
					if ev.Type == watch.Added {
						if n++; n == b.N {
							return
						}
					}
				}
			}()
			var next atomic.Int64
			errs := make(chan error, clients)
			cpu := startCPUCount(b, postmaster)
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
			close(errs)
			for err := range errs {
				b.Fatal(err)
			}
			<-seen
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "creates/s")
			cpu.report(b, "create")
		})
	}
}

// cpuCount is the CPU this process and a Postgres cluster used since it began.
type cpuCount struct {
	postmaster     int
	self, postgres time.Duration
}

func startCPUCount(b *testing.B, postmaster int) *cpuCount {
	c := &cpuCount{postmaster: postmaster}
	c.self, c.postgres = c.read(b)
	return c
}

func (c *cpuCount) read(b *testing.B) (self, postgres time.Duration) {
	self, err := procstat.CPU(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	if postgres, err = procstat.TreeCPU(c.postmaster); err != nil {
		b.Fatal(err)
	}
	return self, postgres
}

// report adds the CPU per operation of both as metrics.
func (c *cpuCount) report(b *testing.B, op string) {
	self, postgres := c.read(b)
	per := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(b.N) }
	b.ReportMetric(per(self-c.self), "µs-cpu-self/"+op)
	b.ReportMetric(per(postgres-c.postgres), "µs-cpu-postgres/"+op)
}

// durableBenchmarkPool starts a Postgres of its own with default settings
// (fsync on, synchronous_commit on) for the benchmark.
func durableBenchmarkPool(b *testing.B) (pool *pgxpool.Pool, postmaster int) {
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
	pool, err = NewPool(context.Background(), srv.DSN(), 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	return pool, srv.PID()
}
