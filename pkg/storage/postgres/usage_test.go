package postgres

import (
	"context"
	"math/big"
	"strconv"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"
)

// podsAsUsageSessions stores example Pods in the sessions table with the
// columns the usage trigger reads: spec.nodeName is the user,
// spec.hostname the template, status.phase the phase, and the annotations
// cpu and memory the recorded requests.
var podsAsUsageSessions = Table{Name: "sessions", Columns: []Column{
	{Name: "user_name", Field: "spec.nodeName"},
	{Name: "template", Field: "spec.hostname"},
	{Name: "phase", Field: "status.phase"},
	{Name: "cpu_millis", Field: "cpu", Type: ColumnBigInt, Recorded: true},
	{Name: "memory_bytes", Field: "memory", Type: ColumnBigInt, Recorded: true},
}}

func podUsageFields(obj runtime.Object) (labels.Set, fields.Set, error) {
	pod := obj.(*example.Pod)
	return labels.Set(pod.Labels), fields.Set{
		"metadata.name": pod.Name, "metadata.namespace": pod.Namespace,
		"spec.nodeName": pod.Spec.NodeName, "spec.hostname": pod.Spec.Hostname, "status.phase": string(pod.Status.Phase),
		"cpu": pod.Annotations["cpu"], "memory": pod.Annotations["memory"],
	}, nil
}

// usageInterval is a row of session_usage.
type usageInterval struct {
	session, uid, user, template string
	cpu, memory                  int64
	started                      time.Time
	ended                        *time.Time
}

func readIntervals(ctx context.Context, t *testing.T, b *Backend) []usageInterval {
	t.Helper()
	rows, err := b.pool.Query(ctx, `SELECT session, uid, user_name, template, cpu_millis, memory_bytes, started_at, ended_at
FROM session_usage ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []usageInterval
	for rows.Next() {
		var i usageInterval
		if err := rows.Scan(&i.session, &i.uid, &i.user, &i.template, &i.cpu, &i.memory, &i.started, &i.ended); err != nil {
			t.Fatal(err)
		}
		out = append(out, i)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestSessionUsageTrigger checks the intervals the trigger on sessions
// records as sessions are written through the storage: one opens when a
// session becomes Running (or is created Running), closes when it stops
// running or is deleted, and is closed and followed by the next when its
// requests change while Running; other writes, and writes that conflict,
// record nothing.
func TestSessionUsageTrigger(t *testing.T) {
	ctx := context.Background()
	b := newTestBackend(t, newTestPool(t), BackendOptions{})
	s := b.newStore(podsAsUsageSessions, apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion), newPod, newPodList, "/sessions/", podUsageFields)
	update := func(name string, change func(*example.Pod)) {
		t.Helper()
		err := s.GuaranteedUpdate(ctx, "/sessions/ns/"+name, &example.Pod{}, false, nil,
			func(obj runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
				pod := obj.(*example.Pod)
				change(pod)
				return pod, nil, nil
			}, nil)
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(step string, want ...usageInterval) []usageInterval {
		t.Helper()
		got := readIntervals(ctx, t, b)
		if len(got) != len(want) {
			t.Fatalf("%s: %d intervals %+v, want %d", step, len(got), got, len(want))
		}
		for i, w := range want {
			g := got[i]
			if g.session != w.session || g.uid != w.uid || g.user != w.user || g.template != w.template || g.cpu != w.cpu || g.memory != w.memory {
				t.Errorf("%s: interval %d is %+v, want %+v", step, i, g, w)
			}
			if (g.ended != nil) != (w.ended != nil) {
				t.Errorf("%s: interval %d ended at %v, want ended %v", step, i, g.ended, w.ended != nil)
			}
			if g.ended != nil && g.ended.Before(g.started) {
				t.Errorf("%s: interval %d ends at %v before it starts at %v", step, i, g.ended, g.started)
			}
		}
		return got
	}
	closed := &time.Time{}

	desk := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "desk", UID: "uid-1",
		Annotations: map[string]string{"cpu": "500", "memory": "1073741824"}},
		Spec: example.PodSpec{NodeName: "alice", Hostname: "firefox"}, Status: example.PodStatus{Phase: "Pending"}}
	if err := s.Create(ctx, "/sessions/ns/desk", desk, &example.Pod{}, 0); err != nil {
		t.Fatal(err)
	}
	check("created Pending")

	update("desk", func(p *example.Pod) { p.Status.Phase = "Running" })
	first := usageInterval{session: "desk", uid: "uid-1", user: "alice", template: "firefox", cpu: 500, memory: 1 << 30}
	check("Running", first)

	update("desk", func(p *example.Pod) { p.Labels = map[string]string{"seen": "yes"} })
	check("another write while Running", first)

	update("desk", func(p *example.Pod) { p.Annotations["cpu"] = "2000" })
	second := first
	second.cpu = 2000
	firstClosed := first
	firstClosed.ended = closed
	got := check("requests changed while Running", firstClosed, second)
	if !got[0].ended.Equal(got[1].started) {
		t.Errorf("the interval with the new requests starts at %v, the previous one ended at %v", got[1].started, got[0].ended)
	}

	// A write that conflicts changes nothing.
	stale := &example.Pod{}
	if err := s.Get(ctx, "/sessions/ns/desk", storage.GetOptions{}, stale); err != nil {
		t.Fatal(err)
	}
	wrongUID := types.UID("someone-else")
	err := s.GuaranteedUpdate(ctx, "/sessions/ns/desk", &example.Pod{}, false, &storage.Preconditions{UID: &wrongUID},
		func(obj runtime.Object, _ storage.ResponseMeta) (runtime.Object, *uint64, error) {
			pod := obj.(*example.Pod)
			pod.Status.Phase = "Hibernated"
			return pod, nil, nil
		}, nil)
	if err == nil {
		t.Fatal("an update with a wrong UID precondition succeeded")
	}
	check("conflicting write", firstClosed, second)

	update("desk", func(p *example.Pod) { p.Status.Phase = "Hibernated" })
	secondClosed := second
	secondClosed.ended = closed
	check("Hibernated", firstClosed, secondClosed)

	update("desk", func(p *example.Pod) { p.Status.Phase = "Running" })
	check("Running again", firstClosed, secondClosed, second)

	if err := s.Delete(ctx, "/sessions/ns/desk", &example.Pod{}, nil, storage.ValidateAllObjectFunc, nil, storage.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	check("deleted", firstClosed, secondClosed, secondClosed)

	// Created Running, without recorded requests: counted with none.
	web := &example.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-2"},
		Spec: example.PodSpec{NodeName: "bob", Hostname: "gimp"}, Status: example.PodStatus{Phase: "Running"}}
	if err := s.Create(ctx, "/sessions/ns/web", web, &example.Pod{}, 0); err != nil {
		t.Fatal(err)
	}
	check("created Running", firstClosed, secondClosed, secondClosed, usageInterval{session: "web", uid: "uid-2", user: "bob", template: "gimp"})

	// The recorded columns are not field selectors.
	pred := storage.SelectionPredicate{Label: labels.Everything(), Field: fields.OneTermEqualSelector("cpu", "500"), GetAttrs: podUsageFields}
	if pushed := s.pushDownFields(pred); len(pushed) != 0 {
		t.Errorf("pushed down %v, want nothing for a recorded column", pushed)
	}
}

// TestSessionUsageSums checks SessionUsage on intervals with known times:
// each is clipped to the period, sums are exact, open intervals count up
// to the measuring time, and the filters select namespace, users and
// template.
func TestSessionUsageSums(t *testing.T) {
	ctx := context.Background()
	b := newTestBackend(t, newTestPool(t), BackendOptions{})
	day := func(d, h, m int) time.Time { return time.Date(2025, 3, d, h, m, 0, 0, time.UTC) }
	insert := func(ns, session, uid, user, template string, cpu, memory int64, started time.Time, ended *time.Time) {
		t.Helper()
		_, err := b.pool.Exec(ctx, `INSERT INTO session_usage (namespace, session, uid, user_name, template, cpu_millis, memory_bytes, started_at, ended_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, ns, session, uid, user, template, cpu, memory, started, ended)
		if err != nil {
			t.Fatal(err)
		}
	}
	at := func(t time.Time) *time.Time { return &t }
	// alice/firefox in ns a: 1h on the 5th, then 30m across midnight into the 6th
	// with other requests (same session), and another session of 90s.
	insert("a", "desk", "u1", "alice", "firefox", 500, 1<<30, day(5, 10, 0), at(day(5, 11, 0)))
	insert("a", "desk", "u1", "alice", "firefox", 1000, 2<<30, day(5, 23, 45), at(day(6, 0, 15)))
	insert("a", "desk2", "u2", "alice", "firefox", 250, 0, day(5, 12, 0), at(day(5, 12, 1).Add(30*time.Second)))
	// alice/gimp in ns a, bob/firefox in ns a, alice/firefox in ns b.
	insert("a", "paint", "u3", "alice", "gimp", 0, 0, day(5, 8, 0), at(day(5, 8, 10)))
	insert("a", "bobs", "u4", "bob", "firefox", 1000, 0, day(5, 9, 0), at(day(5, 9, 6)))
	insert("b", "desk", "u5", "alice", "firefox", 1000, 0, day(5, 9, 0), at(day(5, 9, 1)))
	// Outside the 5th: the month before, and an open one started an hour ago.
	insert("a", "old", "u6", "alice", "firefox", 1000, 0, time.Date(2025, 2, 28, 10, 0, 0, 0, time.UTC), at(time.Date(2025, 2, 28, 11, 0, 0, 0, time.UTC)))
	before := time.Now()
	insert("a", "live", "u7", "carol", "firefox", 2000, 0, before.Add(-time.Hour), nil)

	rat := func(s string) *big.Rat {
		r, ok := new(big.Rat).SetString(s)
		if !ok {
			t.Fatalf("bad number %q", s)
		}
		return r
	}
	type want struct {
		key                  string // namespace/user/template
		sessions             int64
		seconds, cpu, memory string
	}
	key := func(r UsageRow) string { return r.Namespace + "/" + r.User + "/" + r.Template }
	run := func(name string, q UsageQuery, wants ...want) []UsageRow {
		t.Helper()
		rows, _, err := b.SessionUsage(ctx, q)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(rows) != len(wants) {
			var keys []string
			for _, r := range rows {
				keys = append(keys, key(r))
			}
			t.Fatalf("%s: rows %v, want %d", name, keys, len(wants))
		}
		for i, w := range wants {
			r := rows[i]
			if key(r) != w.key || r.Sessions != w.sessions {
				t.Errorf("%s: row %d is %s with %d sessions, want %s with %d", name, i, key(r), r.Sessions, w.key, w.sessions)
			}
			if w.seconds == "" {
				continue // not known in advance
			}
			for _, c := range []struct {
				what      string
				got, want *big.Rat
			}{{"seconds", r.Seconds, rat(w.seconds)}, {"cpu", r.CPUMilliSeconds, rat(w.cpu)}, {"memory", r.MemoryByteSeconds, rat(w.memory)}} {
				if c.got.Cmp(c.want) != 0 {
					t.Errorf("%s: %s %s is %s, want %s", name, key(r), c.what, c.got.FloatString(6), c.want.FloatString(6))
				}
			}
		}
		return rows
	}
	gib := int64(1 << 30)
	s := strconv.FormatInt
	// The 5th: desk 3600s + 900s (to midnight), desk2 90s.
	fifth, sixth := day(5, 0, 0), day(6, 0, 0)
	run("the 5th in a", UsageQuery{Namespace: "a", Start: &fifth, End: &sixth},
		want{"a/alice/firefox", 2, "4590", s(3600*500+900*1000+90*250, 10), s(3600*gib+900*2*gib, 10)},
		want{"a/alice/gimp", 1, "600", "0", "0"},
		want{"a/bob/firefox", 1, "360", "360000", "0"},
	)
	run("the 5th, alice, firefox, every namespace", UsageQuery{Users: []string{"alice"}, Template: "firefox", Start: &fifth, End: &sixth},
		want{"a/alice/firefox", 2, "4590", s(3600*500+900*1000+90*250, 10), s(3600*gib+900*2*gib, 10)},
		want{"b/alice/firefox", 1, "60", "60000", "0"},
	)
	run("nobody", UsageQuery{Users: []string{}})
	// Everything: the open interval counts up to the measuring time.
	rows := run("all of alice and carol in a", UsageQuery{Namespace: "a", Users: []string{"alice", "carol"}},
		want{"a/alice/firefox", 3, "9090", s(3600*500+1800*1000+90*250+3600*1000, 10), s(3600*gib+1800*2*gib, 10)},
		want{"a/alice/gimp", 1, "600", "0", "0"},
		want{"a/carol/firefox", 1, "", "", ""},
	)
	if secs, _ := rows[2].Seconds.Float64(); secs < 3600 || secs > time.Since(before).Seconds()+3600 {
		t.Errorf("the open interval counts %v seconds, want an hour and the little since", secs)
	}
	// A period in the future counts nothing, not even the open interval.
	next, after := time.Now().AddDate(1, 0, 0), time.Now().AddDate(1, 1, 0)
	run("a future month", UsageQuery{Start: &next, End: &after})
}
