package feed

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strings"

	"github.com/gorilla/websocket"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
)

// logTailLines is how much history a logs feed starts with, as before.
const logTailLines = 100

// Logs: WS /api/v1/ws/logs/{namespace}/{pod}[?container=]. The last 100
// lines with timestamps, then follows; one text frame per line. The log is
// read as the caller, so kube-apiserver decides (pods/log); a refusal is an
// HTTP error before any upgrade.
func (s *Server) Logs(w http.ResponseWriter, r *http.Request) {
	if !requireHandshake(w, r) {
		return
	}
	ns, pod := r.PathValue("namespace"), r.PathValue("pod")
	for _, p := range []struct{ field, value string }{{"namespace", ns}, {"pod", pod}} {
		if errs := validation.IsDNS1123Subdomain(p.value); len(errs) > 0 {
			httpjson.Error(w, http.StatusBadRequest, fmt.Sprintf("%s %q: %s", p.field, p.value, strings.Join(errs, "; ")))
			return
		}
	}
	c := identity.FromRequest(r)
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
