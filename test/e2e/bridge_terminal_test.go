package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/internal/devstack"
)

// sessionPod creates a Session of user in their namespace and returns the
// name of its pod, listed as that user.
func sessionPod(t *testing.T, user, prefix string) string {
	t.Helper()
	_, kube := clients(t, user)
	name := uniqueName(prefix)
	mustKubectl(t, user, sessionYAML(name, "firefox"), "create", "-n", user, "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, user, "", "-n", user, "delete", "session", name, "--ignore-not-found", "--wait=false")
	})
	var pod string
	eventually(t, 2*time.Minute, "the session's pod, listed as "+user, func() (bool, error) {
		pods, err := kube.CoreV1().Pods(user).List(context.Background(), metav1.ListOptions{LabelSelector: "stream.space/session=" + name})
		if err != nil || len(pods.Items) == 0 {
			return false, err
		}
		pod = pods.Items[0].Name
		return pods.Items[0].Status.Phase == "Running", nil
	})
	return pod
}

// terminal is what one exec feed said: its output by channel and how the
// command ended.
type terminal struct {
	stdout, stderr strings.Builder
	status         metav1.Status
}

// runTerminal reads an exec feed until the bridge closes it, after sending
// input (channel-prefixed messages) once the feed is open.
func runTerminal(t *testing.T, f *feed, input ...[]byte) terminal {
	t.Helper()
	for _, m := range input {
		if err := f.conn.WriteMessage(websocket.BinaryMessage, m); err != nil {
			t.Fatalf("send to the terminal: %v", err)
		}
	}
	var out terminal
	deadline := time.After(time.Minute)
	for {
		select {
		case m, ok := <-f.messages:
			if !ok {
				if out.status.Status == "" {
					t.Fatalf("the terminal closed without a status (%v); output %q", <-f.closed, out.stdout.String())
				}
				return out
			}
			if len(m.raw) == 0 {
				continue
			}
			switch m.raw[0] {
			case 1:
				out.stdout.WriteString(m.raw[1:])
			case 2:
				out.stderr.WriteString(m.raw[1:])
			case 3:
				if err := json.Unmarshal([]byte(m.raw[1:]), &out.status); err != nil {
					t.Fatalf("status message %q: %v", m.raw[1:], err)
				}
			default:
				t.Errorf("message on unknown channel %d: %q", m.raw[0], m.raw)
			}
		case <-deadline:
			t.Fatalf("the terminal did not end within a minute; output so far %q", out.stdout.String())
		}
	}
}

func execPath(pod string, command []string, tty bool) string {
	q := url.Values{}
	for _, c := range command {
		q.Add("command", c)
	}
	if !tty {
		q.Set("tty", "false")
	}
	return "/api/v1/ws/exec/alice/" + pod + "?" + q.Encode()
}

// A terminal in a session's pod through the bridge: opened as the caller
// (RBAC's pods/exec and the owner rule decide before the upgrade), the
// command's output and exit status come back on their channels, input
// goes in, and a resize reaches the pseudo-terminal. kwok's ClusterExec
// runs the command on this machine, so what is asserted is what ran.
func TestBridgeTerminal(t *testing.T) {
	pod := sessionPod(t, "alice", "term")

	// bob has neither pods/exec in alice's namespace nor her session.
	_, resp, err := dialFeed(t, "bob", execPath(pod, []string{"true"}, false))
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob opening a terminal in alice/%s: %v %s, want 403", pod, err, responseBody(resp))
	} else if body := responseBody(resp); !strings.Contains(body, "pods/exec") {
		t.Errorf("bob: 403 without the reason: %s", body)
	}

	// A command without a TTY: stdout and stderr apart, exit status 0.
	f := mustDialFeed(t, "alice", execPath(pod, []string{"sh", "-c", "echo out-$((6*7)); echo err-7 >&2"}, false))
	out := runTerminal(t, f)
	if got := out.stdout.String(); got != "out-42\n" {
		t.Errorf("stdout %q, want %q", got, "out-42\n")
	}
	if got := out.stderr.String(); got != "err-7\n" {
		t.Errorf("stderr %q, want %q", got, "err-7\n")
	}
	if out.status.Status != metav1.StatusSuccess {
		t.Errorf("status %+v, want Success", out.status)
	}

	// A failing command fails the status. A kubelet reports the exit code
	// (reason NonZeroExitCode, the code as a cause: TestExecResult);
	// kwok reports it as an error whose text names it.
	f = mustDialFeed(t, "alice", execPath(pod, []string{"sh", "-c", "exit 3"}, false))
	out = runTerminal(t, f)
	if out.status.Status != metav1.StatusFailure || !strings.Contains(out.status.Message, "exit status 3") {
		t.Errorf("status of exit 3: %+v", out.status)
	}

	// The interactive shell (the default command) with a TTY: a resize,
	// then input; the shell answers the size it was given.
	f = mustDialFeed(t, "alice", "/api/v1/ws/exec/alice/"+pod)
	resize, _ := json.Marshal(map[string]int{"Width": 123, "Height": 45})
	out = runTerminal(t, f,
		append([]byte{4}, resize...),
		append([]byte{0}, []byte("sleep 1; stty size; exit 0\n")...),
	)
	if !strings.Contains(out.stdout.String(), "45 123") {
		t.Errorf("the shell's output %q does not show the size 45 rows × 123 columns", out.stdout.String())
	}
	if out.status.Status != metav1.StatusSuccess {
		t.Errorf("status of the shell: %+v, want Success", out.status)
	}
}

// Pod logs are read as the caller, and the core API decides: bob may not
// read the log of a pod in alice's namespace (403 from RBAC: the bridge
// reads the pod as bob before its log, for the owner rule); alice gets her
// session's pod's log, and a line written to it arrives on the feed (kwok
// serves every pod's log from one file, followed).
func TestBridgeLogsFeedAsksTheCoreAPI(t *testing.T) {
	pod := sessionPod(t, "alice", "logs")

	_, resp, err := dialFeed(t, "bob", "/api/v1/ws/logs/alice/"+pod)
	if err == nil || resp == nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("bob reading the log of alice/%s: %v %s, want 403", pod, err, responseBody(resp))
	} else if body := responseBody(resp); !strings.Contains(body, `cannot get resource \"pods`) {
		t.Errorf("bob: 403 without the reason: %s", body)
	}

	f := mustDialFeed(t, "alice", "/api/v1/ws/logs/alice/"+pod)
	line := fmt.Sprintf("log line %s", uniqueName("mark"))
	// The feed opens once the log stream has started, which kwok starts
	// from the file as it is (the last 100 lines), then follows it.
	log, err := os.OpenFile(stack.KwokPodLog(), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	if _, err := log.WriteString(devstack.KwokLogLine(time.Now(), line)); err != nil {
		t.Fatal(err)
	}
	m, _ := f.next(t, 30*time.Second, "the written log line", func(m feedMessage) bool { return strings.Contains(m.raw, line) })
	// Timestamps are on (as kubectl logs --timestamps): "<RFC3339> <line>".
	if ts, rest, ok := strings.Cut(m.raw, " "); !ok || rest != line {
		t.Errorf("log message %q, want %q after a timestamp", m.raw, line)
	} else if _, err := time.Parse(time.RFC3339Nano, ts); err != nil {
		t.Errorf("log message %q: timestamp: %v", m.raw, err)
	}
}
