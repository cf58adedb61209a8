package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// Two streamspace-apiserver replicas on one database: a write through one
// (the one behind the aggregator) is seen by a watch on the other (addressed
// directly, with alice's bearer token, which it checks with kube-apiserver),
// and the other way round.
func TestTwoReplicasSeeEachOthersWrites(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	secondReplica, stop := startSecondReplica(t, ctx, "streamspace-apiserver-2", "alice")
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("stop the second streamspace-apiserver: %v", err)
		}
	}()
	viaAggregator, _ := clients(t, "alice")

	// Written through the aggregator (first replica), watched on the second.
	sessions := secondReplica.StreamV1alpha1().Sessions("alice")
	list, err := sessions.List(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatalf("list on the second replica: %v", err)
	}
	w, err := sessions.Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion, FieldSelector: "metadata.name=replicated"})
	if err != nil {
		t.Fatalf("watch on the second replica: %v", err)
	}
	defer w.Stop()
	created, err := viaAggregator.StreamV1alpha1().Sessions("alice").Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "replicated"},
		Spec:       streamv1alpha1.SessionSpec{Template: "firefox"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create through the aggregator: %v", err)
	}
	expectEvent(ctx, t, w, watch.Added, created.ResourceVersion)

	// Written on the second replica, watched through the aggregator.
	w1, err := viaAggregator.StreamV1alpha1().Sessions("alice").Watch(ctx, metav1.ListOptions{
		ResourceVersion: created.ResourceVersion, FieldSelector: "metadata.name=replicated"})
	if err != nil {
		t.Fatalf("watch through the aggregator: %v", err)
	}
	defer w1.Stop()
	// The session controller writes status meanwhile: retry on conflict.
	var updated *streamv1alpha1.Session
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		current, err := sessions.Get(ctx, "replicated", metav1.GetOptions{})
		if err != nil {
			return err
		}
		current.Spec.State = streamv1alpha1.SessionStateHibernated
		updated, err = sessions.Update(ctx, current, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("update on the second replica: %v", err)
	}
	expectEvent(ctx, t, w1, watch.Modified, updated.ResourceVersion)
	expectEvent(ctx, t, w, watch.Modified, updated.ResourceVersion)
}

// expectEvent waits for the event of the write at resourceVersion, passing
// over the session's earlier changes (the session controller writes status).
func expectEvent(ctx context.Context, t *testing.T, w watch.Interface, typ watch.EventType, resourceVersion string) {
	t.Helper()
	want, err := strconv.ParseUint(resourceVersion, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case e, ok := <-w.ResultChan():
			if !ok {
				t.Fatalf("watch closed before the %s event at %s", typ, resourceVersion)
			}
			if e.Type == watch.Bookmark {
				continue
			}
			s, isSession := e.Object.(*streamv1alpha1.Session)
			if !isSession {
				t.Fatalf("got %s %v, want %s of the session at resourceVersion %s", e.Type, e.Object, typ, resourceVersion)
			}
			got, _ := strconv.ParseUint(s.ResourceVersion, 10, 64)
			switch {
			case got < want && e.Type == watch.Modified:
				continue // an earlier status write
			case got != want || e.Type != typ:
				t.Fatalf("got %s at resourceVersion %s, want %s at %s", e.Type, s.ResourceVersion, typ, resourceVersion)
			}
			return
		case <-ctx.Done():
			t.Fatalf("no %s event at resourceVersion %s: %v", typ, resourceVersion, ctx.Err())
		}
	}
}

// startSecondReplica starts another streamspace-apiserver on the shared
// database and returns a client of user addressing it directly (not
// through the aggregator), and its stop.
func startSecondReplica(t *testing.T, ctx context.Context, name, user string) (clientset.Interface, func() error) {
	t.Helper()
	url, stop, err := stack.StartExtraStreamspace(ctx, name)
	if err != nil {
		t.Fatalf("start a second streamspace-apiserver: %v", err)
	}
	t.Cleanup(func() { _ = stop() })
	cfg, err := stack.RESTConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	direct := rest.CopyConfig(cfg)
	direct.Host = url
	direct.TLSClientConfig = rest.TLSClientConfig{CAFile: stack.StreamspaceCA, ServerName: "localhost"}
	c, err := clientset.NewForConfig(direct)
	if err != nil {
		t.Fatal(err)
	}
	return c, stop
}
