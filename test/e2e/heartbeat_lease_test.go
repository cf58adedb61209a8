package e2e

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// beatUntilStopped sends heartbeats of a connection every quarter of the
// stale timeout until the returned stop is called; failed heartbeats are
// counted, not fatal (a test may restart the server meanwhile).
func beatUntilStopped(t *testing.T, ss clientset.Interface, namespace, name string) (stop func() (sent, failed int)) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var sent, failed int
	wg.Go(func() {
		ticker := time.NewTicker(staleTimeout / 4)
		defer ticker.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			_, err := ss.StreamV1alpha1().Connections(namespace).Heartbeat(ctx, name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{})
			if ctx.Err() != nil {
				return
			}
			sent++
			if err != nil {
				failed++
				t.Logf("heartbeat of %s: %v", name, err)
			}
		}
	})
	var once sync.Once
	stop = func() (int, int) {
		once.Do(func() { cancel(); wg.Wait() })
		return sent, failed
	}
	t.Cleanup(func() { stop() })
	return stop
}

func createViewer(t *testing.T, ss clientset.Interface, namespace, session, name string) *streamv1alpha1.Connection {
	t.Helper()
	c, err := ss.StreamV1alpha1().Connections(namespace).Create(context.Background(), &streamv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       streamv1alpha1.ConnectionSpec{Session: session},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create connection %s: %v", name, err)
	}
	return c
}

// waitAlivePast polls until connection name has existed for at least d
// since from, failing as soon as it is gone.
func waitAlivePast(t *testing.T, ss clientset.Interface, namespace, name string, from time.Time, d time.Duration) {
	t.Helper()
	eventually(t, d+2*time.Minute, name+" to outlive "+d.String(), func() (bool, error) {
		_, err := ss.StreamV1alpha1().Connections(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			t.Fatalf("connection %s, which kept beating, was removed", name)
		}
		if err != nil {
			return false, err
		}
		return time.Since(from) >= d, nil
	})
}

// TestHeartbeatLeases: a connection that keeps beating outlives the stale
// timeout many times over, and its heartbeats write nothing to the object
// between its coarse persists (no resourceVersion, so no watch event); a
// silent one beside it is removed, and a heartbeat after that is 404.
func TestHeartbeatLeases(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	ss, _ := clients(t, "alice")
	beating := createViewer(t, ss, "alice", "lease-desktop", "lease-beating")
	silent := createViewer(t, ss, "alice", "lease-desktop", "lease-silent")

	time.Sleep(1100 * time.Millisecond) // heartbeat times have a resolution of one second
	beat, err := ss.StreamV1alpha1().Connections("alice").Heartbeat(ctx, beating.Name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("heartbeat: %v", err)
	}
	if beat.Status.LastHeartbeat == nil || !beat.Status.LastHeartbeat.After(beating.Status.LastHeartbeat.Time) {
		t.Errorf("the heartbeat answered lastHeartbeat %v, want after %v", beat.Status.LastHeartbeat, beating.Status.LastHeartbeat)
	}
	if beat.ResourceVersion != beating.ResourceVersion {
		t.Errorf("a heartbeat of an active connection changed its resourceVersion %s → %s: it wrote the object", beating.ResourceVersion, beat.ResourceVersion)
	}
	stop := beatUntilStopped(t, ss, "alice", beating.Name)

	eventually(t, 2*time.Minute, "the silent connection to be removed", func() (bool, error) {
		_, err := ss.StreamV1alpha1().Connections("alice").Get(ctx, silent.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	_, err = ss.StreamV1alpha1().Connections("alice").Heartbeat(ctx, silent.Name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("heartbeat of the removed connection: %v, want 404", err)
	}
	waitAlivePast(t, ss, "alice", beating.Name, beating.CreationTimestamp.Time, 4*staleTimeout)
	if sent, failed := stop(); failed > 0 {
		t.Errorf("%d of %d heartbeats of the beating connection failed", failed, sent)
	}
	got, err := ss.StreamV1alpha1().Connections("alice").Get(ctx, beating.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.State != streamv1alpha1.ConnectionStateActive || got.Status.LastHeartbeat == nil {
		t.Errorf("the beating connection's status %+v, want active with a lastHeartbeat", got.Status)
	}
	if err := ss.StreamV1alpha1().Connections("alice").Delete(ctx, beating.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatalf("disconnect: %v", err)
	}
	_, err = ss.StreamV1alpha1().Connections("alice").Heartbeat(ctx, beating.Name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Errorf("heartbeat of the deleted connection: %v, want 404", err)
	}

	// The audit trail has the connect and the disconnect, not the
	// heartbeats between them (the built-in policy leaves them out).
	conn := stackDatabase(t)
	eventually(t, time.Minute, "the connection's create and delete in audit_log", func() (bool, error) {
		var writes, beats int
		err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE action IN ('create', 'delete') AND subresource = ''),
			count(*) FILTER (WHERE subresource = 'heartbeat')
			FROM audit_log WHERE resource_type = 'connections' AND namespace = 'alice' AND resource_id = $1`, beating.Name).Scan(&writes, &beats)
		if beats > 0 {
			t.Fatalf("audit_log has %d heartbeats of %s, want none", beats, beating.Name)
		}
		return writes == 2, err
	})
}

// TestReapingAcrossApiserverRestart: across a restart of
// streamspace-apiserver, a connection that beats (whenever the server
// answers) is never removed, and a silent one is.
func TestReapingAcrossApiserverRestart(t *testing.T) {
	// Not parallel: it restarts the shared streamspace-apiserver.
	ctx := context.Background()
	ss, _ := clients(t, "bob")
	beating := createViewer(t, ss, "bob", "lease-restart-desktop", "lease-restart-beating")
	silent := createViewer(t, ss, "bob", "lease-restart-desktop", "lease-restart-silent")
	stop := beatUntilStopped(t, ss, "bob", beating.Name)

	restartCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := stack.RestartStreamspace(restartCtx); err != nil {
		t.Fatalf("restart streamspace-apiserver: %v", err)
	}
	restarted := time.Now()
	eventually(t, 2*time.Minute, "the silent connection to be removed after the restart", func() (bool, error) {
		_, err := ss.StreamV1alpha1().Connections("bob").Get(ctx, silent.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	waitAlivePast(t, ss, "bob", beating.Name, restarted, 3*staleTimeout)
	sent, failed := stop()
	t.Logf("%d heartbeats, %d failed (while the server restarted)", sent, failed)
	_ = ss.StreamV1alpha1().Connections("bob").Delete(ctx, beating.Name, metav1.DeleteOptions{})
}

// TestHeartbeatsShareOneAuthorization: heartbeats of many connections of one
// person are authorized by kube-apiserver once, not once per connection:
// streamspace-apiserver asks whether she may beat any connection in her
// namespace, which its authorization cache answers for every name
// (package anyname). Counted by kube-apiserver's own metric of the
// SubjectAccessReviews it served.
func TestHeartbeatsShareOneAuthorization(t *testing.T) {
	// Not parallel: other tests' requests would make reviews of their own.
	const n = 40
	ctx := context.Background()
	cfg, err := stack.RESTConfig("alice")
	if err != nil {
		t.Fatal(err)
	}
	cfg.QPS = -1 // no client-side rate limit: the heartbeats must land before the stale timeout
	ss := clientset.NewForConfigOrDie(cfg)
	_, admin := clients(t, "admin")
	reviews := func() float64 {
		body, err := admin.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
		if err != nil {
			t.Fatalf("kube-apiserver metrics: %v", err)
		}
		var sum float64
		for line := range strings.SplitSeq(string(body), "\n") {
			if !strings.HasPrefix(line, "apiserver_request_total{") || !strings.Contains(line, `resource="subjectaccessreviews"`) {
				continue
			}
			if i := strings.LastIndexByte(line, ' '); i > 0 {
				v, err := strconv.ParseFloat(line[i+1:], 64)
				if err != nil {
					t.Fatalf("metric line %q: %v", line, err)
				}
				sum += v
			}
		}
		return sum
	}
	// Forty connections, created eight at a time, then one heartbeat of
	// each, eight at a time, before the short stale timeout here can reap
	// any; only the heartbeats are counted.
	parallel := func(what string, do func(name string) error) {
		var wg sync.WaitGroup
		names := make(chan string, n)
		for i := range n {
			names <- fmt.Sprintf("authz-viewer-%02d", i)
		}
		close(names)
		for range 8 {
			wg.Go(func() {
				for name := range names {
					if err := do(name); err != nil {
						t.Errorf("%s %s: %v", what, name, err)
					}
				}
			})
		}
		wg.Wait()
	}
	began := time.Now()
	parallel("create connection", func(name string) error {
		_, err := ss.StreamV1alpha1().Connections("alice").Create(ctx, &streamv1alpha1.Connection{
			ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:       streamv1alpha1.ConnectionSpec{Session: "authz-desktop"},
		}, metav1.CreateOptions{})
		if err == nil {
			t.Cleanup(func() { _ = ss.StreamV1alpha1().Connections("alice").Delete(ctx, name, metav1.DeleteOptions{}) })
		}
		return err
	})
	created := time.Now()
	before := reviews()
	parallel("heartbeat of", func(name string) error {
		_, err := ss.StreamV1alpha1().Connections("alice").Heartbeat(ctx, name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{})
		return err
	})
	made := reviews() - before
	t.Logf("%d creates in %s, %d heartbeats in %s: %.0f SubjectAccessReviews", n, created.Sub(began).Round(time.Millisecond), n, time.Since(created).Round(time.Millisecond), made)
	if made >= n/2 {
		t.Errorf("%d heartbeats of %d connections made %.0f SubjectAccessReviews, want far fewer than one per connection", n, n, made)
	}
	// Someone else's heartbeat of her connection is still refused.
	bob, _ := clients(t, "bob")
	_, err = bob.StreamV1alpha1().Connections("alice").Heartbeat(ctx, "authz-viewer-00", &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{})
	if !apierrors.IsForbidden(err) {
		t.Errorf("bob's heartbeat of alice's connection: %v, want 403", err)
	}
}

// TestReapingWithTwoReplicas: two streamspace-apiserver replicas reap from
// the same leases. A connection that beats only through the second replica
// (addressed directly) is never removed by the first, which never sees its
// heartbeats; when the second replica stops, the viewer beats through the
// aggregator and is still never removed; a silent connection beside them is
// removed once.
func TestReapingWithTwoReplicas(t *testing.T) {
	// Not parallel: it runs a second replica on the shared database.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	second, stopReplica := startSecondReplica(t, ctx, "streamspace-apiserver-reaper-2", "alice")
	ss, _ := clients(t, "alice")

	viaSecond := createViewer(t, ss, "alice", "replicas-desktop", "replicas-via-second")
	viaFirst := createViewer(t, ss, "alice", "replicas-desktop", "replicas-via-first")
	silent := createViewer(t, ss, "alice", "replicas-desktop", "replicas-silent")
	stopSecond := beatUntilStopped(t, second, "alice", viaSecond.Name)
	stopFirst := beatUntilStopped(t, ss, "alice", viaFirst.Name)

	eventually(t, 2*time.Minute, "the silent connection to be removed", func() (bool, error) {
		_, err := ss.StreamV1alpha1().Connections("alice").Get(ctx, silent.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	waitAlivePast(t, ss, "alice", viaSecond.Name, viaSecond.CreationTimestamp.Time, 3*staleTimeout)
	// The viewer moves to the aggregator, and the second replica goes.
	stopMoved := beatUntilStopped(t, ss, "alice", viaSecond.Name)
	if sent, failed := stopSecond(); failed > 0 {
		t.Errorf("%d of %d heartbeats through the second replica failed", failed, sent)
	}
	if err := stopReplica(); err != nil {
		t.Fatalf("stop the second replica: %v", err)
	}
	moved := time.Now()
	waitAlivePast(t, ss, "alice", viaSecond.Name, moved, 3*staleTimeout)
	waitAlivePast(t, ss, "alice", viaFirst.Name, moved, 0)
	for what, stop := range map[string]func() (int, int){"moved": stopMoved, "first": stopFirst} {
		if sent, failed := stop(); failed > 0 {
			t.Errorf("%d of %d heartbeats of the %s viewer failed", failed, sent, what)
		}
	}
	for _, name := range []string{viaSecond.Name, viaFirst.Name} {
		_ = ss.StreamV1alpha1().Connections("alice").Delete(ctx, name, metav1.DeleteOptions{})
	}
}

// warnings collects the warnings a client is sent.
type warnings struct {
	mu   sync.Mutex
	text []string
}

func (w *warnings) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.text = append(w.text, text)
}

func (w *warnings) all() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return strings.Join(w.text, "\n")
}

// TestHeartbeatBodyWithoutMetadata: a heartbeat's body is {} (kind
// ConnectionHeartbeat has no metadata; the path names the connection). A
// body that still carries metadata is answered as any body with an unknown
// field: beaten with a warning by default, refused with 400 naming the field
// under fieldValidation=Strict.
func TestHeartbeatBodyWithoutMetadata(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cfg, err := stack.RESTConfig("alice")
	if err != nil {
		t.Fatal(err)
	}
	seen := &warnings{}
	cfg.WarningHandler = seen
	ss := clientset.NewForConfigOrDie(cfg)
	viewer := createViewer(t, ss, "alice", "body-desktop", "body-viewer")
	t.Cleanup(func() { _ = ss.StreamV1alpha1().Connections("alice").Delete(ctx, viewer.Name, metav1.DeleteOptions{}) })

	beat := func(body string, strict bool) (*streamv1alpha1.Connection, error) {
		req := ss.StreamV1alpha1().RESTClient().Post().Namespace("alice").Resource("connections").
			Name(viewer.Name).SubResource("heartbeat").SetHeader("Content-Type", "application/json").Body([]byte(body))
		if strict {
			req = req.Param("fieldValidation", "Strict")
		}
		got := &streamv1alpha1.Connection{}
		return got, req.Do(ctx).Into(got)
	}
	got, err := beat(`{}`, true)
	if err != nil || got.Name != viewer.Name || got.Status.LastHeartbeat == nil {
		t.Fatalf("heartbeat with {} under Strict: %v, answered %s with lastHeartbeat %v; want the connection", err, got.Name, got.Status.LastHeartbeat)
	}
	if w := seen.all(); w != "" {
		t.Errorf("heartbeat with {}: warnings %q, want none", w)
	}

	withMetadata := `{"apiVersion":"stream.space/v1alpha1","kind":"ConnectionHeartbeat","metadata":{"name":"` + viewer.Name + `"}}`
	if got, err := beat(withMetadata, false); err != nil || got.Name != viewer.Name {
		t.Errorf("heartbeat with metadata: %v, answered %q; want the connection", err, got.Name)
	}
	if w := seen.all(); !strings.Contains(w, `unknown field "metadata"`) {
		t.Errorf("heartbeat with metadata: warnings %q, want one naming the unknown field metadata", w)
	}
	_, err = beat(withMetadata, true)
	if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), `unknown field "metadata"`) {
		t.Errorf("heartbeat with metadata under Strict: %v, want 400 naming the unknown field metadata", err)
	}
}
