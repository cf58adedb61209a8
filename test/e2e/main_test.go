// Package e2e tests StreamSpace the way its users meet it: a real Postgres,
// etcd, kube-apiserver with its aggregator, kube-controller-manager,
// kube-scheduler and kwok, streamspace-apiserver behind an APIService, and
// the version-matched kubectl and client-go against it.
package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/streamspace/controlplane/internal/devstack"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
)

// stack is shared by every test of the package: starting it takes seconds,
// and each test works in names of its own.
var stack *devstack.Stack

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "streamspace-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	start := time.Now()
	stack, err = devstack.Start(ctx, devstack.Config{Dir: dir, Log: os.Stderr, ControllerArgs: controllerTestArgs, StreamspaceArgs: streamspaceTestArgs})
	if err != nil {
		fmt.Fprintf(os.Stderr, "start the local control plane: %v\n", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "control plane ready in %s\n", time.Since(start).Round(time.Millisecond))
	adminCfg, err := stack.RESTConfig("admin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	secrets := startSecretCollector(kubernetes.NewForConfigOrDie(adminCfg))
	handedOut = secrets
	code := m.Run()
	// After every test: no credential they used appears in a log, an
	// Event, an object of our API or a table.
	leakCtx, leakCancel := context.WithTimeout(context.Background(), 2*time.Minute)
	leaks, err := secrets.findLeaks(leakCtx)
	leakCancel()
	switch {
	case err != nil:
		fmt.Fprintf(os.Stderr, "FAIL: look for leaked credentials: %v\n", err)
		code = 1
	case len(leaks) > 0:
		fmt.Fprintf(os.Stderr, "FAIL: %d credentials leaked:\n  %s\n", len(leaks), strings.Join(leaks, "\n  "))
		code = 1
	default:
		fmt.Fprintln(os.Stderr, "no credential used by the tests appears in any log, Event, object or table")
	}
	if code != 0 {
		dumpLog("streamspace-apiserver")
		dumpLog("streamspace-controller")
	}
	if err := stack.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "stop the local control plane: %v\n", err)
		return 1
	}
	return code
}

func dumpLog(component string) {
	data, err := os.ReadFile(stack.LogFile(component))
	if err != nil {
		return
	}
	lines := strings.Split(string(data), "\n")
	if len(lines) > 80 {
		lines = lines[len(lines)-80:]
	}
	fmt.Fprintf(os.Stderr, "--- last lines of %s ---\n%s\n", component, strings.Join(lines, "\n"))
}

// kubectl runs the version-matched kubectl as user ("admin", "alice", "bob")
// and returns stdout; the error carries stderr.
func kubectl(t testing.TB, user string, stdin string, args ...string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := stack.Kubectl(ctx, user, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	err := cmd.Run()
	var exitErr *exec.ExitError
	if errors.As(err, &exitErr) {
		err = fmt.Errorf("kubectl %s (as %s): %s", strings.Join(args, " "), user, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), err
}

// mustKubectl is kubectl that fails the test on error.
func mustKubectl(t testing.TB, user string, stdin string, args ...string) string {
	t.Helper()
	out, err := kubectl(t, user, stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// clients returns the typed StreamSpace clientset and the core clientset of a user.
func clients(t testing.TB, user string) (clientset.Interface, kubernetes.Interface) {
	t.Helper()
	cfg, err := stack.RESTConfig(user)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return ss, kube
}

// stackDatabase connects to the stack's Postgres as its owner, for reading
// (or, to stage a fault, writing) the tables behind the API; the connection
// closes with the test.
func stackDatabase(t testing.TB) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), stack.PostgresDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// eventually polls cond until it returns true or the timeout passes.
func eventually(t testing.TB, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	var lastErr error
	err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		ok, err := cond()
		lastErr = err
		return ok, nil
	})
	if err == nil {
		return
	}
	t.Fatalf("timed out after %s waiting for %s (last error: %v)", timeout, what, lastErr)
}
