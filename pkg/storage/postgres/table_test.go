package postgres

import (
	"context"
	"testing"

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
