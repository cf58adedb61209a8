package e2e

import (
	"context"
	"strconv"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// An operator with psql sees one table per resource with readable columns.
func TestDatabaseIsLegible(t *testing.T) {
	ctx := context.Background()
	alice, _ := clients(t, "alice")
	if _, err := alice.StreamV1alpha1().Sessions("alice").Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "legible"},
		Spec:       streamv1alpha1.SessionSpec{Template: "vscode", State: streamv1alpha1.SessionStateHibernated},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	conn := stackDatabase(t)
	// The controller settles a session created hibernated at phase
	// Hibernated; the row follows the object, so wait for that.
	var namespace, name, user, template, state, phase string
	eventually(t, 30*time.Second, "the sessions row to show the settled phase", func() (bool, error) {
		err := conn.QueryRow(ctx, `SELECT namespace, name, user_name, template, state, phase FROM sessions WHERE namespace = 'alice' AND name = 'legible'`).
			Scan(&namespace, &name, &user, &template, &state, &phase)
		return err == nil && phase == "Hibernated", err
	})
	if got := []string{namespace, name, user, template, state, phase}; got[2] != "alice" || got[3] != "vscode" || got[4] != "hibernated" {
		t.Errorf("sessions row = %v", got)
	}
	var templates int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM templates WHERE namespace = 'bob' AND category = 'Development'`).Scan(&templates); err != nil || templates != 1 {
		t.Errorf("templates of category Development in bob's namespace: %d (%v), want 1", templates, err)
	}
}

// kube-controller-manager's garbage collector discovers our resources
// through the aggregator and follows owner references to them.
func TestGarbageCollectionFollowsOwnerReferences(t *testing.T) {
	ctx := context.Background()
	alice, _ := clients(t, "alice")
	s, err := alice.StreamV1alpha1().Sessions("alice").Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "owner"},
		Spec:       streamv1alpha1.SessionSpec{Template: "firefox"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = alice.StreamV1alpha1().Connections("alice").Create(ctx, &streamv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{Name: "owned", OwnerReferences: []metav1.OwnerReference{{
			APIVersion: "stream.space/v1alpha1", Kind: "Session", Name: s.Name, UID: s.UID, BlockOwnerDeletion: ptr.To(true),
		}}},
		Spec: streamv1alpha1.ConnectionSpec{Session: s.Name},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := alice.StreamV1alpha1().Sessions("alice").Delete(ctx, s.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 90*time.Second, "the garbage collector to delete the connection of a deleted session", func() (bool, error) {
		_, err := alice.StreamV1alpha1().Connections("alice").Get(ctx, "owned", metav1.GetOptions{})
		return apierrors.IsNotFound(err), err
	})
}

// Restarting streamspace-apiserver loses nothing: all state is in Postgres,
// and resource versions keep increasing.
func TestRestartLosesNothing(t *testing.T) {
	ctx := context.Background()
	// streamspace-controller would write the session's status meanwhile;
	// this test compares resourceVersions across the restart.
	if err := stack.StopController(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := stack.StartController(context.Background()); err != nil {
			t.Errorf("start streamspace-controller again: %v", err)
		}
	})
	alice, _ := clients(t, "alice")
	before, err := alice.StreamV1alpha1().Sessions("alice").Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "survivor"},
		Spec:       streamv1alpha1.SessionSpec{Template: "firefox", Tags: []string{"keep"}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	restartCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	if err := stack.RestartStreamspace(restartCtx); err != nil {
		t.Fatal(err)
	}
	after, err := alice.StreamV1alpha1().Sessions("alice").Get(ctx, "survivor", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if after.UID != before.UID || after.ResourceVersion != before.ResourceVersion || len(after.Spec.Tags) != 1 {
		t.Errorf("after restart: uid %s rv %s tags %v; before: uid %s rv %s", after.UID, after.ResourceVersion, after.Spec.Tags, before.UID, before.ResourceVersion)
	}
	after.Spec.State = streamv1alpha1.SessionStateHibernated
	updated, err := alice.StreamV1alpha1().Sessions("alice").Update(ctx, after, metav1.UpdateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rvAfter, rvBefore := mustParseRV(t, updated.ResourceVersion), mustParseRV(t, before.ResourceVersion); rvAfter <= rvBefore {
		t.Errorf("resourceVersion after restart %s is not above %s", updated.ResourceVersion, before.ResourceVersion)
	}
}

func mustParseRV(t testing.TB, rv string) uint64 {
	t.Helper()
	n, err := strconv.ParseUint(rv, 10, 64)
	if err != nil {
		t.Fatalf("resourceVersion %q is not a number: %v", rv, err)
	}
	return n
}
