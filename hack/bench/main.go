// Command bench compares the StreamSpace API server (Postgres storage, behind
// kube-apiserver's aggregator) with the same Session resource served as a
// CustomResourceDefinition by kube-apiserver on etcd, in one run on one local
// control plane, and writes the figures into docs/benchmarks.md (make bench).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/streamspace/controlplane/internal/benchstack"

	"github.com/streamspace/controlplane/internal/benchdoc"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/klog/v2"
)

// options are the command's flags.
type options struct {
	out        string
	dir        string
	small      int
	large      int
	users      int
	clients    int
	watchers   int
	updates    int
	rounds     int
	keepStack  bool
	stackLimit time.Duration
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "markdown file whose `make bench` section is (re)written")
	fs.StringVar(&o.dir, "dir", "", "state directory of the control plane (default: a new temporary directory, removed afterwards)")
	fs.IntVar(&o.small, "small", 10000, "object count of the first LIST measurement")
	fs.IntVar(&o.large, "large", 50000, "object count of the second LIST, the selective LIST and the memory measurement")
	fs.IntVar(&o.users, "users", 100, "distinct spec.user values (a selective LIST matches 1/users of the objects)")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients of the concurrent create measurement and of the fills")
	fs.IntVar(&o.watchers, "watchers", 500, "concurrent watchers of the fan-out measurement")
	fs.IntVar(&o.updates, "updates", 300, "updates timed for the update-to-watch-event latency")
	fs.IntVar(&o.rounds, "rounds", 2, "rounds per side, alternating CRD, ours, ours, CRD, … (at least 2)")
	fs.BoolVar(&o.keepStack, "keep", false, "leave the control plane running (and its directory) at the end")
	fs.DurationVar(&o.stackLimit, "timeout", 30*time.Minute, "bound of the whole run")
}

func (o *options) validate() error {
	switch {
	case o.small <= 5000 || o.large < o.small:
		return fmt.Errorf("--small must be over 5000 (the create measurements) and --large at least --small; got %d and %d", o.small, o.large)
	case o.users <= 0 || o.clients <= 0 || o.watchers <= 0 || o.updates <= 0:
		return fmt.Errorf("--users, --clients, --watchers and --updates must be positive")
	case o.rounds < 2:
		return fmt.Errorf("--rounds must be at least 2 (each side's rounds are reported with their spread)")
	case o.out == "":
		return fmt.Errorf("--out is required")
	}
	return nil
}

func main() {
	var o options
	o.addFlags(flag.CommandLine)
	klog.InitFlags(nil)
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		os.Exit(1)
	}
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.stackLimit)
	defer cancel()
	began := time.Now()

	stack, cfg, stop, err := benchstack.Start(ctx, "bench", o.dir, o.keepStack)
	defer stop()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	if err := benchstack.InstallSessionCRD(ctx, cfg); err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}

	report := report{machine: benchdoc.Machine(), began: began}
	kubeAPIServer, err := stack.PID("kube-apiserver")
	if err != nil {
		return err
	}
	ours, err := stack.PID("streamspace-apiserver")
	if err != nil {
		return err
	}
	sides := map[bool]struct {
		name, short, apiVersion string
		gvr                     schema.GroupVersionResource
		pid                     int
	}{
		false: {"CRD (kube-apiserver, etcd)", "crd", crdGroup + "/v1alpha1", crdSessions, kubeAPIServer},
		true:  {"StreamSpace (aggregated, Postgres)", "ours", "stream.space/v1alpha1", ourSessions, ours},
	}
	for i, isOurs := range roundOrder(o.rounds) {
		side := sides[isOurs]
		namespace := fmt.Sprintf("bench-%s-%d", side.short, i+1)
		if err := createNamespace(ctx, kube, namespace); err != nil {
			return err
		}
		t := &target{name: fmt.Sprintf("round %d, %s", i+1, side.name), client: dyn.Resource(side.gvr).Namespace(namespace), apiVersion: side.apiVersion}
		before, err := readMemory(side.pid)
		if err != nil {
			return err
		}
		rd := round{n: i + 1, ours: isOurs, namespace: namespace, began: time.Now(), loadBefore: benchdoc.LoadAverage()}
		if rd.results, err = measure(ctx, o, t, func() (memory, error) {
			after, err := readMemory(side.pid)
			return after.minus(before), err
		}); err != nil {
			return fmt.Errorf("measure %s: %w", t.name, err)
		}
		rd.took, rd.loadAfter = time.Since(rd.began), benchdoc.LoadAverage()
		report.rounds = append(report.rounds, rd)
		logf("%s: done in %s; removing its %d objects", t.name, rd.took.Round(time.Second), o.large)
		if err := removeRound(ctx, kube, t, namespace); err != nil {
			return err
		}
	}
	report.finished = time.Now()
	report.options = o
	if err := report.write(o.out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s in %s\n", o.out, time.Since(began).Round(time.Second))
	return nil
}
