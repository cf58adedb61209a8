package e2e

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/jackc/pgx/v5"
	"github.com/streamspace/controlplane/internal/devstack/health"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// A Session whose stored bytes cannot be read (written around the API, or
// damaged) is named as corrupt on reads, cannot be
// deleted the normal way, and is removed by an administrator's delete with
// ignoreStoreReadErrorWithClusterBreakingPotential, which its owner may not
// send. After a restart, lists name it until it is removed.
func TestCorruptSessionIsDeletedUnsafely(t *testing.T) {
	ctx := context.Background()
	alice, _ := clients(t, "alice")
	admin, _ := clients(t, "admin")
	sessions := alice.StreamV1alpha1().Sessions("alice")
	if _, err := sessions.Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "corrupt"},
		Spec:       streamv1alpha1.SessionSpec{Template: "firefox", State: streamv1alpha1.SessionStateHibernated},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// The controller settles a new session; a write of its own after the
	// bytes broke would replace them (a write starts from the cached copy).
	eventually(t, 30*time.Second, "the session to settle", func() (bool, error) {
		s, err := sessions.Get(ctx, "corrupt", metav1.GetOptions{})
		return err == nil && s.Status.Phase == streamv1alpha1.SessionPhaseHibernated, err
	})
	conn := stackDatabase(t)
	breakStoredObject(t, conn, "sessions", "alice", "corrupt")

	// A read names the object as corrupt.
	_, err := kubectl(t, "admin", "", "get", "session", "corrupt", "-n", "alice")
	if err == nil || !strings.Contains(err.Error(), "corrupt object") || !strings.Contains(err.Error(), "alice/corrupt") {
		t.Errorf("kubectl get of the corrupt session: want an error naming the corrupt object, got %v", err)
	}
	// The normal delete reads the object first, and fails.
	if err := admin.StreamV1alpha1().Sessions("alice").Delete(ctx, "corrupt", metav1.DeleteOptions{}); !apierrors.IsInternalError(err) {
		t.Errorf("normal delete of the corrupt session: want 500, got %v", err)
	}

	unsafe := metav1.DeleteOptions{IgnoreStoreReadErrorWithClusterBreakingPotential: ptr.To(true)}
	// Its owner may delete it, but not unsafely: that needs the verb
	// unsafe-delete-ignore-read-errors, which only administrators hold.
	if err := sessions.Delete(ctx, "corrupt", unsafe); !apierrors.IsForbidden(err) {
		t.Errorf("alice's unsafe delete: want 403, got %v", err)
	}
	// An unsafe delete of a readable object is refused (409, as etcd's storage answers).
	if _, err := sessions.Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "readable"},
		Spec:       streamv1alpha1.SessionSpec{Template: "firefox", State: streamv1alpha1.SessionStateHibernated},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := admin.StreamV1alpha1().Sessions("alice").Delete(ctx, "readable", unsafe); !apierrors.IsConflict(err) {
		t.Errorf("unsafe delete of a readable session: want 409, got %v", err)
	}
	if _, err := sessions.Get(ctx, "readable", metav1.GetOptions{}); err != nil {
		t.Errorf("the readable session after a refused unsafe delete: %v", err)
	}
	if err := sessions.Delete(ctx, "readable", metav1.DeleteOptions{}); err != nil {
		t.Error(err)
	}

	// After a restart the watch cache cannot fill while a row cannot be
	// read: the server reports not ready for --storage-initialization-timeout
	// (as kube-apiserver), then serves, and lists go to the database, which
	// names every such row.
	restartCtx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	heldNotReady := make(chan bool, 1)
	pollCtx, stopPolling := context.WithCancel(ctx)
	go func() { heldNotReady <- sawStorageNotReady(pollCtx) }()
	err = stack.RestartStreamspaceWithArgs(restartCtx, "--storage-initialization-timeout=10s")
	stopPolling()
	if err != nil {
		t.Fatal(err)
	}
	if !<-heldNotReady {
		t.Error("while the sessions' watch cache could not fill, /readyz never reported poststarthook/storage-readiness failing")
	}
	eventually(t, time.Minute, "a list of alice's sessions to name the corrupt one", func() (bool, error) {
		_, err := kubectl(t, "admin", "", "get", "sessions", "-n", "alice")
		named := err != nil && strings.Contains(err.Error(), "failed to read one or more sessions.stream.space from the storage") &&
			strings.Contains(err.Error(), "/alice/corrupt")
		if named {
			t.Logf("%v", err)
		}
		return named, err
	})

	if err := admin.StreamV1alpha1().Sessions("alice").Delete(ctx, "corrupt", unsafe); err != nil {
		t.Fatalf("administrator's unsafe delete: %v", err)
	}
	if _, err := sessions.Get(ctx, "corrupt", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after the unsafe delete: want 404, got %v", err)
	}
	var rows int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM sessions WHERE namespace = 'alice' AND name = 'corrupt'`).Scan(&rows); err != nil || rows != 0 {
		t.Errorf("sessions rows of the deleted session: %d (%v)", rows, err)
	}
	if body := readyz(t); !strings.Contains(body, "[+]poststarthook/storage-readiness ok") {
		t.Errorf("/readyz?verbose after the timeout:\n%s", body)
	}
	// With the row gone the watch cache fills, and lists work again.
	eventually(t, time.Minute, "lists of alice's sessions to work again", func() (bool, error) {
		list, err := sessions.List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		for _, s := range list.Items {
			if s.Name == "corrupt" {
				return false, nil
			}
		}
		return true, nil
	})
}

// breakStoredObject overwrites the stored bytes of the object name (in
// namespace) in table with bytes no codec reads, behind the API's back.
func breakStoredObject(t testing.TB, conn *pgx.Conn, table, namespace, name string) {
	t.Helper()
	tag, err := conn.Exec(context.Background(), `UPDATE `+table+` SET object = convert_to('not an object', 'UTF8') WHERE namespace = $1 AND name = $2`, namespace, name)
	if err != nil || tag.RowsAffected() != 1 {
		t.Fatalf("break the stored %s %s/%s: %v (%d rows)", table, namespace, name, err, tag.RowsAffected())
	}
}

// sawStorageNotReady polls streamspace-apiserver's /readyz until ctx ends and
// reports whether it ever named the storage-readiness hook as failing.
func sawStorageNotReady(ctx context.Context) bool {
	for {
		if body, err := readyzBody(ctx); err == nil && strings.Contains(body, "[-]poststarthook/storage-readiness failed") {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// readyz returns streamspace-apiserver's verbose /readyz.
func readyz(t testing.TB) string {
	t.Helper()
	body, err := readyzBody(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return body
}

func readyzBody(ctx context.Context) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, stack.StreamspaceURL+"/readyz?verbose", nil)
	if err != nil {
		return "", err
	}
	resp, err := health.InsecureClient().Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return string(body), err
}

// API keys are served by a storage of their own (it redacts and applies the
// owner rule): an unsafe delete of one whose bytes cannot be read works
// there too.
func TestCorruptAPIKeyIsDeletedUnsafely(t *testing.T) {
	ctx := context.Background()
	alice, _ := clients(t, "alice")
	admin, _ := clients(t, "admin")
	if _, err := alice.StreamV1alpha1().APIKeys().Create(ctx, &streamv1alpha1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Name: "alice-corrupt-key"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	breakStoredObject(t, stackDatabase(t), "api_keys", "", "alice-corrupt-key")
	keys := admin.StreamV1alpha1().APIKeys()
	if _, err := keys.Get(ctx, "alice-corrupt-key", metav1.GetOptions{}); !apierrors.IsInternalError(err) || !strings.Contains(err.Error(), "corrupt object") {
		t.Errorf("get of the corrupt key: want 500 corrupt object, got %v", err)
	}
	if err := keys.Delete(ctx, "alice-corrupt-key", metav1.DeleteOptions{IgnoreStoreReadErrorWithClusterBreakingPotential: ptr.To(true)}); err != nil {
		t.Fatalf("administrator's unsafe delete of the key: %v", err)
	}
	if _, err := keys.Get(ctx, "alice-corrupt-key", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("get after the unsafe delete: want 404, got %v", err)
	}
}
