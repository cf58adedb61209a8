// Command bench-audit measures what the audit trail in Postgres costs
// Session creates: on one local control plane, the streamspace-apiserver
// behind the aggregator is restarted before every round either with its
// defaults (the Postgres audit backend behind the library's buffered
// backend, the built-in policy, which records a create at Request level)
// or with --audit-postgres=false, alternating on, off, off, on, ...; each
// round creates Sessions from concurrent client-go clients through
// kube-apiserver in a fresh namespace, checks that audit_log holds one row
// per create and reads the replica's audit metrics. It writes every round
// into docs/benchmarks.md (make bench-audit).
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/internal/benchdoc"
	"github.com/streamspace/controlplane/internal/benchstack"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

type options struct {
	out            string
	dir            string
	rounds         int
	objects        int
	warmup         int
	clients        int
	cpuProfiles    string
	profileSeconds int
	keep           bool
	timeout        time.Duration
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "markdown file whose `make bench-audit` section is (re)written")
	fs.StringVar(&o.dir, "dir", "", "state directory of the control plane (default: a new temporary directory, removed afterwards)")
	fs.IntVar(&o.rounds, "rounds", 5, "rounds per side; the sides alternate on, off, off, on, on, off, ...")
	fs.IntVar(&o.objects, "objects", 2000, "timed Session creates per round")
	fs.IntVar(&o.warmup, "warmup", 100, "untimed creates per round after the restart, before the timed ones")
	fs.IntVar(&o.clients, "clients", 16, "concurrent clients")
	fs.StringVar(&o.cpuProfiles, "cpu-profiles", "", "directory for a CPU and an allocation profile of streamspace-apiserver during the timed creates of every round, both sides (default: none taken)")
	fs.IntVar(&o.profileSeconds, "profile-seconds", 5, "length of each profile, from the start of the timed creates")
	fs.BoolVar(&o.keep, "keep", false, "leave the control plane running (and its directory) at the end")
	fs.DurationVar(&o.timeout, "timeout", 30*time.Minute, "bound of the whole run")
}

func main() {
	var o options
	o.addFlags(flag.CommandLine)
	klog.InitFlags(nil)
	flag.Parse()
	if o.rounds < 2 || o.objects <= 0 || o.warmup <= 0 || o.clients <= 0 || o.profileSeconds <= 0 || o.out == "" {
		fmt.Fprintln(os.Stderr, "bench-audit: --rounds must be at least 2, --objects, --warmup, --clients and --profile-seconds positive, --out set")
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintf(os.Stderr, "bench-audit: %v\n", err)
		os.Exit(1)
	}
}

// sides returns the order of the rounds: on, off, off, on, repeated, so
// that neither side always runs first or after the other, n rounds each.
func sides(n int) []bool {
	pattern := []bool{true, false, false, true}
	var out []bool
	for i := 0; i < 2*n; i++ {
		out = append(out, pattern[i%len(pattern)])
	}
	return out
}

func run(o options) error {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	began := time.Now()
	// Read before the stack starts: the load other work puts on the machine.
	machine := benchdoc.Machine()
	if o.cpuProfiles != "" {
		if err := os.MkdirAll(o.cpuProfiles, 0o755); err != nil {
			return err
		}
	}
	stack, admin, stop, err := benchstack.Start(ctx, "bench-audit", o.dir, o.keep)
	defer stop()
	if err != nil {
		return err
	}
	kube, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return err
	}
	// Through kube-apiserver's aggregator, as a user's client-go, in JSON
	// (what a custom resource would be sent and answered in; the generated
	// clientset would otherwise prefer protobuf).
	jsonConfig := rest.CopyConfig(admin)
	jsonConfig.ContentType = runtime.ContentTypeJSON
	streams, err := clientset.NewForConfig(jsonConfig)
	if err != nil {
		return err
	}
	// The replica itself, for its /metrics and /debug/pprof.
	replica, err := rest.HTTPClientFor(benchstack.DirectConfig(stack, admin))
	if err != nil {
		return err
	}
	db, err := pgx.Connect(ctx, stack.PostgresDSN)
	if err != nil {
		return err
	}
	defer db.Close(ctx)

	b := &bench{o: o, stack: stack, kube: kube, streams: streams, replica: replica, replicaURL: stack.StreamspaceURL, db: db}
	var results []roundResult
	for i, audit := range sides(o.rounds) {
		r, err := b.round(ctx, i+1, audit)
		if err != nil {
			return fmt.Errorf("round %d (audit %s): %w", i+1, onOff(audit), err)
		}
		results = append(results, r)
		fmt.Fprintf(os.Stderr, "bench-audit: round %d audit %s (load %s): %.0f creates/s, p50 %s, p99 %s, server %.2f ms/create, postgres %.2f ms/create, kube %.2f ms/create, server RSS %d MiB (peak %d MiB), audit_log %d rows for %d creates, audit events %.0f, dropped %.0f, audit errors %.0f\n",
			r.round, onOff(r.audit), r.load1, r.rate(), ms(r.p50), ms(r.p99), r.serverCPUPerCreate(), r.postgresCPUPerCreate(), r.kubeCPUPerCreate(),
			r.rss>>20, r.peakRSS>>20, r.rows, r.creates, r.metrics.events, r.metrics.dropped, r.metrics.auditErrors)
	}
	rep := report{options: o, machine: machine, loadAtEnd: benchdoc.LoadAverage(), began: began, finished: time.Now(), rounds: results}
	if err := rep.write(o.out); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "bench-audit: wrote %s in %s\n", o.out, time.Since(began).Round(time.Second))
	return nil
}

func onOff(audit bool) string {
	if audit {
		return "on"
	}
	return "off"
}
