// Package kubectl runs the version-matched kubectl of a dev stack.
package kubectl

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Runner runs kubectl at Path with its discovery cache in CacheDir.
type Runner struct {
	Path     string
	CacheDir string
	Logf     func(format string, args ...any)
}

// Command is kubectl args acting with kubeconfig.
func (r Runner) Command(ctx context.Context, kubeconfig string, args ...string) *exec.Cmd {
	args = append([]string{"--kubeconfig=" + kubeconfig, "--cache-dir=" + r.CacheDir}, args...)
	return exec.CommandContext(ctx, r.Path, args...)
}

// applyRetry spaces the attempts of Apply: ten, a second apart.
var applyRetry = wait.Backoff{Duration: time.Second, Factor: 1, Steps: 10}

// Apply runs `kubectl apply args` with kubeconfig, retrying while the API
// is still settling (e.g. a new group not yet in discovery).
func (r Runner) Apply(ctx context.Context, kubeconfig string, args ...string) error {
	var out []byte
	var err error
	attempts := wait.ExponentialBackoffWithContext(ctx, applyRetry, func(ctx context.Context) (bool, error) {
		out, err = r.Command(ctx, kubeconfig, append([]string{"apply"}, args...)...).CombinedOutput()
		return err == nil, nil
	})
	if err == nil {
		err = attempts // ctx ended before the first attempt
	}
	if err != nil {
		return fmt.Errorf("kubectl apply %s: %w\n%s", strings.Join(args, " "), err, indent(out))
	}
	r.Logf("kubectl apply %s:\n%s", strings.Join(args, " "), indent(out))
	return nil
}

// indent indents kubectl's output under the line that reports it.
func indent(out []byte) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(string(out), "\n"), "\n", "\n    ")
}
