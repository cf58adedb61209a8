package sessionworkload

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	"k8s.io/component-base/metrics/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/metrics"
	"github.com/streamspace/controlplane/pkg/controller/sessionpod"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned/fake"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
)

// TestRetriedReconcileCountsOneWake: a reconcile that runs again from a
// stale cache (the informer has not yet delivered the controller's own
// writes) must not record the Running transition twice, nor count the wake
// twice. The fake API enforces resourceVersion preconditions on patches and applies as
// the real server does.
func TestRetriedReconcileCountsOneWake(t *testing.T) {
	metrics.Register()
	now := time.Date(2026, 3, 4, 10, 0, 10, 0, time.UTC)
	wokenAt := now.Add(-4 * time.Second)

	tpl := &streamv1alpha1.Template{
		ObjectMeta: metav1.ObjectMeta{Name: "firefox", Namespace: "alice"},
		Spec: streamv1alpha1.TemplateSpec{
			DisplayName: "Firefox", BaseImage: "lscr.io/linuxserver/firefox:latest",
			VNC: &streamv1alpha1.VNCConfig{Enabled: true, Port: 3000},
		},
	}
	home := false
	stale := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{
			Name: "woken", Namespace: "alice", UID: "uid-woken", ResourceVersion: "1", Generation: 2,
			Annotations: map[string]string{stream.WokenAtAnnotation: wokenAt.Format(time.RFC3339Nano)},
		},
		Spec: streamv1alpha1.SessionSpec{User: "alice", Template: "firefox", State: streamv1alpha1.SessionStateRunning, PersistentHome: &home},
		Status: streamv1alpha1.SessionStatus{
			Phase: streamv1alpha1.SessionPhasePending, Reason: stream.SessionReasonStarting, Message: "waiting for the session's pod to be created",
		},
	}
	deployment := desiredDeployment(stale, tpl)
	deployment.Status = appsv1.DeploymentStatus{Replicas: 1, ReadyReplicas: 1}
	service := desiredService(stale, tpl)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: "woken-abc", Namespace: "alice", Labels: sessionpod.SessionLabels(stale),
			Annotations: map[string]string{stream.SessionNameAnnotation: stale.Name}, CreationTimestamp: metav1.NewTime(now.Add(-2 * time.Second)),
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}},
	}

	streamClient := fake.NewSimpleClientset(stale.DeepCopy())
	api := &preconditionedPatches{tracker: streamClient.Tracker(), rv: 1}
	streamClient.PrependReactor("patch", "sessions", api.react)
	kubeClient := kubefake.NewSimpleClientset(deployment, service, pod)
	recorder := record.NewFakeRecorder(100)
	streamFactory := streaminformers.NewSharedInformerFactory(streamClient, 0)
	kubeFactory := kubeinformers.NewSharedInformerFactory(kubeClient, 0)
	ctrl, err := New(manager.Context{
		KubeClient: kubeClient, StreamClient: streamClient,
		StreamInformers: streamFactory, ManagedKubeInformers: kubeFactory, KubeInformers: kubeFactory,
		EventRecorder: func(string) record.EventRecorder { return recorder },
		Clock:         clocktesting.NewFakeClock(now), Workers: 1,
	}, Options{HomeSize: "1Gi"})
	if err != nil {
		t.Fatal(err)
	}
	// The caches are filled by hand and never follow the writes: stale.
	for _, add := range []struct {
		indexer interface{ Add(any) error }
		obj     any
	}{
		{streamFactory.Stream().V1alpha1().Sessions().Informer().GetIndexer(), stale},
		{streamFactory.Stream().V1alpha1().Templates().Informer().GetIndexer(), tpl},
		{kubeFactory.Apps().V1().Deployments().Informer().GetIndexer(), deployment},
		{kubeFactory.Core().V1().Services().Informer().GetIndexer(), service},
		{kubeFactory.Core().V1().Pods().Informer().GetIndexer(), pod},
	} {
		if err := add.indexer.Add(add.obj); err != nil {
			t.Fatal(err)
		}
	}

	wakesBefore, err := testutil.GetCounterMetricValue(metrics.Wakes)
	if err != nil {
		t.Fatal(err)
	}
	if err := ctrl.sync(context.Background(), "alice/woken"); err != nil {
		t.Fatalf("first reconcile: %v", err)
	}
	stored, err := streamClient.StreamV1alpha1().Sessions("alice").Get(context.Background(), "woken", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if stored.Status.Phase != streamv1alpha1.SessionPhaseRunning {
		t.Fatalf("after the first reconcile the phase is %s, want Running", stored.Status.Phase)
	}
	if _, marked := stored.Annotations[stream.WokenAtAnnotation]; marked {
		t.Fatalf("the wake mark is still there after the wake was counted")
	}

	// The same stale session again (a retry, or an event of a child): the
	// transition it computes was already recorded.
	if err := ctrl.sync(context.Background(), "alice/woken"); !apierrors.IsConflict(err) {
		t.Errorf("reconcile from a stale cache: %v, want a conflict that makes it look again", err)
	}
	// The cache caught up with the status write but not yet with the removal of the mark.
	afterStatus := stale.DeepCopy()
	afterStatus.ResourceVersion = "2"
	afterStatus.Status = *stored.Status.DeepCopy()
	if err := streamFactory.Stream().V1alpha1().Sessions().Informer().GetIndexer().Update(afterStatus); err != nil {
		t.Fatal(err)
	}
	if err := ctrl.sync(context.Background(), "alice/woken"); !apierrors.IsConflict(err) {
		t.Errorf("reconcile from a cache that still has the mark: %v, want a conflict", err)
	}

	wakesAfter, err := testutil.GetCounterMetricValue(metrics.Wakes)
	if err != nil {
		t.Fatal(err)
	}
	if got := wakesAfter - wakesBefore; got != 1 {
		t.Errorf("streamspace_session_wakes_total grew by %v over three reconciles of one wake, want 1", got)
	}
	reasons := map[string]int{}
	close(recorder.Events)
	for e := range recorder.Events {
		reasons[strings.Fields(e)[1]]++
	}
	if reasons[stream.SessionReasonPodReady] != 1 || reasons[ReasonWoke] != 1 {
		t.Errorf("events by reason %v, want one %s and one %s", reasons, stream.SessionReasonPodReady, ReasonWoke)
	}
}

// preconditionedPatches serves merge patches and server-side applies of
// sessions the way the API server does: one that names a resourceVersion
// other than the stored one answers 409 Conflict, and every write moves the
// resourceVersion on. An apply sets the status fields it names and removes
// those its field manager applied before and no longer names, unless
// another manager owns them too (ownership is kept per top-level status
// field; a forced apply of a different value takes a field over).
type preconditionedPatches struct {
	tracker clienttesting.ObjectTracker
	rv      int
	owned   map[string]map[string]bool // field manager -> status fields
}

func (p *preconditionedPatches) react(action clienttesting.Action) (bool, runtime.Object, error) {
	patch := action.(clienttesting.PatchActionImpl)
	gvr := streamv1alpha1.SchemeGroupVersion.WithResource("sessions")
	obj, err := p.tracker.Get(gvr, patch.GetNamespace(), patch.GetName())
	if err != nil {
		return true, nil, err
	}
	var body map[string]any
	if err := json.Unmarshal(patch.GetPatch(), &body); err != nil {
		return true, nil, err
	}
	if meta, ok := body["metadata"].(map[string]any); ok {
		if rv, ok := meta["resourceVersion"].(string); ok && rv != strconv.Itoa(p.rv) {
			return true, nil, apierrors.NewConflict(gvr.GroupResource(), patch.GetName(),
				fmt.Errorf("the object has been modified: patch at %s, stored %d", rv, p.rv))
		}
		delete(meta, "resourceVersion") // a precondition, not a change
	}
	current, err := runtime.DefaultUnstructuredConverter.ToUnstructured(obj)
	if err != nil {
		return true, nil, err
	}
	var merged map[string]any
	switch patch.GetPatchType() {
	case types.ApplyPatchType:
		if patch.GetSubresource() != "status" {
			return true, nil, fmt.Errorf("unexpected apply of %s", patch.GetSubresource())
		}
		merged = p.applyStatus(current, body, patch.PatchOptions.FieldManager)
	case types.MergePatchType:
		merged = mergePatch(current, body).(map[string]any)
	default:
		return true, nil, fmt.Errorf("unexpected patch type %s", patch.GetPatchType())
	}
	p.rv++
	merged["metadata"].(map[string]any)["resourceVersion"] = strconv.Itoa(p.rv)
	updated := &streamv1alpha1.Session{}
	if err := runtime.DefaultUnstructuredConverter.FromUnstructured(merged, updated); err != nil {
		return true, nil, err
	}
	if err := p.tracker.Update(gvr, updated, patch.GetNamespace()); err != nil {
		return true, nil, err
	}
	return true, updated, nil
}

func (p *preconditionedPatches) applyStatus(current, body map[string]any, manager string) map[string]any {
	if p.owned == nil {
		p.owned = map[string]map[string]bool{}
	}
	status, _ := current["status"].(map[string]any)
	if status == nil {
		status = map[string]any{}
	}
	applied, _ := body["status"].(map[string]any)
	for f := range p.owned[manager] {
		if _, still := applied[f]; still {
			continue
		}
		shared := false
		for other, fields := range p.owned {
			shared = shared || (other != manager && fields[f])
		}
		if !shared {
			delete(status, f)
		}
	}
	mine := map[string]bool{}
	for f, v := range applied {
		if !reflect.DeepEqual(status[f], v) {
			for _, fields := range p.owned {
				delete(fields, f)
			}
		}
		status[f] = v
		mine[f] = true
	}
	p.owned[manager] = mine
	current["status"] = status
	return current
}

// mergePatch applies an RFC 7386 JSON merge patch.
func mergePatch(doc, patch any) any {
	patchMap, ok := patch.(map[string]any)
	if !ok {
		return patch
	}
	docMap, ok := doc.(map[string]any)
	if !ok {
		docMap = map[string]any{}
	}
	for k, v := range patchMap {
		if v == nil {
			delete(docMap, k)
			continue
		}
		docMap[k] = mergePatch(docMap[k], v)
	}
	return docMap
}
