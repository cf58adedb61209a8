package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/apimachinery/pkg/api/apitesting"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"
)

// faultSetup is a store of example Pods on a fresh database reached through a
// faultProxy, and a pool that reaches the same database directly (to look at
// what was really committed).
type faultSetup struct {
	proxy   *faultProxy
	backend *Backend
	store   *store
	direct  *pgxpool.Pool
	dsn     string // through the proxy
}

func newFaultSetup(t *testing.T, maxConns int32, opts BackendOptions) *faultSetup {
	t.Helper()
	ctx := context.Background()
	directDSN := databaseDSN(newTestDatabase(t))
	direct, err := NewPool(ctx, directDSN, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(direct.Close)
	proxy := startFaultProxy(t, "127.0.0.1:"+strconv.Itoa(testServer.Port()))
	dsn := proxy.dsnFor(directDSN)
	if dsn == directDSN {
		t.Fatalf("DSN %s does not name the server's port", directDSN)
	}
	pool, err := NewPool(ctx, dsn, maxConns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	b := newTestBackend(t, pool, opts)
	s := b.newStore(ObjectsTable, apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion), newPod, newPodList, "/pods/", nil)
	return &faultSetup{proxy: proxy, backend: b, store: s, direct: direct, dsn: dsn}
}

// historyOf returns the events history holds for key, in order.
func (f *faultSetup) historyOf(t *testing.T, key string) []string {
	t.Helper()
	rows, err := f.direct.Query(context.Background(), "SELECT event FROM history WHERE key = $1 ORDER BY rv", key)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var events []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			t.Fatal(err)
		}
		events = append(events, e)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return events
}

func pod(name string, labels map[string]string) *example.Pod {
	return &example.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", Labels: labels}}
}

// checkClientSafe fails when an error a client would see says anything about
// the database: hosts, ports, users, SQL.
func checkClientSafe(t *testing.T, err error, f *faultSetup) {
	t.Helper()
	msg := err.Error()
	if status, ok := err.(apierrors.APIStatus); ok {
		msg += " " + status.Status().Message
	}
	for _, leak := range []string{"127.0.0.1", strconv.Itoa(f.proxy.port()), strconv.Itoa(testServer.Port()),
		"user=", "database=", "dial", "SQLSTATE", "SELECT", "INSERT", "UPDATE ", "COMMIT", "pgx", "postgres://"} {
		if strings.Contains(msg, leak) {
			t.Errorf("error shown to clients contains %q: %s", leak, msg)
		}
	}
}

// waitCut waits until the proxy has cut the connection that sent COMMIT.
func waitCut(t *testing.T, ctx context.Context, cut <-chan struct{}) {
	t.Helper()
	select {
	case <-cut:
	case <-ctx.Done():
		t.Fatal("the proxy never saw the COMMIT")
	}
}

func wantStatus(t *testing.T, err error, code int32, reason metav1.StatusReason) *metav1.Status {
	t.Helper()
	var status apierrors.APIStatus
	if !errors.As(err, &status) {
		t.Fatalf("got %T %v, want an API status %d %s", err, err, code, reason)
	}
	st := status.Status()
	if st.Code != code || st.Reason != reason {
		t.Fatalf("got %d %s (%s), want %d %s", st.Code, st.Reason, st.Message, code, reason)
	}
	return &st
}

// TestCommitOutcomeUnknown cuts the committer's connection right after it
// sends COMMIT, once before the server gets it and once after the server has
// committed: the client cannot tell the two apart, so both must be reported
// as a 504 whose outcome is unknown (not a conflict, not a plain failure), and
// the retries a client would make must be safe: a create retried after an
// applied one gets AlreadyExists, an update retried with its
// resourceVersion precondition fails the precondition (409 through the
// registry), and neither is applied twice.
func TestCommitOutcomeUnknown(t *testing.T) {
	for _, point := range []cutPoint{cutBeforeCommit, cutAfterCommit} {
		t.Run(point.String(), func(t *testing.T) {
			f := newFaultSetup(t, 0, BackendOptions{})
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			applied := point == cutAfterCommit

			// A create.
			cut := f.proxy.armCut(point)
			err := f.store.Create(ctx, "/pods/ns/a", pod("a", nil), &example.Pod{}, 0)
			waitCut(t, ctx, cut)
			st := wantStatus(t, err, http.StatusGatewayTimeout, metav1.StatusReasonTimeout)
			if st.Details != nil && st.Details.RetryAfterSeconds != 0 {
				t.Errorf("unknown outcome carries Retry-After %d: clients would retry it blindly", st.Details.RetryAfterSeconds)
			}
			checkClientSafe(t, err, f)
			got := &example.Pod{}
			getErr := f.store.Get(ctx, "/pods/ns/a", storage.GetOptions{}, got)
			if exists := getErr == nil; exists != applied {
				t.Fatalf("after a cut %s the object exists=%v (get: %v)", point, exists, getErr)
			}
			retryErr := f.store.Create(ctx, "/pods/ns/a", pod("a", nil), &example.Pod{}, 0)
			if applied && !storage.IsExist(retryErr) {
				t.Fatalf("retried create of an applied create: got %v, want AlreadyExists", retryErr)
			}
			if !applied && retryErr != nil {
				t.Fatalf("retried create of a create that was not applied: %v", retryErr)
			}
			if h := f.historyOf(t, "/pods/ns/a"); len(h) != 1 || h[0] != "ADDED" {
				t.Fatalf("history of the created key: %v, want one ADDED", h)
			}

			// An update with a resourceVersion precondition, as a client's PUT has.
			if err := f.store.Get(ctx, "/pods/ns/a", storage.GetOptions{}, got); err != nil {
				t.Fatal(err)
			}
			rv := got.ResourceVersion
			update := func() error {
				return f.store.GuaranteedUpdate(ctx, "/pods/ns/a", &example.Pod{}, false,
					&storage.Preconditions{ResourceVersion: &rv},
					storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) {
						p := obj.(*example.Pod)
						p.Labels = map[string]string{"updated": "yes"}
						return p, nil
					}), nil)
			}
			cut = f.proxy.armCut(point)
			err = update()
			waitCut(t, ctx, cut)
			wantStatus(t, err, http.StatusGatewayTimeout, metav1.StatusReasonTimeout)
			checkClientSafe(t, err, f)
			retryErr = update()
			if applied && !storage.IsInvalidObj(retryErr) {
				t.Fatalf("retried update of an applied update: got %v, want the precondition to fail", retryErr)
			}
			if !applied && retryErr != nil {
				t.Fatalf("retried update of an update that was not applied: %v", retryErr)
			}
			if h := f.historyOf(t, "/pods/ns/a"); len(h) != 2 || h[1] != "MODIFIED" {
				t.Fatalf("history of the updated key: %v, want ADDED then one MODIFIED", h)
			}
		})
	}
}

// TestUnknownOutcomeBatchIsNotRetried commits a group of requests whose
// COMMIT is executed but not answered: every request of the group must get
// the unknown outcome, and none may be run again one by one (the fallback
// for a failed statement), which would apply them twice or report
// conflicts with themselves.
func TestUnknownOutcomeBatchIsNotRetried(t *testing.T) {
	f := newFaultSetup(t, 0, BackendOptions{})
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := f.store.Create(ctx, "/pods/ns/z", pod("z", nil), &example.Pod{}, 0); err != nil {
		t.Fatal(err)
	}
	z := &example.Pod{}
	if err := f.store.Get(ctx, "/pods/ns/z", storage.GetOptions{}, z); err != nil {
		t.Fatal(err)
	}
	zRV, _ := f.store.versioner.ParseResourceVersion(z.ResourceVersion)

	op := func(key string, update bool) *commitRequest {
		obj := pod(key[strings.LastIndex(key, "/")+1:], map[string]string{"batch": "1"})
		data, err := runtime.Encode(f.store.codec, obj)
		if err != nil {
			t.Fatal(err)
		}
		r, err := f.store.rowFor(obj)
		if err != nil {
			t.Fatal(err)
		}
		w := f.store.insertOp(key, r, data)
		if update {
			w = f.store.updateOp(key, int64(zRV), r, data)
		}
		return &commitRequest{ops: []*writeOp{w}, enqueued: time.Now(), done: make(chan error, 1)}
	}
	batch := []*commitRequest{op("/pods/ns/x", false), op("/pods/ns/y", false), op("/pods/ns/z", true)}
	cut := f.proxy.armCut(cutAfterCommit)
	f.backend.commitBatch(batch)
	waitCut(t, ctx, cut)
	for i, req := range batch {
		err := <-req.done
		var unknown *unknownOutcomeError
		if !errors.As(err, &unknown) {
			t.Errorf("request %d of the batch: got %v, want an unknown outcome", i, err)
		}
		wantStatus(t, apiError(context.Background(), err, "test", ""), http.StatusGatewayTimeout, metav1.StatusReasonTimeout)
	}
	for key, want := range map[string]string{"/pods/ns/x": "ADDED", "/pods/ns/y": "ADDED", "/pods/ns/z": "ADDED MODIFIED"} {
		if got := strings.Join(f.historyOf(t, key), " "); got != want {
			t.Errorf("history of %s: %q, want %q (each op applied once)", key, got, want)
		}
	}
}

// TestDatabaseUnavailable takes the database away (connections refused) and
// brings it back: meanwhile every request fails with 503, Retry-After and no
// database detail; afterwards writes succeed again without a new Backend, and
// a watch opened before the outage gets every acknowledged write exactly
// once, in order, including those another replica made after the outage
// with this replica's polling off (so its LISTEN connection has reconnected).
func TestDatabaseUnavailable(t *testing.T) {
	f := newFaultSetup(t, 0, BackendOptions{PollInterval: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	other := newTestBackend(t, newSharedDatabasePool(t, f.direct), BackendOptions{})
	otherStore := other.newStore(ObjectsTable, f.store.codec, newPod, newPodList, "/pods/", nil)

	start, err := f.store.GetCurrentResourceVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	w, err := f.store.Watch(ctx, "/pods/", storage.ListOptions{ResourceVersion: strconv.FormatUint(start, 10), Predicate: storage.Everything, Recursive: true})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()

	var acknowledged []string // "name@rv"
	create := func(s storage.Interface, name string) error {
		out := &example.Pod{}
		err := s.Create(ctx, "/pods/ns/"+name, pod(name, nil), out, 0)
		if err == nil {
			acknowledged = append(acknowledged, name+"@"+out.ResourceVersion)
		}
		return err
	}
	if err := create(f.store, "before"); err != nil {
		t.Fatal(err)
	}

	f.proxy.down()
	checks := map[string]func() error{
		"create": func() error { return create(f.store, "during") },
		"get":    func() error { return f.store.Get(ctx, "/pods/ns/before", storage.GetOptions{}, &example.Pod{}) },
		"list": func() error {
			return f.store.GetList(ctx, "/pods/", storage.ListOptions{Predicate: storage.Everything, Recursive: true}, &example.PodList{})
		},
		"update": func() error {
			return f.store.GuaranteedUpdate(ctx, "/pods/ns/before", &example.Pod{}, false, nil,
				storage.SimpleUpdate(func(obj runtime.Object) (runtime.Object, error) { return obj, nil }), nil)
		},
		"current resourceVersion": func() error { _, err := f.store.GetCurrentResourceVersion(ctx); return err },
		"watch with initial state": func() error {
			w, err := f.store.Watch(ctx, "/pods/", storage.ListOptions{ResourceVersion: "0", Predicate: storage.Everything, Recursive: true})
			if err != nil {
				return err
			}
			defer w.Stop()
			e := <-w.ResultChan()
			if e.Type != watch.Error {
				return fmt.Errorf("got a %s event from a database that is down", e.Type)
			}
			return apierrors.FromObject(e.Object)
		},
	}
	for what, check := range checks {
		err := check()
		st := wantStatus(t, err, http.StatusServiceUnavailable, metav1.StatusReasonServiceUnavailable)
		if st.Details == nil || st.Details.RetryAfterSeconds != unavailableRetryAfterSeconds {
			t.Errorf("%s: no Retry-After of %ds: %+v", what, unavailableRetryAfterSeconds, st.Details)
		}
		checkClientSafe(t, err, f)
	}

	f.proxy.up()
	began := time.Now()
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return create(f.store, "after") == nil, nil
	})
	if err != nil {
		t.Fatalf("writes did not succeed again after the database came back: %v", err)
	}
	t.Logf("first write succeeded %s after the database came back", time.Since(began).Round(time.Millisecond))
	if err := create(otherStore, "by-the-other-replica"); err != nil {
		t.Fatal(err)
	}

	var got []string
	for len(got) < len(acknowledged) {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch ended; got %v of %v", got, acknowledged)
			}
			if e.Type == watch.Error {
				t.Fatalf("watch error: %v", apierrors.FromObject(e.Object))
			}
			p := e.Object.(*example.Pod)
			got = append(got, p.Name+"@"+p.ResourceVersion)
		case <-ctx.Done():
			t.Fatalf("watch got %v, want %v", got, acknowledged)
		}
	}
	if strings.Join(got, " ") != strings.Join(acknowledged, " ") {
		t.Fatalf("watch got %v, want exactly the acknowledged writes %v", got, acknowledged)
	}
}
