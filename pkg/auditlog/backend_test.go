package auditlog

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	authnv1 "k8s.io/api/authentication/v1"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/plugin/pkg/audit/buffered"
	"k8s.io/component-base/metrics/testutil"
)

// silentDatabase accepts connections and never answers: a Postgres that
// hangs (a network partition, a stuck primary).
func silentDatabase(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "postgres://audit@" + l.Addr().String() + "/streamspace?sslmode=disable&connect_timeout=30"
}

func event(i int) *auditinternal.Event {
	return &auditinternal.Event{Verb: "create", Stage: auditinternal.StageResponseComplete, Level: auditinternal.LevelMetadata,
		User: authnv1.UserInfo{Username: "alice"}, ObjectRef: &auditinternal.ObjectReference{Resource: "sessions", Name: "s"}}
}

// While the database hangs, handing events to the pipeline never blocks:
// the buffered backend takes them or drops them at once, and the batches
// the Postgres backend cannot write within its timeout are counted as
// dropped.
func TestAHangingDatabaseNeverBlocksRequests(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(silentDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	dropped := func() float64 {
		v, _ := testutil.GetCounterMetricValue(eventsDropped.WithLabelValues("write_failed"))
		return v
	}
	before := dropped()
	backend := buffered.NewBackend(New(pool, 200*time.Millisecond), buffered.BatchConfig{BufferSize: 100, MaxBatchSize: 10, MaxBatchWait: 10 * time.Millisecond})
	stop := make(chan struct{})
	if err := backend.Run(stop); err != nil {
		t.Fatal(err)
	}
	// Far more events than the buffer holds, as a burst of requests would
	// bring: each hand-over returns at once whatever the database does.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 5000; i++ {
			backend.ProcessEvents(event(i))
		}
	}()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatal("handing audit events to the pipeline blocked while the database hangs")
	}
	// The first batches time out against the silent database and are counted.
	deadline := time.Now().Add(30 * time.Second)
	for dropped() == before && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if dropped() == before {
		t.Error("no batch was counted as dropped while the database hangs")
	}
	close(stop)
}

func TestRowKeepsTheOldColumns(t *testing.T) {
	ev := event(0)
	ev.SourceIPs = []string{"10.0.0.1", "10.0.0.2"}
	ev.User.Groups = []string{"streamspace-users"}
	row := Row(ev)
	byColumn := map[string]any{}
	for i, c := range columns {
		byColumn[c] = row[i]
	}
	if byColumn["user_id"] != "alice" || byColumn["action"] != "create" || byColumn["resource_type"] != "sessions" ||
		byColumn["resource_id"] != "s" || byColumn["ip_address"] != "10.0.0.1,10.0.0.2" || byColumn["changes"] != nil {
		t.Errorf("row = %v", byColumn)
	}
}
