package feed

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"github.com/streamspace/controlplane/pkg/ownership"
)

// logTailLines is how much history a logs feed starts with, as before.
const logTailLines = 100

// Logs: WS /api/v1/ws/logs/{namespace}/{pod}[?container=]. The last 100
// lines with timestamps, then follows; one text frame per line. The log is
// read as the caller, so kube-apiserver decides (pods/log), and the owner
// rule holds on top (authorizePod): in a namespace shared by several
// people, RBAC's pods/log covers everyone's pods. A refusal is an HTTP
// error before any upgrade.
func (s *Server) Logs(w http.ResponseWriter, r *http.Request) {
	if !requireHandshake(w, r) {
		return
	}
	names, ok := httpjson.ObjectNames(w, r, "namespace", "pod")
	if !ok {
		return
	}
	ns, pod := names[0], names[1]
	c := identity.FromRequest(r)
	if err := authorizePod(r.Context(), c.Kube(), c.Stream(), c.UserInfo(), ns, pod, podLogs); err != nil {
		httpjson.APIError(w, r, fmt.Sprintf("read the log of pod %s/%s", ns, pod), err)
		return
	}
	tail := int64(logTailLines)
	opts := &corev1.PodLogOptions{Follow: true, Timestamps: true, TailLines: &tail, Container: r.URL.Query().Get("container")}
	// The stream outlives the handshake request; it ends with the client.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stream, err := c.Kube().CoreV1().Pods(ns).GetLogs(pod, opts).Stream(ctx)
	if err != nil {
		httpjson.APIError(w, r, fmt.Sprintf("read the log of pod %s/%s", ns, pod), err)
		return
	}
	defer stream.Close()
	client, err := s.upgrade(w, r, "logs")
	if err != nil {
		return
	}
	go func() {
		<-client.done
		cancel() // unblocks the read below
	}()
	lines := bufio.NewScanner(stream)
	lines.Buffer(make([]byte, 64<<10), 1<<20)
	for lines.Scan() {
		if !client.sendText(lines.Text()) {
			return
		}
	}
	if err := lines.Err(); err != nil && ctx.Err() == nil {
		klog.FromContext(r.Context()).V(2).Info("pod log stream failed", "pod", klog.KRef(ns, pod), "err", err)
		client.close(websocket.CloseInternalServerErr, "log stream failed: "+err.Error())
	} else {
		client.close(websocket.CloseNormalClosure, "log stream ended")
	}
	<-client.done
}

// podAccess is what a caller asks to do with a pod, for authorizePod.
type podAccess struct {
	subresource string // of pods, for the error
	noSession   string // what the caller may not do with a pod of no session
	action      string // for ownership.Authorize: "<action> <session>"
}

var (
	podLogs = podAccess{subresource: "log", noSession: "read its log", action: "read the logs of the pods of"}
	podExec = podAccess{subresource: "exec", noSession: "open a terminal in it", action: "open terminals in the pods of"}
)

// authorizePod applies the owner rule to a pod's log or terminal: the pod
// must belong to a session (the session controller's
// stream.space/session-name annotation, else its stream.space/session
// label) whose spec.user is the caller, unless the caller has the assign
// verb on sessions in the namespace (admins). Pods of no session, and of
// sessions gone, need assign. Everything is read with the caller's clients,
// so RBAC on pods and sessions applies first.
func authorizePod(ctx context.Context, kube kubernetes.Interface, streams clientset.Interface, caller user.Info, namespace, podName string, access podAccess) error {
	pod, err := kube.CoreV1().Pods(namespace).Get(ctx, podName, metav1.GetOptions{})
	if err != nil {
		return err
	}
	authz := identity.SelfAuthorizer(kube)
	sessions := streamv1alpha1.SchemeGroupVersion.WithResource("sessions")
	sessionName := pod.Annotations[stream.SessionNameAnnotation]
	if sessionName == "" {
		sessionName = pod.Labels[stream.SessionLabel]
	}
	owner := ""
	if sessionName != "" {
		session, err := streams.StreamV1alpha1().Sessions(namespace).Get(ctx, sessionName, metav1.GetOptions{})
		switch {
		case err == nil:
			owner = session.Spec.User
		case !apierrors.IsNotFound(err):
			return err
		}
	}
	if owner == "" {
		allowed, reason, err := ownership.MayAssign(ctx, authz, caller, ownership.Object{Resource: sessions, Namespace: namespace})
		if allowed {
			return nil
		}
		msg := fmt.Sprintf("pod %s/%s belongs to no session that exists: %s may not %s through the bridge (that needs the %q verb on %s in namespace %q)",
			namespace, podName, caller.GetName(), access.noSession, stream.AssignVerb, sessions.GroupResource(), namespace)
		if reason != "" {
			msg += ": " + reason
		}
		if err != nil {
			msg += fmt.Sprintf(" (authorizer error: %v)", err)
		}
		return apierrors.NewForbidden(corev1.Resource("pods/"+access.subresource), podName, errors.New(msg))
	}
	return ownership.Authorize(ctx, authz, caller, ownership.Object{
		Resource: sessions, Namespace: namespace, Name: sessionName, Owner: owner,
	}, access.action)
}
