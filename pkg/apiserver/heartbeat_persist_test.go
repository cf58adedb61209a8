package apiserver

import (
	"context"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	authnuser "k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/registry/stream/connection"
	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

// TestDueHeartbeatsAreWrittenAfterTheAnswer: a heartbeat whose write into
// the Connection is due is answered from the lease at once, without the
// write (the answer keeps the stored resourceVersion), and the write lands
// in the background: the stored object's lastHeartbeat moves to the
// heartbeat's time. A heartbeat of a connection not active is written
// before the answer, which carries the new object.
func TestDueHeartbeatsAreWrittenAfterTheAnswer(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	backend, _ := newTestBackend(ctx, t, postgres.BackendOptions{})
	connections, status, err := connection.NewREST(Scheme, restOptionsGetter{decorator: backend.StorageDecorator(storageTables(), false)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(connections.Destroy)
	// Every heartbeat half a second after the last persisted one is due.
	const persistEvery = 500 * time.Millisecond
	heartbeat := connection.NewHeartbeatREST(status, backend, authorizer.AuthorizerFunc(func(context.Context, authorizer.Attributes) (authorizer.Decision, string, error) {
		return authorizer.DecisionNoOpinion, "", nil
	}), persistEvery)
	go heartbeat.Run(ctx)

	alice := genericapirequest.WithUser(genericapirequest.WithNamespace(ctx, "alice"), &authnuser.DefaultInfo{Name: "alice"})
	obj, err := connections.Create(alice, &stream.Connection{
		ObjectMeta: metav1.ObjectMeta{Name: "viewer"},
		Spec:       stream.ConnectionSpec{Session: "desktop", User: "alice"},
	}, rest.ValidateAllObjectFunc, &metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created := obj.(*stream.Connection)
	stored := func() *stream.Connection {
		t.Helper()
		obj, err := connections.Get(alice, "viewer", &metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return obj.(*stream.Connection)
	}
	first := stored()
	if first.Status.State != stream.ConnectionStateActive || first.Status.LastHeartbeat == nil {
		t.Fatalf("a new connection's status %+v, want active with a lastHeartbeat", first.Status)
	}

	// Heartbeat times have a resolution of one second.
	time.Sleep(1100 * time.Millisecond)
	obj, err = heartbeat.Create(alice, "viewer", &stream.ConnectionHeartbeat{}, nil, &metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	answered := obj.(*stream.Connection)
	if answered.ResourceVersion != created.ResourceVersion {
		t.Errorf("the answer's resourceVersion %s, want the stored %s: the write was made before answering", answered.ResourceVersion, created.ResourceVersion)
	}
	if !answered.Status.LastHeartbeat.After(first.Status.LastHeartbeat.Time) {
		t.Fatalf("answered lastHeartbeat %v, want after %v", answered.Status.LastHeartbeat, first.Status.LastHeartbeat)
	}
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		c := stored()
		// Stored times have a resolution of one second.
		return c.ResourceVersion != created.ResourceVersion && c.Status.LastHeartbeat.Unix() == answered.Status.LastHeartbeat.Unix(), nil
	}); err != nil {
		t.Fatalf("the stored connection %+v never took the heartbeat's time %v", stored().Status, answered.Status.LastHeartbeat)
	}

	// Marked stale, the next heartbeat is written before the answer.
	if _, _, err := status.Update(alice, "viewer", rest.DefaultUpdatedObjectInfo(nil, func(_ context.Context, _, old runtime.Object) (runtime.Object, error) {
		c := old.DeepCopyObject().(*stream.Connection)
		c.Status.State = stream.ConnectionStateStale
		return c, nil
	}), rest.ValidateAllObjectFunc, rest.ValidateAllObjectUpdateFunc, false, &metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	staleRV := stored().ResourceVersion
	obj, err = heartbeat.Create(alice, "viewer", &stream.ConnectionHeartbeat{}, nil, &metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if c := obj.(*stream.Connection); c.Status.State != stream.ConnectionStateActive || c.ResourceVersion == staleRV {
		t.Errorf("the heartbeat of a stale connection answered state %q at resourceVersion %s (stale at %s), want the written object, active",
			c.Status.State, c.ResourceVersion, staleRV)
	}
}
