package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/streamspace/controlplane/internal/devstack"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// newSession creates a session of template for user in the user's
// namespace and deletes it when the test ends.
func newSession(t *testing.T, ss clientset.Interface, user, name, template string, idle, maxDuration time.Duration) *streamv1alpha1.Session {
	t.Helper()
	s := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: streamv1alpha1.SessionSpec{
			Template:    template,
			IdleTimeout: &metav1.Duration{Duration: idle},
		},
	}
	if maxDuration != 0 {
		s.Spec.MaxSessionDuration = &metav1.Duration{Duration: maxDuration}
	}
	created, err := ss.StreamV1alpha1().Sessions(user).Create(context.Background(), s, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create session %s/%s: %v", user, name, err)
	}
	t.Cleanup(func() {
		err := ss.StreamV1alpha1().Sessions(user).Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete session %s/%s: %v", user, name, err)
		}
	})
	return created
}

// waitSession polls a session until cond holds and returns it.
func waitSession(t *testing.T, ss clientset.Interface, namespace, name string, timeout time.Duration, what string, cond func(*streamv1alpha1.Session) bool) *streamv1alpha1.Session {
	t.Helper()
	var last *streamv1alpha1.Session
	eventually(t, timeout, fmt.Sprintf("session %s/%s: %s", namespace, name, what), func() (bool, error) {
		s, err := ss.StreamV1alpha1().Sessions(namespace).Get(context.Background(), name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		last = s
		if cond(s) {
			return true, nil
		}
		return false, fmt.Errorf("state %s, phase %s (%s: %s), connections %d", s.Spec.State, s.Status.Phase, s.Status.Reason, s.Status.Message, s.Status.ActiveConnections)
	})
	return last
}

func phaseIs(phase streamv1alpha1.SessionPhase) func(*streamv1alpha1.Session) bool {
	return func(s *streamv1alpha1.Session) bool { return s.Status.Phase == phase }
}

// sessionEvents are the reasons and messages of the Events about a session.
func sessionEvents(t *testing.T, kube kubernetes.Interface, s *streamv1alpha1.Session) []string {
	t.Helper()
	list, err := kube.CoreV1().Events(s.Namespace).List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.uid": string(s.UID)}.String(),
	})
	if err != nil {
		t.Fatalf("list events of session %s: %v", s.Name, err)
	}
	var out []string
	for _, e := range list.Items {
		out = append(out, e.Reason+": "+e.Message)
	}
	return out
}

// waitEvent waits for an Event about s whose reason is reason.
func waitEvent(t *testing.T, kube kubernetes.Interface, s *streamv1alpha1.Session, reason string) string {
	t.Helper()
	var found string
	eventually(t, 30*time.Second, "event "+reason+" on session "+s.Name, func() (bool, error) {
		for _, e := range sessionEvents(t, kube, s) {
			if strings.HasPrefix(e, reason+": ") {
				found = e
				return true, nil
			}
		}
		return false, nil
	})
	return found
}

// sessionPods lists the pods of a session by its label.
func sessionPods(t *testing.T, kube kubernetes.Interface, s *streamv1alpha1.Session) []corev1.Pod {
	t.Helper()
	pods, err := kube.CoreV1().Pods(s.Namespace).List(context.Background(), metav1.ListOptions{LabelSelector: "stream.space/session=" + s.Name})
	if err != nil {
		t.Fatalf("list pods of session %s: %v", s.Name, err)
	}
	return pods.Items
}

func deploymentReplicas(t *testing.T, kube kubernetes.Interface, namespace, name string) (int32, error) {
	t.Helper()
	d, err := kube.AppsV1().Deployments(namespace).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		return -1, err
	}
	return *d.Spec.Replicas, nil
}

// controllerMetric reads one sample of streamspace-controller's /metrics
// (the first line starting with series), 0 when absent.
func controllerMetric(t *testing.T, series string) float64 {
	t.Helper()
	resp, err := getMetrics(stack.ControllerURL(), devstack.MetricsScraper)
	if err != nil {
		t.Fatalf("scrape controller metrics: %v", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape controller metrics: %s", resp.Status)
	}
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, series+" ") {
			v, err := strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, series)), 64)
			if err != nil {
				t.Fatalf("metric %s: %v", line, err)
			}
			return v
		}
	}
	return 0
}
