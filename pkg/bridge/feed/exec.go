package feed

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/util/exec"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
)

// The terminal's channels: the first byte of every binary message, as in
// Kubernetes' own exec protocol (v5.channel.k8s.io), so a client written
// for kube-apiserver's WebSocket exec reads this one the same way.
const (
	execStdin  byte = 0 // client → bridge: input
	execStdout byte = 1 // bridge → client: output (with a TTY, stderr too)
	execStderr byte = 2 // bridge → client: error output (without a TTY)
	execStatus byte = 3 // bridge → client: how the command ended, a metav1.Status in JSON
	execResize byte = 4 // client → bridge: {"Width": columns, "Height": rows}
)

// defaultShell is run when the request names no command.
var defaultShell = []string{"/bin/sh"}

// Exec: WS /api/v1/ws/exec/{namespace}/{pod}[?container=&command=…&tty=false].
// An interactive terminal in a session's pod, run as the caller: the bridge
// opens the pod's exec stream in kube-apiserver with the caller's own
// credentials, so RBAC decides (create on pods/exec), and the owner rule
// holds on top (authorizePod): only the session's user, or someone with
// the assign verb on sessions there. Both are checked before the upgrade,
// so a refusal is an HTTP error. The command is /bin/sh unless command
// parameters name one (each one an argument, as kubectl exec's); tty is on
// unless tty=false. Messages are binary, their first byte the channel
// (execStdin … execResize above); the stream ends with an execStatus
// message and a close frame.
func (s *Server) Exec(w http.ResponseWriter, r *http.Request) {
	if !requireHandshake(w, r) {
		return
	}
	names, ok := httpjson.ObjectNames(w, r, "namespace", "pod")
	if !ok {
		return
	}
	ns, pod := names[0], names[1]
	query := r.URL.Query()
	command := query["command"]
	if len(command) == 0 {
		command = defaultShell
	}
	tty := query.Get("tty") != "false"
	container := query.Get("container")
	what := fmt.Sprintf("open a terminal in pod %s/%s", ns, pod)
	c := identity.FromRequest(r)
	if err := authorizeExec(r.Context(), c, ns, pod); err != nil {
		httpjson.APIError(w, r, what, err)
		return
	}
	req := c.Kube().CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name(pod).SubResource("exec").
		VersionedParams(&corev1.PodExecOptions{
			Container: container, Command: command, Stdin: true, Stdout: true, Stderr: !tty, TTY: tty,
		}, scheme.ParameterCodec)
	executor, err := newExecutor(c, req.URL())
	if err != nil {
		httpjson.APIError(w, r, what, err)
		return
	}

	stdin, stdinWriter := io.Pipe()
	sizes := newSizeQueue()
	client, err := s.upgradeInteractive(w, r, "exec", func(kind int, data []byte) {
		if kind != websocket.BinaryMessage || len(data) == 0 {
			return
		}
		switch data[0] {
		case execStdin:
			_, _ = stdinWriter.Write(data[1:])
		case execResize:
			var size remotecommand.TerminalSize
			if json.Unmarshal(data[1:], &size) == nil && size.Width > 0 && size.Height > 0 {
				sizes.push(size)
			}
		}
	})
	if err != nil {
		return
	}
	// The stream outlives the handshake request; it ends with the client.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-client.done
		cancel()
		_ = stdinWriter.Close()
		sizes.stop()
	}()
	opts := remotecommand.StreamOptions{
		Stdin:  stdin,
		Stdout: channelWriter{client: client, channel: execStdout},
		Tty:    tty,
	}
	if tty {
		opts.TerminalSizeQueue = sizes
	} else {
		opts.Stderr = channelWriter{client: client, channel: execStderr}
	}
	err = executor.StreamWithContext(ctx, opts)
	// The command has ended: input still arriving is refused (the reader
	// is not blocked on a pipe no one reads), and the executor's wait for
	// the next terminal size ends.
	_ = stdin.Close()
	sizes.stop()
	if ctx.Err() != nil {
		<-client.done // the client left first
		return
	}
	client.send(outgoing{kind: websocket.BinaryMessage, data: append([]byte{execStatus}, execResult(err)...)})
	if err != nil && !isExit(err) {
		klog.FromContext(r.Context()).V(2).Info("exec stream failed", "pod", klog.KRef(ns, pod), "err", err)
	}
	client.close(websocket.CloseNormalClosure, "command ended")
	<-client.done
}

// authorizeExec checks, as the caller, that RBAC allows pods/exec on the
// pod (kube-apiserver would refuse the stream too, but only after the
// upgrade) and the owner rule.
func authorizeExec(ctx context.Context, c *identity.Caller, namespace, pod string) error {
	decision, reason, err := identity.SelfAuthorizer(c.Kube()).Authorize(ctx, authorizer.AttributesRecord{
		User: c.UserInfo(), Verb: "create", Namespace: namespace, Resource: "pods", Subresource: "exec", Name: pod,
		ResourceRequest: true,
	})
	if err != nil {
		return err
	}
	if decision != authorizer.DecisionAllow {
		msg := fmt.Sprintf("%s may not create pods/exec in namespace %q", c.Username(), namespace)
		if reason != "" {
			msg += ": " + reason
		}
		return apierrors.NewForbidden(corev1.Resource("pods/exec"), pod, errors.New(msg))
	}
	return authorizePod(ctx, c.Kube(), c.Stream(), c.UserInfo(), namespace, pod, podExec)
}

// newExecutor speaks WebSocket to kube-apiserver and falls back to SPDY
// where the WebSocket upgrade is refused, as kubectl exec does.
func newExecutor(c *identity.Caller, u *url.URL) (remotecommand.Executor, error) {
	config := c.Config()
	ws, err := remotecommand.NewWebSocketExecutor(config, http.MethodGet, u.String())
	if err != nil {
		return nil, err
	}
	spdy, err := remotecommand.NewSPDYExecutor(config, http.MethodPost, u)
	if err != nil {
		return nil, err
	}
	return remotecommand.NewFallbackExecutor(ws, spdy, func(err error) bool {
		return httpstream.IsUpgradeFailure(err) || httpstream.IsHTTPSProxyError(err)
	})
}

// execResult is the execStatus message: Success, or Failure with the exit
// code (reason NonZeroExitCode, as kube-apiserver reports it) or the error.
func execResult(err error) []byte {
	status := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess}
	var exit exec.CodeExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		status.Status = metav1.StatusFailure
		status.Reason = "NonZeroExitCode"
		status.Message = err.Error()
		status.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{Type: "ExitCode", Message: fmt.Sprint(exit.Code)}}}
	default:
		status.Status = metav1.StatusFailure
		status.Message = err.Error()
	}
	data, _ := json.Marshal(status)
	return data
}

func isExit(err error) bool {
	var exit exec.CodeExitError
	return errors.As(err, &exit)
}

// channelWriter sends what the command writes as messages of one channel.
type channelWriter struct {
	client  *wsClient
	channel byte
}

func (w channelWriter) Write(p []byte) (int, error) {
	if !w.client.send(outgoing{kind: websocket.BinaryMessage, data: append([]byte{w.channel}, p...)}) {
		return 0, io.ErrClosedPipe
	}
	return len(p), nil
}

// sizeQueue hands the terminal's sizes to the executor: the latest one
// wins, and Next answers nil once the client is gone.
type sizeQueue struct {
	mu      sync.Mutex
	latest  *remotecommand.TerminalSize
	ready   chan struct{} // has a value when latest is new
	stopped chan struct{}
	once    sync.Once
}

func newSizeQueue() *sizeQueue {
	return &sizeQueue{ready: make(chan struct{}, 1), stopped: make(chan struct{})}
}

func (q *sizeQueue) push(size remotecommand.TerminalSize) {
	q.mu.Lock()
	q.latest = &size
	q.mu.Unlock()
	select {
	case q.ready <- struct{}{}:
	default:
	}
}

func (q *sizeQueue) stop() { q.once.Do(func() { close(q.stopped) }) }

// Next implements remotecommand.TerminalSizeQueue.
func (q *sizeQueue) Next() *remotecommand.TerminalSize {
	select {
	case <-q.ready:
		q.mu.Lock()
		defer q.mu.Unlock()
		return q.latest
	case <-q.stopped:
		return nil
	}
}
