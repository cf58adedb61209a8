// Command bench-wire measures what a LIST of many Sessions costs in JSON and
// in protobuf through kube-apiserver's aggregator: bytes on the wire, wall
// time, the CPU of streamspace-apiserver and of kube-apiserver, and the
// client's CPU to decode the answer. It starts the local control plane,
// fills one namespace, lists in both formats in alternating rounds and
// writes every round into docs/benchmarks.md (make bench-wire).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/streamspace/controlplane/internal/benchstack"

	"github.com/streamspace/controlplane/internal/benchdoc"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

const benchNamespace = "bench-wire"

type options struct {
	out       string
	dir       string
	objects   int
	rounds    int
	lists     int
	clients   int
	keepStack bool
	timeout   time.Duration
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "markdown file whose `make bench-wire` section is (re)written")
	fs.StringVar(&o.dir, "dir", "", "state directory of the control plane (default: a new temporary directory, removed afterwards)")
	fs.IntVar(&o.objects, "objects", 10000, "Sessions in the listed namespace")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds; each lists in every format and encoding, the order alternating between rounds")
	fs.IntVar(&o.lists, "lists", 3, "LISTs per format and encoding in a round")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients of the fill")
	fs.BoolVar(&o.keepStack, "keep", false, "leave the control plane running (and its directory) at the end")
	fs.DurationVar(&o.timeout, "timeout", 20*time.Minute, "bound of the whole run")
}

func main() {
	var o options
	o.addFlags(flag.CommandLine)
	klog.InitFlags(nil)
	flag.Parse()
	if o.objects <= 0 || o.rounds <= 0 || o.lists <= 0 || o.clients <= 0 || o.out == "" {
		fmt.Fprintln(os.Stderr, "--objects, --rounds, --lists and --clients must be positive, --out set")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "bench-wire: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	began := time.Now()
	stack, cfg, stop, err := benchstack.Start(ctx, "bench-wire", o.dir, o.keepStack)
	defer stop()
	if err != nil {
		return err
	}
	if err := fill(ctx, cfg, o); err != nil {
		return err
	}
	servers := map[string]int{}
	for _, name := range []string{"streamspace-apiserver", "kube-apiserver"} {
		if servers[name], err = stack.PID(name); err != nil {
			return err
		}
	}
	rounds, err := measure(ctx, cfg, o, servers)
	if err != nil {
		return err
	}
	r := report{options: o, machine: benchdoc.Machine(), began: began, finished: time.Now(), rounds: rounds}
	if err := r.write(o.out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench-wire: wrote %s in %s\n", o.out, time.Since(began).Round(time.Second))
	return nil
}

// fill creates the namespace and its Sessions, each with a status as the
// controller writes it for a running session, so that a LIST carries what
// it carries in a cluster.
func fill(ctx context.Context, cfg *rest.Config, o options) error {
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if _, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: benchNamespace, Labels: map[string]string{stream.SessionsNamespaceLabel: stream.SessionsNamespaceEnabled}}}, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", benchNamespace, err)
	}
	ss, err := clientset.NewForConfig(cfg)
	if err != nil {
		return err
	}
	sessions := ss.StreamV1alpha1().Sessions(benchNamespace)
	start := time.Now()
	err = benchstack.Parallel(0, o.objects, o.clients, func(i int) error {
		created, err := sessions.Create(ctx, newSession(i), metav1.CreateOptions{})
		if err == nil {
			created.Status = runningStatus(created)
			_, err = sessions.UpdateStatus(ctx, created, metav1.UpdateOptions{})
		}
		if err != nil {
			return fmt.Errorf("create session %d: %w", i, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench-wire: %d sessions with status in %s\n", o.objects, time.Since(start).Round(time.Millisecond))
	return nil
}

func newSession(i int) *streamv1alpha1.Session {
	return &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{
			Name:   fmt.Sprintf("session-%06d", i),
			Labels: map[string]string{"app.kubernetes.io/part-of": "bench"},
		},
		Spec: streamv1alpha1.SessionSpec{
			User:     fmt.Sprintf("user-%03d", i%100),
			Template: "firefox",
			Resources: streamv1alpha1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000m"), corev1.ResourceMemory: resource.MustParse("2Gi")},
			},
			Tags: []string{"bench"},
		},
	}
}

func runningStatus(s *streamv1alpha1.Session) streamv1alpha1.SessionStatus {
	now := metav1.Now()
	condition := func(t, reason string) metav1.Condition {
		return metav1.Condition{Type: t, Status: metav1.ConditionTrue, Reason: reason, Message: "bench-wire", LastTransitionTime: now, ObservedGeneration: s.Generation}
	}
	return streamv1alpha1.SessionStatus{
		Phase:              streamv1alpha1.SessionPhaseRunning,
		URL:                fmt.Sprintf("https://%s-%s.sessions.example.org/", s.Name, s.Namespace),
		PodName:            s.Name + "-7d9c8b6f5d-x2x4q",
		ActiveConnections:  1,
		LastActivity:       &now,
		LastConnection:     &now,
		Conditions:         []metav1.Condition{condition("TemplateResolved", "Found"), condition("PVCBound", "Bound"), condition("DeploymentReady", "Available"), condition("Ready", "Running")},
		ObservedGeneration: s.Generation,
	}
}
