package postgres

import (
	"context"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"
)

// podsAsSessions stores example Pods in the sessions table of the migration:
// spec.nodeName fills its user_name column, status.phase its phase column.
var podsAsSessions = Table{Name: "sessions", Columns: []Column{
	{Name: "user_name", Field: "spec.nodeName"},
	{Name: "phase", Field: "status.phase"},
}}

func podSessionFields(obj runtime.Object) (labels.Set, fields.Set, error) {
	pod := obj.(*example.Pod)
	return labels.Set(pod.Labels), fields.Set{
		"metadata.name":      pod.Name,
		"metadata.namespace": pod.Namespace,
		"spec.nodeName":      pod.Spec.NodeName,
		"status.phase":       string(pod.Status.Phase),
	}, nil
}

// TestTableColumnsAndFieldSelectors checks that a resource table gets its
// columns from the field set, and that a field selector on them is answered
// by SQL and still re-checked in Go.
func TestTableColumnsAndFieldSelectors(t *testing.T) {
	ctx := context.Background()
	b := newTestBackend(t, newTestPool(t), BackendOptions{})
	s := b.newStore(podsAsSessions, apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion), newPod, newPodList, "/sessions/", podSessionFields)
	for _, p := range []struct{ name, user string }{{"a", "alice"}, {"b", "bob"}, {"c", "alice"}} {
		pod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: p.name, Labels: map[string]string{"app": p.name}},
			Spec: example.PodSpec{NodeName: p.user}, Status: example.PodStatus{Phase: "Running"}}
		if err := s.Create(ctx, "/sessions/ns/"+p.name, pod, &example.Pod{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	var user, phase, namespace, labelsJSON string
	err := b.pool.QueryRow(ctx, "SELECT user_name, phase, namespace, labels::text FROM sessions WHERE name = 'b'").Scan(&user, &phase, &namespace, &labelsJSON)
	if err != nil {
		t.Fatal(err)
	}
	if user != "bob" || phase != "Running" || namespace != "ns" || labelsJSON != `{"app": "b"}` {
		t.Errorf("row = %q %q %q %q", user, phase, namespace, labelsJSON)
	}

	pred := storage.SelectionPredicate{
		Label:    labels.Everything(),
		Field:    fields.ParseSelectorOrDie("spec.nodeName=alice,metadata.name!=c"),
		GetAttrs: podSessionFields,
	}
	if got := s.pushDownFields(pred); len(got) != 1 || got["user_name"] != "alice" {
		t.Errorf("pushed down %v, want user_name=alice", got)
	}
	list := &example.PodList{}
	if err := s.GetList(ctx, "/sessions/", storage.ListOptions{Predicate: pred, Recursive: true}, list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "a" {
		t.Errorf("listed %v, want only a", list.Items)
	}
}

func TestListQueryKeepsPercentAndUnderscoreLiteral(t *testing.T) {
	ctx, s, _ := testSetup(t)
	for _, name := range []string{"a_b", "a%b", "axb"} {
		pod := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "n_1", Name: name}}
		if err := s.Create(ctx, "/pods/n_1/"+name, pod, &example.Pod{}, 0); err != nil {
			t.Fatal(err)
		}
	}
	other := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "nx1", Name: "z"}}
	if err := s.Create(ctx, "/pods/nx1/z", other, &example.Pod{}, 0); err != nil {
		t.Fatal(err)
	}
	list := &example.PodList{}
	if err := s.GetList(ctx, "/pods/n_1", storage.ListOptions{Predicate: storage.Everything, Recursive: true}, list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 3 {
		t.Errorf("listed %d objects under /pods/n_1/, want 3", len(list.Items))
	}
}

// TestTimestampColumns checks that a timestamptz column is filled by casting
// the field's RFC 3339 text, is NULL for an empty field, follows updates,
// and that a field selector on it is answered in Go, not by SQL.
func TestTimestampColumns(t *testing.T) {
	ctx := context.Background()
	b := newTestBackend(t, newTestPool(t), BackendOptions{})
	_, err := b.pool.Exec(ctx, `CREATE TABLE timed_pods (
    key text COLLATE "C" PRIMARY KEY, namespace text NOT NULL DEFAULT '', name text NOT NULL DEFAULT '',
    uid text NOT NULL DEFAULT '', resource_version bigint NOT NULL, created_rv bigint NOT NULL,
    labels jsonb NOT NULL DEFAULT '{}', phase text NOT NULL DEFAULT '', started_at timestamptz,
    object bytea NOT NULL, updated_at timestamptz NOT NULL DEFAULT now())`)
	if err != nil {
		t.Fatal(err)
	}
	table := Table{Name: "timed_pods", Columns: []Column{
		{Name: "phase", Field: "status.phase"},
		{Name: "started_at", Field: "status.startTime", Type: ColumnTimestamp},
	}}
	attrs := func(obj runtime.Object) (labels.Set, fields.Set, error) {
		pod := obj.(*example.Pod)
		started := ""
		if pod.Status.StartTime != nil {
			started = pod.Status.StartTime.UTC().Format(time.RFC3339)
		}
		return labels.Set(pod.Labels), fields.Set{
			"metadata.name": pod.Name, "metadata.namespace": pod.Namespace,
			"status.phase": string(pod.Status.Phase), "status.startTime": started,
		}, nil
	}
	s := b.newStore(table, apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion), newPod, newPodList, "/timed/", attrs)

	started := metav1.NewTime(time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC))
	if err := s.Create(ctx, "/timed/ns/a", &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "a"},
		Status: example.PodStatus{Phase: "Pending"}}, &example.Pod{}, 0); err != nil {
		t.Fatal(err)
	}
	var got *time.Time
	if err := b.pool.QueryRow(ctx, "SELECT started_at FROM timed_pods WHERE name = 'a'").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got != nil {
		t.Errorf("started_at = %v for an empty field, want NULL", got)
	}

	out := &example.Pod{}
	err = s.GuaranteedUpdate(ctx, "/timed/ns/a", out, false, nil, func(obj runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
		pod := obj.(*example.Pod)
		pod.Status.Phase, pod.Status.StartTime = "Running", &started
		return pod, nil, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.pool.QueryRow(ctx, "SELECT started_at FROM timed_pods WHERE name = 'a'").Scan(&got); err != nil {
		t.Fatal(err)
	}
	if got == nil || !got.Equal(started.Time) {
		t.Errorf("started_at = %v, want %v", got, started.Time)
	}

	pred := storage.SelectionPredicate{
		Label:    labels.Everything(),
		Field:    fields.OneTermEqualSelector("status.startTime", "2024-05-06T07:08:09Z"),
		GetAttrs: attrs,
	}
	if pushed := s.pushDownFields(pred); len(pushed) != 0 {
		t.Errorf("pushed down %v, want nothing for a timestamp column", pushed)
	}
	list := &example.PodList{}
	if err := s.GetList(ctx, "/timed/", storage.ListOptions{Predicate: pred, Recursive: true}, list); err != nil {
		t.Fatal(err)
	}
	if len(list.Items) != 1 || list.Items[0].Name != "a" {
		t.Errorf("listed %v, want a", list.Items)
	}
}

func TestTableRefusesUnknownColumnType(t *testing.T) {
	table := Table{Name: "t", Columns: []Column{{Name: "c", Field: "f", Type: "jsonb"}}}
	if err := table.validate(); err == nil {
		t.Error("a column of type jsonb was accepted")
	}
}
