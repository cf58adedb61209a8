// Command bench-pool measures how long a new Session takes to be Running
// when it claims a ready SessionPool workload and when it starts cold, on
// the local control plane with streamspace-controller running: alternating
// rounds of the two paths on copies of one template, seen from outside (a
// client watching the session) and from the controller's own histogram
// streamspace_session_start_duration_seconds (make bench-pool).
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apimachinery/pkg/watch"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"

	"github.com/streamspace/controlplane/internal/devstack"
)

const namespace = "alice"

func main() {
	rounds := flag.Int("rounds", 2, "rounds of each path, alternating pool, cold, cold, pool, ...")
	sessions := flag.Int("sessions", 10, "sessions started one after the other in each round")
	dir := flag.String("dir", "", "state directory of the control plane (default: a temporary one)")
	flag.Parse()
	if err := run(*rounds, *sessions, *dir); err != nil {
		fmt.Fprintf(os.Stderr, "bench-pool: %v\n", err)
		os.Exit(1)
	}
}

func run(rounds, sessions int, dir string) error {
	ctx := context.Background()
	if dir == "" {
		d, err := os.MkdirTemp("", "streamspace-bench-pool-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	stack, err := devstack.Start(ctx, devstack.Config{Dir: dir, Log: os.Stderr})
	if err != nil {
		return fmt.Errorf("start the control plane: %w", err)
	}
	defer stack.Stop() //nolint:errcheck // best effort at exit
	cfg, err := stack.RESTConfig("admin")
	if err != nil {
		return err
	}
	cfg.QPS, cfg.Burst = 1000, 1000
	ss := clientset.NewForConfigOrDie(cfg)

	firefox, err := ss.StreamV1alpha1().Templates(namespace).Get(ctx, "firefox", metav1.GetOptions{})
	if err != nil {
		return err
	}
	for _, name := range []string{"warm", "cold"} {
		t := &streamv1alpha1.Template{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: firefox.Spec}
		if _, err := ss.StreamV1alpha1().Templates(namespace).Create(ctx, t, metav1.CreateOptions{}); err != nil {
			return err
		}
	}
	pool := &streamv1alpha1.SessionPool{
		ObjectMeta: metav1.ObjectMeta{Name: "warm"},
		Spec:       streamv1alpha1.SessionPoolSpec{Template: "warm", Replicas: 2, User: namespace},
	}
	if _, err := ss.StreamV1alpha1().SessionPools(namespace).Create(ctx, pool, metav1.CreateOptions{}); err != nil {
		return err
	}

	results := map[string][][]time.Duration{}
	order := []string{"warm", "cold"}
	for r := 0; r < rounds; r++ {
		for _, path := range order {
			var round []time.Duration
			for i := 0; i < sessions; i++ {
				if path == "warm" {
					if err := waitPoolFull(ctx, ss, pool.Name, pool.Spec.Replicas); err != nil {
						return err
					}
				}
				d, err := startOne(ctx, ss, fmt.Sprintf("%s-%d-%d", path, r, i), path)
				if err != nil {
					return err
				}
				round = append(round, d)
			}
			results[path] = append(results[path], round)
		}
		slices.Reverse(order)
	}

	fmt.Println("| path | round | sessions | p50 | p90 | max |")
	fmt.Println("|---|---:|---:|---:|---:|---:|")
	for _, path := range []string{"warm", "cold"} {
		for r, round := range results[path] {
			slices.Sort(round)
			fmt.Printf("| %s | %d | %d | %s | %s | %s |\n", map[string]string{"warm": "pool", "cold": "cold"}[path], r+1, len(round),
				ms(round[len(round)/2]), ms(round[len(round)*9/10]), ms(round[len(round)-1]))
		}
	}
	token, err := stack.UserToken(devstack.MetricsScraper)
	if err != nil {
		return err
	}
	lines, err := scrape(stack.ControllerURL(), token, "streamspace_session_start_duration_seconds")
	if err != nil {
		return err
	}
	fmt.Println("\nstreamspace-controller's histogram:")
	for _, l := range lines {
		fmt.Println("    " + l)
	}
	return nil
}

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }

// startOne creates a session of template and returns the time from the
// create call until a watch shows it Running.
func startOne(ctx context.Context, ss clientset.Interface, name, template string) (time.Duration, error) {
	sessions := ss.StreamV1alpha1().Sessions(namespace)
	w, err := sessions.Watch(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("metadata.name", name).String()})
	if err != nil {
		return 0, err
	}
	defer w.Stop()
	start := time.Now()
	if _, err := sessions.Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       streamv1alpha1.SessionSpec{Template: template, User: namespace},
	}, metav1.CreateOptions{}); err != nil {
		return 0, err
	}
	timeout := time.After(2 * time.Minute)
	for {
		select {
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, fmt.Errorf("watch of %s ended", name)
			}
			if s, isSession := ev.Object.(*streamv1alpha1.Session); isSession && ev.Type != watch.Deleted && s.Status.Phase == streamv1alpha1.SessionPhaseRunning {
				took := time.Since(start)
				if template == "warm" && s.Status.Pool == "" {
					return 0, fmt.Errorf("session %s started cold with a full pool", name)
				}
				// Terminated at once, so that the namespace holds one
				// running session at a time.
				if err := sessions.Delete(ctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
					return 0, err
				}
				return took, nil
			}
		case <-timeout:
			return 0, fmt.Errorf("session %s not Running after 2 minutes", name)
		}
	}
}

func waitPoolFull(ctx context.Context, ss clientset.Interface, name string, replicas int32) error {
	return wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		p, err := ss.StreamV1alpha1().SessionPools(namespace).Get(ctx, name, metav1.GetOptions{})
		return err == nil && p.Status.ReadyReplicas >= replicas, err
	})
}

func scrape(url, token, prefix string) ([]string, error) {
	req, err := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	var out []string
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if strings.HasPrefix(sc.Text(), prefix) {
			out = append(out, sc.Text())
		}
	}
	return out, sc.Err()
}
