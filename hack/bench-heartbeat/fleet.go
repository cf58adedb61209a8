package main

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"

	"github.com/streamspace/controlplane/internal/benchstack"
	"github.com/streamspace/controlplane/internal/devstack"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// viewer is one open Connection and the time of its next heartbeat.
type viewer struct {
	user      int
	namespace string
	name      string
	due       time.Time
	index     int // in the schedule heap
}

// sample is one heartbeat: its latency from the scheduled time and from
// the moment it was sent, and whether it failed.
type sample struct {
	due               time.Time
	fromDue, fromSend time.Duration
	err               error
}

// fleet owns the viewers, their users' clients and the heartbeat schedule.
type fleet struct {
	o       *options
	stack   *devstack.Stack
	kube    kubernetes.Interface
	admin   clientset.Interface
	clients []clientset.Interface // by user

	mu         sync.Mutex
	viewers    []*viewer
	sessions   int
	nodes      int
	schedule   scheduleHeap
	wake       chan struct{}
	windowFrom time.Time // heartbeats due in [windowFrom, windowTo) are recorded
	windowTo   time.Time
	samples    []sample
	inWindow   sync.WaitGroup
	sent       atomic.Int64
	failed     atomic.Int64

	cancel context.CancelFunc
	done   chan struct{}
}

func newFleet(ctx context.Context, stack *devstack.Stack, o *options) (*fleet, error) {
	admin, err := stack.RESTConfig("admin")
	if err != nil {
		return nil, err
	}
	admin.QPS, admin.Burst = 1000, 2000
	kube, err := kubernetes.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	adminStream, err := clientset.NewForConfig(admin)
	if err != nil {
		return nil, err
	}
	f := &fleet{o: o, stack: stack, kube: kube, admin: adminStream, wake: make(chan struct{}, 1), done: make(chan struct{})}
	for i := range o.users {
		cfg, err := stack.RESTConfig(userName(i))
		if err != nil {
			return nil, err
		}
		// A browser's heartbeats are not rate limited on the client.
		cfg.QPS, cfg.Burst = 100000, 100000
		cfg.Timeout = time.Minute
		cfg.UserAgent = "streamspace-bench-heartbeat"
		c, err := clientset.NewForConfig(cfg)
		if err != nil {
			return nil, err
		}
		f.clients = append(f.clients, c)
	}
	runCtx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	go f.runSchedule(runCtx)
	return f, nil
}

func (f *fleet) stop() {
	f.cancel()
	<-f.done
}

func (f *fleet) sessionCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.sessions
}

// grow creates sessions, each with 1-4 connections of its user, until the
// fleet has size viewers, and waits for the sessions to be Running before it
// opens their connections; each new connection starts beating at a random
// moment of its first interval, so the load is spread uniformly.
func (f *fleet) grow(ctx context.Context, size int) error {
	type plan struct {
		session, user, viewers, first int
	}
	f.mu.Lock()
	have, sessions := len(f.viewers), f.sessions
	f.mu.Unlock()
	var plans []plan
	for have < size {
		n := min(1+rand.IntN(4), size-have)
		plans = append(plans, plan{session: sessions, user: sessions % f.o.users, viewers: n, first: have})
		have += n
		sessions++
	}
	if err := f.ensureNodes(ctx, sessions); err != nil {
		return err
	}
	// Sessions first, then their viewers: the sessions' workloads are
	// made while the fleet beats at its previous size only, and the new
	// viewers start beating once every session is Running, as in a fleet
	// where people open sessions and then look at them.
	start := time.Now()
	// A few creators only: every session also makes the controllers create
	// its workload, and the fleet must keep beating meanwhile.
	err := benchstack.Parallel(0, len(plans), 4, func(i int) error {
		p := plans[i]
		c, ns := f.clients[p.user], userName(p.user)
		err := retry(ctx, func() error {
			_, err := c.StreamV1alpha1().Sessions(ns).Create(ctx, &streamv1alpha1.Session{
				ObjectMeta: metav1.ObjectMeta{Name: sessionName(p.session)},
				Spec:       streamv1alpha1.SessionSpec{Template: "firefox"},
			}, metav1.CreateOptions{})
			return err
		})
		if err != nil {
			return fmt.Errorf("create session %s/%s: %w", ns, sessionName(p.session), err)
		}
		f.mu.Lock()
		f.sessions++
		f.mu.Unlock()
		return nil
	})
	if err != nil {
		return err
	}
	logf("%d sessions created in %s", f.sessionCount(), time.Since(start).Round(time.Second))
	if err := f.settle(ctx); err != nil {
		return err
	}
	start = time.Now()
	err = benchstack.Parallel(0, len(plans), 8, func(i int) error {
		p := plans[i]
		c, ns := f.clients[p.user], userName(p.user)
		for v := range p.viewers {
			conn := fmt.Sprintf("c-%06d", p.first+v)
			err := retry(ctx, func() error {
				_, err := c.StreamV1alpha1().Connections(ns).Create(ctx, &streamv1alpha1.Connection{
					ObjectMeta: metav1.ObjectMeta{Name: conn},
					Spec:       streamv1alpha1.ConnectionSpec{Session: sessionName(p.session), ClientIP: "10.1.2.3", UserAgent: "bench-heartbeat"},
				}, metav1.CreateOptions{})
				return err
			})
			if err != nil {
				return fmt.Errorf("create connection %s/%s: %w", ns, conn, err)
			}
			f.add(&viewer{user: p.user, namespace: ns, name: conn,
				due: time.Now().Add(time.Duration(rand.Int64N(int64(f.o.interval))))})
		}
		return nil
	})
	if err != nil {
		return err
	}
	logf("fleet at %d viewers in %d sessions (viewers added in %s)", size, f.sessionCount(), time.Since(start).Round(time.Second))
	return nil
}

func sessionName(i int) string { return fmt.Sprintf("s-%05d", i) }

// ensureNodes adds fake nodes (kwok, 110 pods each) so that every session's
// pod is scheduled and its session becomes Running, as in a real fleet.
func (f *fleet) ensureNodes(ctx context.Context, sessions int) error {
	want := sessions/100 + 1
	for f.nodes < want {
		name := fmt.Sprintf("bench-node-%03d", f.nodes)
		pods := resource.MustParse("110")
		capacity := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("64"), corev1.ResourceMemory: resource.MustParse("512Gi"), corev1.ResourcePods: pods, corev1.ResourceEphemeralStorage: resource.MustParse("1Ti")}
		_, err := f.kube.CoreV1().Nodes().Create(ctx, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: name,
				Annotations: map[string]string{"kwok.x-k8s.io/node": "fake", "node.alpha.kubernetes.io/ttl": "0"},
				Labels:      map[string]string{"kubernetes.io/hostname": name, "kubernetes.io/os": "linux", "kubernetes.io/arch": "amd64", "type": "kwok"}},
			Status: corev1.NodeStatus{Capacity: capacity, Allocatable: capacity, Phase: corev1.NodeRunning},
		}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create node %s: %w", name, err)
		}
		f.nodes++
	}
	// Pods of sessions made before kwok marks the nodes Ready are
	// unschedulable and wait out the scheduler's back-off.
	return wait.PollUntilContextTimeout(ctx, time.Second, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		nodes, err := f.kube.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: "type=kwok"})
		if err != nil {
			return false, nil
		}
		ready := 0
		for _, n := range nodes.Items {
			if !strings.HasPrefix(n.Name, "bench-node-") {
				continue
			}
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					ready++
				}
			}
		}
		return ready >= want, nil
	})
}

func (f *fleet) add(v *viewer) {
	f.mu.Lock()
	f.viewers = append(f.viewers, v)
	heap.Push(&f.schedule, v)
	f.mu.Unlock()
	select {
	case f.wake <- struct{}{}:
	default:
	}
}

// runSchedule sends every heartbeat at its due time, each in its own
// goroutine: a slow answer never delays the next heartbeat (open loop).
func (f *fleet) runSchedule(ctx context.Context) {
	defer close(f.done)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		f.mu.Lock()
		now := time.Now()
		for f.schedule.Len() > 0 && !f.schedule[0].due.After(now) {
			v := f.schedule[0]
			due := v.due
			v.due = due.Add(f.o.interval)
			heap.Fix(&f.schedule, 0)
			record := !due.Before(f.windowFrom) && due.Before(f.windowTo)
			if record {
				f.inWindow.Add(1)
			}
			go f.beat(ctx, v, due, record)
		}
		wait := time.Hour
		if f.schedule.Len() > 0 {
			wait = time.Until(f.schedule[0].due)
		}
		f.mu.Unlock()
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-f.wake:
		case <-timer.C:
		}
	}
}

func (f *fleet) beat(ctx context.Context, v *viewer, due time.Time, record bool) {
	sent := time.Now()
	_, err := f.clients[v.user].StreamV1alpha1().Connections(v.namespace).Heartbeat(ctx, v.name, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{})
	end := time.Now()
	f.sent.Add(1)
	if err != nil && ctx.Err() == nil {
		f.failed.Add(1)
		if f.failed.Load() <= 20 {
			logf("heartbeat %s/%s: %v", v.namespace, v.name, err)
		}
	}
	if !record {
		return
	}
	f.mu.Lock()
	f.samples = append(f.samples, sample{due: due, fromDue: end.Sub(due), fromSend: end.Sub(sent), err: err})
	f.mu.Unlock()
	f.inWindow.Done()
}

// scheduleHeap orders viewers by the time of their next heartbeat.
type scheduleHeap []*viewer

func (h scheduleHeap) Len() int           { return len(h) }
func (h scheduleHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h scheduleHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *scheduleHeap) Push(x any) {
	v := x.(*viewer)
	v.index = len(*h)
	*h = append(*h, v)
}
func (h *scheduleHeap) Pop() any {
	old := *h
	v := old[len(old)-1]
	*h = old[:len(old)-1]
	return v
}

// retry calls create until it succeeds or finds the object already there,
// up to 5 times on errors of an overloaded server (the stack shares the
// machine with the load generator).
func retry(ctx context.Context, create func() error) error {
	var err error
	for range 5 {
		err = create()
		if err == nil || apierrors.IsAlreadyExists(err) {
			return nil
		}
		// Retried: the server's 5xx, 429 and timeouts, and errors that are
		// no API answer at all (a client-side timeout of an overloaded server).
		var status apierrors.APIStatus
		if errors.As(err, &status) && !apierrors.IsInternalError(err) && !apierrors.IsServerTimeout(err) && !apierrors.IsTimeout(err) && !apierrors.IsTooManyRequests(err) && !apierrors.IsServiceUnavailable(err) {
			return err
		}
		select {
		case <-time.After(2 * time.Second):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return err
}

// settle waits until every session of the fleet is Running and the count
// has held for two polls in a row, so that the measurement does not see the
// controllers still creating workloads for the sessions just grown.
func (f *fleet) settle(ctx context.Context) error {
	start := time.Now()
	want := f.sessionCount()
	steady := 0
	for {
		running, err := f.runningSessions(ctx)
		if err != nil {
			return err
		}
		if running == want {
			steady++
		} else {
			steady = 0
		}
		if steady == 2 {
			logf("%d sessions Running (settled in %s)", running, time.Since(start).Round(time.Second))
			return nil
		}
		if waited := time.Since(start); waited.Round(5*time.Second)%time.Minute == 0 && waited > 30*time.Second {
			logf("%d of %d sessions Running after %s", running, want, waited.Round(time.Second))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(5 * time.Second):
		}
	}
}

// runningSessions counts the sessions in phase Running, in pages.
func (f *fleet) runningSessions(ctx context.Context) (int, error) {
	running := 0
	opts := metav1.ListOptions{Limit: 500}
	for {
		list, err := f.admin.StreamV1alpha1().Sessions(metav1.NamespaceAll).List(ctx, opts)
		if err != nil {
			return 0, fmt.Errorf("list sessions: %w", err)
		}
		for i := range list.Items {
			if list.Items[i].Status.Phase == streamv1alpha1.SessionPhaseRunning {
				running++
			}
		}
		if list.Continue == "" {
			return running, nil
		}
		opts.Continue = list.Continue
	}
}
