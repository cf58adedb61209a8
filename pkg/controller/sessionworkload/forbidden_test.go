package sessionworkload

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kubeinformers "k8s.io/client-go/informers"
	kubefake "k8s.io/client-go/kubernetes/fake"
	clienttesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/record"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned/fake"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
)

// TestRefusedWorkloadFailsTheSession: when the API refuses the controller
// the session's Deployment (a namespace not enabled for sessions), the
// Session goes Failed with the refusal, one Warning Event says why, and the
// error goes back to the queue so that the session starts once the
// namespace is enabled.
func TestRefusedWorkloadFailsTheSession(t *testing.T) {
	now := time.Date(2026, 3, 4, 10, 0, 0, 0, time.UTC)
	tpl := &streamv1alpha1.Template{
		ObjectMeta: metav1.ObjectMeta{Name: "firefox", Namespace: "plain"},
		Spec: streamv1alpha1.TemplateSpec{
			DisplayName: "Firefox", BaseImage: "lscr.io/linuxserver/firefox:latest",
			VNC: &streamv1alpha1.VNCConfig{Enabled: true, Port: 3000},
		},
	}
	home := false
	s := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "desk", Namespace: "plain", UID: "uid-desk", ResourceVersion: "1", Generation: 1},
		Spec:       streamv1alpha1.SessionSpec{User: "alice", Template: "firefox", State: streamv1alpha1.SessionStateRunning, PersistentHome: &home},
	}
	streamClient := fake.NewSimpleClientset(s.DeepCopy())
	api := &preconditionedPatches{tracker: streamClient.Tracker(), rv: 1}
	streamClient.PrependReactor("patch", "sessions", api.react)
	kubeClient := kubefake.NewSimpleClientset()
	const refusal = "streamspace-controller may write deployments only in namespaces labelled stream.space/sessions=enabled; namespace plain is not"
	kubeClient.PrependReactor("create", "deployments", func(clienttesting.Action) (bool, runtime.Object, error) {
		return true, nil, apierrors.NewForbidden(schema.GroupResource{Group: "apps", Resource: "deployments"}, "desk", errors.New(refusal))
	})
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
	sessions := streamFactory.Stream().V1alpha1().Sessions().Informer().GetIndexer()
	if err := sessions.Add(s); err != nil {
		t.Fatal(err)
	}
	if err := streamFactory.Stream().V1alpha1().Templates().Informer().GetIndexer().Add(tpl); err != nil {
		t.Fatal(err)
	}

	for attempt := 1; attempt <= 2; attempt++ {
		if err := ctrl.sync(context.Background(), "plain/desk"); !apierrors.IsForbidden(err) {
			t.Fatalf("reconcile %d: %v, want the refusal back for a retry", attempt, err)
		}
		stored, err := streamClient.StreamV1alpha1().Sessions("plain").Get(context.Background(), "desk", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if stored.Status.Phase != streamv1alpha1.SessionPhaseFailed || stored.Status.Reason != stream.SessionReasonWorkloadForbidden {
			t.Fatalf("reconcile %d: phase %s reason %s, want Failed %s", attempt, stored.Status.Phase, stored.Status.Reason, stream.SessionReasonWorkloadForbidden)
		}
		for _, want := range []string{refusal, "stream.space/sessions=enabled", "namespace plain"} {
			if !strings.Contains(stored.Status.Message, want) {
				t.Errorf("reconcile %d: message %q does not say %q", attempt, stored.Status.Message, want)
			}
		}
		// The informer delivers the controller's own status write.
		if err := sessions.Update(stored); err != nil {
			t.Fatal(err)
		}
	}
	close(recorder.Events)
	var warnings []string
	for e := range recorder.Events {
		if strings.HasPrefix(e, "Warning "+stream.SessionReasonWorkloadForbidden+" ") {
			warnings = append(warnings, e)
		}
	}
	if len(warnings) != 1 {
		t.Errorf("%d %s events over two refused reconciles, want 1: %q", len(warnings), stream.SessionReasonWorkloadForbidden, warnings)
	}
}
