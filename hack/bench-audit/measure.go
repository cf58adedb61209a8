package main

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/streamspace/controlplane/internal/benchstack"
	"github.com/streamspace/controlplane/internal/devstack"
	"github.com/streamspace/controlplane/internal/procstat"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// settle is how long after the last timed create, at least, the CPU
// readings end, on both sides: the audited side's last batch is written up
// to --audit-postgres-batch-max-wait (1 s) after its event.
const settle = 2 * time.Second

type bench struct {
	o          options
	stack      *devstack.Stack
	kube       kubernetes.Interface
	streams    clientset.Interface // through the aggregator
	replica    *http.Client        // streamspace-apiserver directly, as the admin
	replicaURL string
	db         *pgx.Conn
}

// roundResult is what one round measured.
type roundResult struct {
	round     int
	audit     bool
	namespace string
	load1     string // 1-minute load average when the round began
	restart   time.Duration
	objects   int // timed creates
	creates   int // every create of the round (warm-up and timed): the rows audit_log should hold
	elapsed   time.Duration
	p50, p99  time.Duration
	// CPU (user+system) from the first timed create until every row was in
	// audit_log and at least settle after the last create.
	serverCPU, kubeCPU, postgresCPU time.Duration
	// audit_log rows of creates of Sessions in the round's namespace: all,
	// those answered 201, distinct names among those; allIn is how long
	// after the last create the tool first saw every create's row.
	rows, rows201, names int
	allIn                time.Duration
	metrics              auditMetrics
	profile              string
	// Resident memory of streamspace-apiserver at the end of the round:
	// current and peak (VmRSS, VmHWM), the process being the round's.
	rss, peakRSS int64
}

func (r roundResult) rate() float64 { return float64(r.objects) / r.elapsed.Seconds() }

func perCreate(d time.Duration, n int) float64 {
	return float64(d) / float64(time.Millisecond) / float64(n)
}

func (r roundResult) serverCPUPerCreate() float64   { return perCreate(r.serverCPU, r.objects) }
func (r roundResult) kubeCPUPerCreate() float64     { return perCreate(r.kubeCPU, r.objects) }
func (r roundResult) postgresCPUPerCreate() float64 { return perCreate(r.postgresCPU, r.objects) }

// complete says audit_log holds exactly one row per create of the round.
func (r roundResult) complete() bool {
	return r.rows == r.creates && r.rows201 == r.creates && r.names == r.creates
}

// auditMetrics are the replica's audit counters at the end of a round (the
// process started with the round, so they are the round's).
type auditMetrics struct {
	events      float64 // apiserver_audit_event_total: events the pipeline produced
	written     float64 // streamspace_audit_events_written_total
	dropped     float64 // streamspace_audit_events_dropped_total, every reason
	auditErrors float64 // apiserver_audit_error_total, every plugin
}

// round restarts the apiserver behind the aggregator with or without the
// audit trail, warms it up, times the creates, checks audit_log and the
// metrics, and deletes the round's namespace with its Sessions.
func (b *bench) round(ctx context.Context, n int, audit bool) (roundResult, error) {
	o := b.o
	ns := fmt.Sprintf("bench-audit-%02d-%s", n, onOff(audit))
	r := roundResult{round: n, audit: audit, namespace: ns, load1: loadAverage1(), objects: o.objects, creates: o.warmup + o.objects}

	var args []string
	if !audit {
		args = []string{"--audit-postgres=false"}
	}
	start := time.Now()
	if err := b.stack.RestartStreamspaceWithArgs(ctx, args...); err != nil {
		return r, fmt.Errorf("restart streamspace-apiserver %v: %w", args, err)
	}
	r.restart = time.Since(start)
	if _, err := b.kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{stream.SessionsNamespaceLabel: stream.SessionsNamespaceEnabled}}}, metav1.CreateOptions{}); err != nil {
		return r, fmt.Errorf("create namespace %s: %w", ns, err)
	}
	sessions := b.streams.StreamV1alpha1().Sessions(ns)

	// Warm-up: the aggregator's connections to the new process, the
	// replica's authorization cache and database pools. Its first create is
	// retried until the aggregator reaches the new process.
	var lastErr error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		_, lastErr = sessions.Create(ctx, newSession("warmup", 0), metav1.CreateOptions{})
		return lastErr == nil || apierrors.IsAlreadyExists(lastErr), nil
	})
	if err != nil {
		return r, fmt.Errorf("first create through the aggregator: %w (last: %v)", err, lastErr)
	}
	err = benchstack.Parallel(1, o.warmup, o.clients, func(i int) error {
		_, err := sessions.Create(ctx, newSession("warmup", i), metav1.CreateOptions{})
		return err
	})
	if err != nil {
		return r, fmt.Errorf("warm-up: %w", err)
	}
	// The warm-up's audit events are written before the timed creates, so
	// that their batches do not count in the round's CPU.
	if audit {
		if _, err := b.waitRows(ctx, ns, o.warmup); err != nil {
			return r, fmt.Errorf("warm-up creates in audit_log: %w", err)
		}
	}

	pids, err := b.pids(ctx)
	if err != nil {
		return r, err
	}
	before, err := pids.cpu()
	if err != nil {
		return r, err
	}
	profileDone := make(chan error, 2)
	if o.cpuProfiles != "" {
		// A CPU profile and, over the same seconds, the allocations
		// (a delta of the allocs profile).
		r.profile = filepath.Join(o.cpuProfiles, fmt.Sprintf("round-%02d-audit-%s.pprof", n, onOff(audit)))
		allocs := filepath.Join(o.cpuProfiles, fmt.Sprintf("round-%02d-audit-%s.allocs.pprof", n, onOff(audit)))
		go func() { profileDone <- b.profile(ctx, "profile", r.profile, o.profileSeconds) }()
		go func() { profileDone <- b.profile(ctx, "allocs", allocs, o.profileSeconds) }()
	} else {
		profileDone <- nil
		profileDone <- nil
	}

	latencies := make([]time.Duration, o.objects)
	t0 := time.Now()
	err = benchstack.Parallel(0, o.objects, o.clients, func(i int) error {
		s := time.Now()
		_, err := sessions.Create(ctx, newSession("s", i), metav1.CreateOptions{})
		latencies[i] = time.Since(s)
		if err != nil {
			return fmt.Errorf("create %d: %w", i, err)
		}
		return nil
	})
	last := time.Now()
	if err != nil {
		return r, err
	}
	r.elapsed = last.Sub(t0)
	slices.Sort(latencies)
	r.p50, r.p99 = latencies[len(latencies)/2], latencies[len(latencies)*99/100]

	if audit {
		seen, err := b.waitRows(ctx, ns, r.creates)
		r.allIn = seen.Sub(last)
		if err != nil {
			// Reported as measured (fewer rows), not retried.
			fmt.Fprintf(os.Stderr, "bench-audit: round %d: %v\n", n, err)
			r.allIn = -1
		}
	}
	time.Sleep(time.Until(last.Add(settle)))
	for range 2 {
		if err := <-profileDone; err != nil {
			return r, fmt.Errorf("profile: %w", err)
		}
	}
	after, err := pids.cpu()
	if err != nil {
		return r, err
	}
	r.serverCPU, r.kubeCPU, r.postgresCPU = after.server-before.server, after.kube-before.kube, after.postgres-before.postgres
	if r.rss, r.peakRSS, err = procstat.Memory(pids.server); err != nil {
		return r, err
	}
	if r.rows, r.rows201, r.names, err = b.countRows(ctx, ns); err != nil {
		return r, err
	}
	if r.metrics, err = b.auditMetrics(ctx); err != nil {
		return r, err
	}
	if err := b.cleanUp(ctx, ns, sessions, r.creates); err != nil {
		return r, err
	}
	return r, nil
}

// countRows counts audit_log's rows of creates of Sessions in namespace.
func (b *bench) countRows(ctx context.Context, namespace string) (all, ok, names int, err error) {
	err = b.db.QueryRow(ctx, `SELECT count(*), count(*) FILTER (WHERE response_code = 201),
		count(DISTINCT resource_id) FILTER (WHERE response_code = 201)
		FROM audit_log WHERE namespace = $1 AND action = 'create' AND resource_type = 'sessions'`, namespace).Scan(&all, &ok, &names)
	if err != nil {
		err = fmt.Errorf("count audit_log rows of %s: %w", namespace, err)
	}
	return all, ok, names, err
}

// waitRows polls until audit_log holds want successful creates in
// namespace and returns when it first saw them. It gives up after 30 s
// (the write timeout is 5 s, the batch wait 1 s).
func (b *bench) waitRows(ctx context.Context, namespace string, want int) (time.Time, error) {
	var ok int
	err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		_, n, _, err := b.countRows(ctx, namespace)
		ok = n
		return err == nil && n >= want, nil
	})
	seen := time.Now()
	if err != nil {
		return seen, fmt.Errorf("%d of %d creates in audit_log after 30 s: %w", ok, want, err)
	}
	return seen, nil
}

// cleanUp deletes the round's Sessions (16 clients, through the
// aggregator) and its namespace, and waits until the namespace is gone, so
// that nothing of the round is left when the next begins.
func (b *bench) cleanUp(ctx context.Context, ns string, sessions interface {
	Delete(context.Context, string, metav1.DeleteOptions) error
}, creates int) error {
	err := benchstack.Parallel(0, creates, b.o.clients, func(i int) error {
		name := sessionName("s", i-b.o.warmup)
		if i < b.o.warmup {
			name = sessionName("warmup", i)
		}
		if err := sessions.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("delete session %s/%s: %w", ns, name, err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	if err := b.kube.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		return fmt.Errorf("delete namespace %s: %w", ns, err)
	}
	err = wait.PollUntilContextTimeout(ctx, 250*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		_, err := b.kube.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if err != nil {
		return fmt.Errorf("namespace %s not gone: %w", ns, err)
	}
	return nil
}

// profile saves a profile of the replica over seconds (benchstack.SaveProfile).
func (b *bench) profile(ctx context.Context, name, path string, seconds int) error {
	return benchstack.SaveProfile(ctx, b.replica, b.replicaURL, name, seconds, path)
}

// auditMetrics reads the replica's audit counters from its /metrics. A
// counter with labels has no series until it first counts: absent is 0.
func (b *bench) auditMetrics(ctx context.Context) (auditMetrics, error) {
	var m auditMetrics
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, b.replicaURL+"/metrics", nil)
	if err != nil {
		return m, err
	}
	resp, err := b.replica.Do(req)
	if err != nil {
		return m, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return m, fmt.Errorf("GET /metrics of streamspace-apiserver: %d", resp.StatusCode)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || line[0] == '#' {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		sp := strings.LastIndexByte(line, ' ')
		if sp < 0 {
			continue
		}
		v, err := strconv.ParseFloat(line[sp+1:], 64)
		if err != nil {
			continue
		}
		switch name {
		case "apiserver_audit_event_total":
			m.events += v
		case "streamspace_audit_events_written_total":
			m.written += v
		case "streamspace_audit_events_dropped_total":
			m.dropped += v
		case "apiserver_audit_error_total":
			m.auditErrors += v
		}
	}
	return m, sc.Err()
}

// newSession is the object every create sends, about 600 bytes of JSON,
// as make bench's and make bench-wire's.
func newSession(prefix string, i int) *streamv1alpha1.Session {
	return &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: sessionName(prefix, i), Labels: map[string]string{"app.kubernetes.io/part-of": "bench"}},
		Spec: streamv1alpha1.SessionSpec{
			User: fmt.Sprintf("user-%03d", i%100), Template: "firefox", Tags: []string{"bench"},
			Resources: streamv1alpha1.ResourceRequirements{
				Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi")},
				Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1000m"), corev1.ResourceMemory: resource.MustParse("2Gi")},
			},
		},
	}
}

func sessionName(prefix string, i int) string { return fmt.Sprintf("%s-%06d", prefix, i) }
