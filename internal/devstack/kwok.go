package devstack

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// KwokPodLog is the file kwok serves as the log of every container of
// every pod (follow included), in the CRI log format the kubelet reads
// (KwokLogLine): append to it and a log stream shows it.
func (s *Stack) KwokPodLog() string { return filepath.Join(s.paths.Kwok, "pod.log") }

// KwokLogLine is text as one line of KwokPodLog, written at t on stdout.
func KwokLogLine(t time.Time, text string) string {
	return t.UTC().Format(time.RFC3339Nano) + " stdout F " + text + "\n"
}

// writeKwokDebugging writes kwok's exec and logs configuration: a pod's
// exec runs the command on this machine, in the kwok directory, as the
// user running the stack (kwok's ClusterExec with a local target; a TTY is
// a pseudo-terminal that follows resizes), and every container's log is
// KwokPodLog (ClusterLogs). So terminals and log feeds can be used, and
// tested for content, on fake nodes. It is a local dev stack's convenience:
// whoever may exec into a pod here may run commands on this machine.
func (s *Stack) writeKwokDebugging() (string, error) {
	if err := os.MkdirAll(s.paths.Kwok, 0o755); err != nil {
		return "", err
	}
	if _, err := os.Stat(s.KwokPodLog()); os.IsNotExist(err) {
		first := KwokLogLine(time.Now(), "streamspace dev stack: every pod's log (kwok ClusterLogs, "+s.KwokPodLog()+")")
		if err := os.WriteFile(s.KwokPodLog(), []byte(first), 0o644); err != nil {
			return "", err
		}
	}
	config := fmt.Sprintf(`apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterExec
metadata:
  name: local-terminal
spec:
  execs:
  - local:
      workDir: %q
---
apiVersion: kwok.x-k8s.io/v1alpha1
kind: ClusterLogs
metadata:
  name: pod-log
spec:
  logs:
  - logsFile: %q
    follow: true
`, s.paths.Kwok, s.KwokPodLog())
	path := filepath.Join(s.paths.Kwok, "debugging.yaml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		return "", err
	}
	return path, nil
}
