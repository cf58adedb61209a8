package feed

import (
	"context"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	kubefake "k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	streamfake "github.com/streamspace/controlplane/pkg/generated/clientset/versioned/fake"
)

// In a namespace shared by alice and bob, where RBAC lets both read every
// pod's log, the logs feed gives each the logs of their own sessions' pods
// only; dana, with assign, reads any; pods of no session need assign.
func TestLogsOwnerRule(t *testing.T) {
	sessionPod := func(name, session string) *corev1.Pod {
		return &corev1.Pod{ObjectMeta: metav1.ObjectMeta{
			Name: name, Namespace: "shared",
			Labels:      map[string]string{stream.SessionLabel: session},
			Annotations: map[string]string{stream.SessionNameAnnotation: session},
		}}
	}
	labelOnly := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bobs-old-pod", Namespace: "shared", Labels: map[string]string{stream.SessionLabel: "bobs-desk"}}}
	plain := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "database", Namespace: "shared"}}
	orphan := sessionPod("gone-pod", "gone")
	objects := []runtime.Object{sessionPod("alices-pod", "alices-desk"), sessionPod("bobs-pod", "bobs-desk"), labelOnly, plain, orphan}
	sessions := []runtime.Object{
		&streamv1alpha1.Session{ObjectMeta: metav1.ObjectMeta{Name: "alices-desk", Namespace: "shared"}, Spec: streamv1alpha1.SessionSpec{User: "alice"}},
		&streamv1alpha1.Session{ObjectMeta: metav1.ObjectMeta{Name: "bobs-desk", Namespace: "shared"}, Spec: streamv1alpha1.SessionSpec{User: "bob"}},
	}
	for _, tc := range []struct {
		caller, pod string
		assign      bool
		wantErr     string // "" allowed
	}{
		{caller: "alice", pod: "alices-pod"},
		{caller: "alice", pod: "bobs-pod", wantErr: `belongs to user "bob": alice may not read the logs of the pods of it`},
		{caller: "alice", pod: "bobs-old-pod", wantErr: `belongs to user "bob"`},
		{caller: "bob", pod: "alices-pod", wantErr: `belongs to user "alice"`},
		{caller: "bob", pod: "bobs-pod"},
		{caller: "alice", pod: "database", wantErr: "belongs to no session"},
		{caller: "alice", pod: "gone-pod", wantErr: "belongs to no session"},
		{caller: "dana", pod: "alices-pod", assign: true},
		{caller: "dana", pod: "database", assign: true},
		{caller: "alice", pod: "missing", wantErr: "not found"},
	} {
		t.Run(tc.caller+" "+tc.pod, func(t *testing.T) {
			kube := kubefake.NewClientset(objects...)
			kube.PrependReactor("create", "selfsubjectaccessreviews", func(action k8stesting.Action) (bool, runtime.Object, error) {
				review := action.(k8stesting.CreateAction).GetObject().(*authorizationv1.SelfSubjectAccessReview).DeepCopy()
				attrs := review.Spec.ResourceAttributes
				review.Status.Allowed = attrs != nil && (attrs.Verb != stream.AssignVerb || tc.assign) && attrs.Namespace == "shared"
				return true, review, nil
			})
			err := authorizePod(context.Background(), kube, streamfake.NewClientset(sessions...), &user.DefaultInfo{Name: tc.caller}, "shared", tc.pod, podLogs)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("allowed, want %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %q does not say %q", err, tc.wantErr)
			case tc.wantErr != "" && tc.wantErr != "not found" && !apierrors.IsForbidden(err):
				t.Errorf("refusal %v is not a 403", err)
			}
		})
	}
}
