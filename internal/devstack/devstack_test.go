package devstack

import (
	"bytes"
	"context"
	"os"
	"syscall"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// TestStartStop runs the real stack without streamspace-apiserver; it needs
// the binaries of `make tools` ($STREAMSPACE_TOOLS_DIR).
func TestStartStop(t *testing.T) {
	tools := os.Getenv("STREAMSPACE_TOOLS_DIR")
	if tools == "" {
		t.Fatal("STREAMSPACE_TOOLS_DIR is not set: run make test-unit, which builds the tools and sets it")
	}
	dir := t.TempDir()
	var log bytes.Buffer
	cfg := Config{Dir: dir, ToolsDir: tools, WithoutStreamspace: true, Log: &log, Timeout: 2 * time.Minute}
	for round := 1; round <= 2; round++ { // the second round reuses the state
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		stack, err := Start(ctx, cfg)
		cancel()
		if err != nil {
			t.Fatalf("round %d: %v\n%s", round, err, log.String())
		}
		if _, err := Start(context.Background(), cfg); err == nil {
			t.Fatal("a second stack started in the same directory")
		}
		restConfig, err := stack.RESTConfig("alice")
		if err != nil {
			t.Fatal(err)
		}
		client := kubernetes.NewForConfigOrDie(restConfig)
		review, err := client.AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got := review.Status.UserInfo.Username; got != "alice" {
			t.Fatalf("alice's token authenticates as %q", got)
		}
		if round == 1 {
			// A component that dies on its own is reported.
			_ = syscall.Kill(stack.procs.Get("kwok").Pid(), syscall.SIGKILL)
			select {
			case err := <-stack.Failed():
				t.Logf("reported as expected: %.60s…", err)
			case <-time.After(10 * time.Second):
				t.Fatal("kwok's death was not reported on Failed()")
			}
		}
		if err := stack.Stop(); err != nil {
			t.Fatal(err)
		}
		if left := Leftovers(dir); len(left) > 0 {
			t.Fatalf("round %d left processes behind: %v", round, left)
		}
	}
}
