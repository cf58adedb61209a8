package hibernation

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/statusapply"
	streamapply "github.com/streamspace/controlplane/pkg/generated/applyconfiguration/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned/fake"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
)

// idleWarningFixture is the controller over a fake API that applies status
// with real field ownership, and caches filled by hand from it.
type idleWarningFixture struct {
	t        *testing.T
	ctrl     *Controller
	client   *fake.Clientset
	factory  streaminformers.SharedInformerFactory
	clock    *clocktesting.FakeClock
	recorder *record.FakeRecorder
	// writes counts the session's writes; it stands for the
	// resourceVersion, which the fake API neither moves nor checks.
	writes int
}

func newIdleWarningFixture(t *testing.T, s *streamv1alpha1.Session, lead time.Duration, now time.Time) *idleWarningFixture {
	t.Helper()
	f := &idleWarningFixture{t: t, client: fake.NewClientset(s), clock: clocktesting.NewFakeClock(now), recorder: record.NewFakeRecorder(100)}
	f.client.PrependReactor("patch", "sessions", f.checkResourceVersion)
	f.factory = streaminformers.NewSharedInformerFactory(f.client, 0)
	ctrl, err := New(manager.Context{
		StreamClient: f.client, StreamInformers: f.factory,
		EventRecorder: func(string) record.EventRecorder { return f.recorder },
		Clock:         f.clock, Workers: 1,
	}, Options{DefaultIdleTimeout: 30 * time.Minute, IdleWarningLead: lead})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ctrl.queue.ShutDown)
	f.ctrl = ctrl
	f.refreshCache()
	return f
}

// checkResourceVersion answers 409 Conflict to a patch whose
// resourceVersion is not the current one, as the API server does, and
// counts the others, which the fake's own reactor then applies.
func (f *idleWarningFixture) checkResourceVersion(action clienttesting.Action) (bool, runtime.Object, error) {
	patch := action.(clienttesting.PatchAction)
	var body struct {
		Metadata struct {
			ResourceVersion string `json:"resourceVersion"`
		} `json:"metadata"`
	}
	if err := json.Unmarshal(patch.GetPatch(), &body); err != nil {
		return true, nil, err
	}
	if rv := body.Metadata.ResourceVersion; rv != "" && rv != strconv.Itoa(f.writes) {
		return true, nil, apierrors.NewConflict(streamv1alpha1.Resource("sessions"), patch.GetName(),
			fmt.Errorf("the object has been modified: written at %s, stored %d", rv, f.writes))
	}
	f.writes++
	return false, nil, nil
}

// stored is the session as the API stores it.
func (f *idleWarningFixture) stored() *streamv1alpha1.Session {
	f.t.Helper()
	s, err := f.client.StreamV1alpha1().Sessions("alice").Get(context.Background(), "s", metav1.GetOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	s.ResourceVersion = strconv.Itoa(f.writes)
	return s
}

// refreshCache puts the stored session in the controller's cache.
func (f *idleWarningFixture) refreshCache() {
	f.t.Helper()
	if err := f.factory.Stream().V1alpha1().Sessions().Informer().GetIndexer().Add(f.stored()); err != nil {
		f.t.Fatal(err)
	}
}

// syncAt reconciles the session at t0+d from what the cache holds.
func (f *idleWarningFixture) syncAt(d time.Duration) error {
	f.clock.SetTime(t0.Add(d))
	return f.ctrl.sync(context.Background(), "alice/s")
}

func (f *idleWarningFixture) mustSyncAt(d time.Duration) {
	f.t.Helper()
	if err := f.syncAt(d); err != nil {
		f.t.Fatalf("sync at t0+%s: %v", d, err)
	}
	f.refreshCache()
}

// warningEvents are the messages of the IdleWarning Events recorded so far.
func (f *idleWarningFixture) warningEvents() []string {
	var out []string
	for {
		select {
		case e := <-f.recorder.Events:
			if strings.HasPrefix(e, "Normal "+ReasonIdleWarning+" ") {
				out = append(out, strings.TrimPrefix(e, "Normal "+ReasonIdleWarning+" "))
			}
		default:
			return out
		}
	}
}

// TestIdleWarningFollowsTheDeadline: a session idle for 60s with a lead of
// 20s is requeued for its warning, warned once (condition and Event) 20s
// before hibernateAt, not warned again by another reconcile or one from a
// stale cache, loses the warning when a viewer connects, and is warned anew
// of the later deadline after the viewer left. The session controller's
// conditions are left alone throughout.
func TestIdleWarningFollowsTheDeadline(t *testing.T) {
	idle := time.Minute
	s := runningSession(&idle, func(s *streamv1alpha1.Session) {
		s.Namespace, s.Spec.User, s.Spec.Template = "alice", "alice", "firefox"
	})
	f := newIdleWarningFixture(t, s, 20*time.Second, t0)
	hibernateAt := t0.Add(65 * time.Second) // Ready at t0+5s, idle 60s

	// Before the lead: hibernateAt, no warning, and a wake-up at the lead.
	f.mustSyncAt(30 * time.Second)
	got := f.stored()
	if got.Status.HibernateAt == nil || !got.Status.HibernateAt.Time.Equal(hibernateAt) {
		t.Fatalf("hibernateAt %v, want %s", got.Status.HibernateAt, hibernateAt)
	}
	if c := meta.FindStatusCondition(got.Status.Conditions, stream.SessionConditionIdleWarning); c != nil {
		t.Fatalf("warned 35s before hibernating with a lead of 20s: %+v", c)
	}
	if n := f.ctrl.queue.Len(); n != 0 {
		t.Fatalf("%d keys queued at once, want one queued for the warning", n)
	}
	f.clock.Step(15 * time.Second) // to hibernateAt - lead
	if err := wait.PollUntilContextTimeout(context.Background(), time.Millisecond, 5*time.Second, true, func(context.Context) (bool, error) {
		return f.ctrl.queue.Len() == 1, nil
	}); err != nil {
		t.Fatalf("the session was not requeued at hibernateAt - lead")
	}

	// At the lead: warned, with an Event.
	stale := f.stored()
	f.mustSyncAt(45 * time.Second)
	got = f.stored()
	warning := meta.FindStatusCondition(got.Status.Conditions, stream.SessionConditionIdleWarning)
	wantMessage := "Hibernating at 2026-01-02T10:01:05Z unless someone connects"
	if warning == nil || warning.Status != metav1.ConditionTrue || warning.Reason != stream.SessionReasonHibernatingSoon || warning.Message != wantMessage {
		t.Fatalf("IdleWarning %+v, want True, HibernatingSoon, %q", warning, wantMessage)
	}
	if !warning.LastTransitionTime.Time.Equal(t0.Add(45 * time.Second)) {
		t.Errorf("lastTransitionTime %s, want the time of the warning", warning.LastTransitionTime.Time)
	}
	if ready := meta.FindStatusCondition(got.Status.Conditions, stream.SessionConditionReady); ready == nil || ready.Status != metav1.ConditionTrue {
		t.Errorf("the Ready condition was touched: %+v", got.Status.Conditions)
	}
	if events := f.warningEvents(); len(events) != 1 || events[0] != wantMessage {
		t.Fatalf("IdleWarning events %q, want one %q", events, wantMessage)
	}

	// Again, from the cache that holds the warning, and from a stale one:
	// no second Event.
	f.mustSyncAt(50 * time.Second)
	if err := f.factory.Stream().V1alpha1().Sessions().Informer().GetIndexer().Update(stale); err != nil {
		t.Fatal(err)
	}
	if err := f.syncAt(51 * time.Second); !apierrors.IsConflict(err) {
		t.Errorf("reconcile from a cache without the warning: %v, want a conflict that makes it look again", err)
	}
	f.refreshCache()
	f.mustSyncAt(52 * time.Second)
	if events := f.warningEvents(); len(events) != 0 {
		t.Errorf("the warning was recorded again: %q", events)
	}

	// A viewer connects: no deadline, no warning.
	conn := &streamv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Name: "viewer", Namespace: "alice", CreationTimestamp: *at(55 * time.Second)},
		Spec: streamv1alpha1.ConnectionSpec{Session: "s", User: "alice"}}
	connIndexer := f.factory.Stream().V1alpha1().Connections().Informer().GetIndexer()
	if err := connIndexer.Add(conn); err != nil {
		t.Fatal(err)
	}
	f.mustSyncAt(56 * time.Second)
	got = f.stored()
	if got.Status.HibernateAt != nil || meta.FindStatusCondition(got.Status.Conditions, stream.SessionConditionIdleWarning) != nil {
		t.Fatalf("with a viewer: hibernateAt %v, conditions %+v; want neither hibernateAt nor IdleWarning", got.Status.HibernateAt, got.Status.Conditions)
	}
	if meta.FindStatusCondition(got.Status.Conditions, stream.SessionConditionReady) == nil {
		t.Errorf("removing the warning removed the Ready condition: %+v", got.Status.Conditions)
	}

	// The viewer leaves at t0+90s (the connection controller records it):
	// warned anew of the later deadline, at its own lead.
	if err := connIndexer.Delete(conn); err != nil {
		t.Fatal(err)
	}
	disconnect := streamapply.Session("s", "alice").WithStatus(streamapply.SessionStatus().WithLastDisconnect(*at(90 * time.Second)))
	if _, err := f.client.StreamV1alpha1().Sessions("alice").ApplyStatus(context.Background(), disconnect, statusapply.Options("connection-controller")); err != nil {
		t.Fatal(err)
	}
	f.refreshCache()
	f.mustSyncAt(100 * time.Second)
	if c := meta.FindStatusCondition(f.stored().Status.Conditions, stream.SessionConditionIdleWarning); c != nil {
		t.Fatalf("warned 50s before the new deadline: %+v", c)
	}
	f.mustSyncAt(131 * time.Second)
	warning = meta.FindStatusCondition(f.stored().Status.Conditions, stream.SessionConditionIdleWarning)
	wantMessage = "Hibernating at 2026-01-02T10:02:30Z unless someone connects"
	if warning == nil || warning.Message != wantMessage || !warning.LastTransitionTime.Time.Equal(t0.Add(131*time.Second)) {
		t.Fatalf("IdleWarning after the viewer left %+v, want %q since t0+131s", warning, wantMessage)
	}
	if events := f.warningEvents(); len(events) != 1 || events[0] != wantMessage {
		t.Errorf("IdleWarning events %q, want one %q", events, wantMessage)
	}
}

// TestIdleWarningLeadZeroNeverWarns: with --idle-warning-lead=0 a session
// about to hibernate has hibernateAt but no warning.
func TestIdleWarningLeadZeroNeverWarns(t *testing.T) {
	idle := time.Minute
	s := runningSession(&idle, func(s *streamv1alpha1.Session) { s.Namespace = "alice" })
	f := newIdleWarningFixture(t, s, 0, t0)
	f.mustSyncAt(64 * time.Second)
	got := f.stored()
	if got.Status.HibernateAt == nil || meta.FindStatusCondition(got.Status.Conditions, stream.SessionConditionIdleWarning) != nil {
		t.Errorf("hibernateAt %v, conditions %+v; want hibernateAt and no IdleWarning", got.Status.HibernateAt, got.Status.Conditions)
	}
	if events := f.warningEvents(); len(events) != 0 {
		t.Errorf("IdleWarning events %q with lead 0", events)
	}
}

func TestOptionsRefuseANegativeLead(t *testing.T) {
	o := Options{IdleWarningLead: -time.Second}
	if err := o.Validate(); err == nil || !strings.Contains(err.Error(), "--idle-warning-lead") {
		t.Errorf("Validate = %v, want an error naming --idle-warning-lead", err)
	}
	o.IdleWarningLead = 0
	if err := o.Validate(); err != nil {
		t.Errorf("Validate with lead 0 = %v, want nil", err)
	}
}
