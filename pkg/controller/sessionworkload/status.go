package sessionworkload

import (
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/sessionpod"
)

// Reasons of the session controller's Events that are not phase reasons
// (those are in pkg/apis/stream).
const (
	ReasonWorkloadSyncFailed = "WorkloadSyncFailed"
	ReasonWoke               = "Woke"
	ReasonClaimed            = "ClaimedFromPool"
)

// failingWaitingReasons are container states that do not heal by waiting.
var failingWaitingReasons = map[string]bool{
	"CrashLoopBackOff": true, "ImagePullBackOff": true, "ErrImagePull": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true, "RunContainerError": true,
}

// podView is what the phase depends on: the session's newest pod, or none,
// and whether any pod of it still exists (terminating ones included).
type podView struct {
	pod     *corev1.Pod
	anyPods bool
}

func viewPods(pods []*corev1.Pod) podView {
	v := podView{anyPods: len(pods) > 0}
	live := make([]*corev1.Pod, 0, len(pods))
	for _, p := range pods {
		if p.DeletionTimestamp == nil {
			live = append(live, p)
		}
	}
	sort.Slice(live, func(i, j int) bool {
		return live[j].CreationTimestamp.Before(&live[i].CreationTimestamp)
	})
	if len(live) > 0 {
		v.pod = live[0]
	}
	return v
}

// podReady reports the pod's Ready condition.
func podReady(p *corev1.Pod) bool { return sessionpod.Ready(p) }

// podProblem says why a pod will not become ready on its own, if it will not.
func podProblem(p *corev1.Pod) (string, bool) {
	if p.Status.Phase == corev1.PodFailed {
		msg := p.Status.Message
		if msg == "" {
			msg = p.Status.Reason
		}
		return fmt.Sprintf("pod %s failed: %s", p.Name, msg), true
	}
	for _, cs := range p.Status.ContainerStatuses {
		if w := cs.State.Waiting; w != nil && failingWaitingReasons[w.Reason] {
			return fmt.Sprintf("pod %s: container %s: %s: %s", p.Name, cs.Name, w.Reason, w.Message), true
		}
	}
	return "", false
}

func podUnschedulable(p *corev1.Pod) (string, bool) {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == corev1.PodReasonUnschedulable {
			return fmt.Sprintf("pod %s cannot be scheduled: %s", p.Name, c.Message), true
		}
	}
	return "", false
}

// phaseOf is the phase of a running or hibernated session whose workload is
// in sync, from its pods.
func phaseOf(s *streamv1alpha1.Session, pods podView) (phase streamv1alpha1.SessionPhase, reason, message, podName string) {
	if pods.pod != nil {
		podName = pods.pod.Name
	}
	if s.Spec.State == streamv1alpha1.SessionStateHibernated {
		if pods.anyPods {
			// Still shutting down: keep showing what it was until the pod is gone.
			phase = s.Status.Phase
			if phase == "" || phase == streamv1alpha1.SessionPhaseHibernated || phase == streamv1alpha1.SessionPhaseFailed {
				phase = streamv1alpha1.SessionPhasePending
			}
			return phase, stream.SessionReasonHibernating, "scaling to zero; waiting for the session's pod to stop", podName
		}
		return streamv1alpha1.SessionPhaseHibernated, stream.SessionReasonHibernated, "scaled to zero; connect to start it again", ""
	}
	if pods.pod == nil {
		return streamv1alpha1.SessionPhasePending, stream.SessionReasonStarting, "waiting for the session's pod to be created", ""
	}
	if msg, failing := podProblem(pods.pod); failing {
		return streamv1alpha1.SessionPhaseFailed, stream.SessionReasonPodFailing, msg, podName
	}
	if podReady(pods.pod) {
		return streamv1alpha1.SessionPhaseRunning, stream.SessionReasonPodReady, fmt.Sprintf("pod %s is ready", podName), podName
	}
	if msg, ok := podUnschedulable(pods.pod); ok {
		return streamv1alpha1.SessionPhasePending, stream.SessionReasonUnschedulable, msg, podName
	}
	return streamv1alpha1.SessionPhasePending, stream.SessionReasonStarting, fmt.Sprintf("waiting for pod %s to be ready", podName), podName
}

// setCondition sets a condition, keeping its transition time when its
// status does not change.
func setCondition(st *streamv1alpha1.SessionStatus, generation int64, now time.Time, typ string, ok bool, reason, message string) {
	status := metav1.ConditionFalse
	if ok {
		status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: typ, Status: status, Reason: reason, Message: truncate(message, 1024),
		ObservedGeneration: generation, LastTransitionTime: metav1.NewTime(now),
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}
