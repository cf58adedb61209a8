package e2e

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/streamspace/controlplane/internal/devstack"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

const leaderSeries = `leader_election_master_status{name="streamspace-controller"}`

// TestOnlyTheLeaderActsAndAStandbyTakesOver runs a second controller
// replica beside the shared one: only the holder of the Lease reconciles
// (the standby builds no work queues and records no Events); when the
// leader crashes (SIGKILL, the Lease is not released) mid-countdown, the
// standby takes the Lease over and the session still hibernates at its
// persisted deadline, with the Events now from the new leader.
func TestOnlyTheLeaderActsAndAStandbyTakesOver(t *testing.T) {
	// Not parallel: it kills the shared controller.
	const idle = 20 * time.Second
	ctx := context.Background()
	ss, _ := clients(t, "alice")
	_, kube := clients(t, "admin")

	standby, err := stack.StartExtraController(ctx, "streamspace-controller-2")
	if err != nil {
		t.Fatalf("start a second controller replica: %v", err)
	}
	firstKilled := false
	t.Cleanup(func() {
		// Hand the Lease back to the shared controller for the other tests.
		if firstKilled {
			if err := stack.StartController(ctx); err != nil {
				t.Errorf("start the first controller again: %v", err)
			}
		}
		_ = standby.Stop()
		eventually(t, 30*time.Second, "the first controller to lead again", func() (bool, error) {
			v, ok, err := scrapeMetric(stack.ControllerURL(), leaderSeries)
			return ok && v == 1, err
		})
	})

	eventually(t, 30*time.Second, "the second replica to report itself standby", func() (bool, error) {
		v, ok, err := scrapeMetric(standby.URL, leaderSeries)
		return ok && v == 0, err
	})
	if v, _, err := scrapeMetric(stack.ControllerURL(), leaderSeries); err != nil || v != 1 {
		t.Fatalf("the first replica does not lead: %s = %v (%v)", leaderSeries, v, err)
	}
	firstLeader := leaseHolder(t, kube)

	s := newSession(t, ss, "alice", "leader-countdown", "firefox", idle, 0)
	s = waitSession(t, ss, "alice", s.Name, startTimeout, "Running with hibernateAt", func(s *streamv1alpha1.Session) bool {
		return s.Status.Phase == streamv1alpha1.SessionPhaseRunning && s.Status.HibernateAt != nil
	})
	hibernateAt := s.Status.HibernateAt.Time
	if n := scrapeSum(t, standby.URL, "workqueue_adds_total{"); n != 0 {
		t.Errorf("the standby queued %v reconciles; only the leader may act", n)
	}
	if n := scrapeSum(t, stack.ControllerURL(), "workqueue_adds_total{"); n == 0 {
		t.Errorf("the leader reports no queued reconciles: the workqueue metrics are missing")
	}
	if n := scrapeSum(t, stack.ControllerURL(), "rest_client_requests_total{"); n == 0 {
		t.Errorf("the leader reports no requests of its clients: the rest_client metrics are missing")
	}
	events := sessionEventSources(t, kube, s)
	if len(events) == 0 {
		t.Fatal("no Events about the running session")
	}
	t.Logf("events before the crash, by reason and replica: %v", events)
	for reason, host := range events {
		if host != firstLeader {
			t.Errorf("event %s comes from %q, not from the leader %q", reason, host, firstLeader)
		}
	}

	// The leader crashes mid-countdown; the standby takes over once the Lease expires.
	if err := stack.KillController(); err != nil {
		t.Fatalf("kill the leader: %v", err)
	}
	firstKilled = true
	killed := time.Now()
	var newLeader string
	eventually(t, 30*time.Second, "the standby to take the Lease over", func() (bool, error) {
		v, ok, err := scrapeMetric(standby.URL, leaderSeries)
		if !ok || v != 1 {
			return false, err
		}
		newLeader = leaseHolder(t, kube)
		return newLeader != firstLeader, fmt.Errorf("lease holder %s", newLeader)
	})
	t.Logf("the standby leads %s after the leader was killed (%s before the session's hibernateAt)",
		time.Since(killed).Round(100*time.Millisecond), time.Until(hibernateAt).Round(100*time.Millisecond))

	s = waitSession(t, ss, "alice", s.Name, time.Until(hibernateAt)+startTimeout, "Hibernated by the new leader", phaseIs(streamv1alpha1.SessionPhaseHibernated))
	asleep := time.Now()
	if asleep.Before(hibernateAt) {
		t.Errorf("hibernated at %s, before its hibernateAt %s", asleep.Format(time.RFC3339Nano), hibernateAt.Format(time.RFC3339Nano))
	}
	t.Logf("hibernated %s after hibernateAt (polled every 100ms)", asleep.Sub(hibernateAt).Round(100*time.Millisecond))
	waitEvent(t, kube, s, "IdleTimeout")
	if host := sessionEventSources(t, kube, s)["IdleTimeout"]; host != newLeader {
		t.Errorf("the IdleTimeout event comes from %q, want the new leader %q", host, newLeader)
	}
	if n := scrapeSum(t, standby.URL, "workqueue_adds_total{"); n == 0 {
		t.Errorf("the new leader reports no queued reconciles")
	}
}

// leaseHolder is the identity holding the controller's Lease.
func leaseHolder(t *testing.T, kube kubernetes.Interface) string {
	t.Helper()
	lease, err := kube.CoordinationV1().Leases("streamspace-system").Get(context.Background(), "streamspace-controller", metav1.GetOptions{})
	if err != nil {
		t.Fatalf("read the controller's Lease: %v", err)
	}
	if lease.Spec.HolderIdentity == nil {
		return ""
	}
	return *lease.Spec.HolderIdentity
}

// sessionEventSources maps the reason of each Event about s to the
// replica that reported it (its source host, the replica's identity).
func sessionEventSources(t *testing.T, kube kubernetes.Interface, s *streamv1alpha1.Session) map[string]string {
	t.Helper()
	list, err := kube.CoreV1().Events(s.Namespace).List(context.Background(), metav1.ListOptions{
		FieldSelector: fields.Set{"involvedObject.uid": string(s.UID)}.String(),
	})
	if err != nil {
		t.Fatalf("list events of session %s: %v", s.Name, err)
	}
	out := map[string]string{}
	for _, e := range list.Items {
		out[e.Reason] = eventHost(e)
	}
	return out
}

func eventHost(e corev1.Event) string {
	if e.ReportingInstance != "" {
		return e.ReportingInstance
	}
	return e.Source.Host
}

// scrapeMetric reads one sample (the line starting with series) of the
// /metrics at url; ok is false when the series is absent.
func scrapeMetric(url, series string) (value float64, ok bool, err error) {
	err = scrape(url, func(line string) {
		if !ok && strings.HasPrefix(line, series+" ") {
			value, err = strconv.ParseFloat(strings.TrimSpace(strings.TrimPrefix(line, series)), 64)
			ok = err == nil
		}
	})
	return value, ok, err
}

// scrapeSum adds up every sample whose series starts with prefix.
func scrapeSum(t *testing.T, url, prefix string) float64 {
	t.Helper()
	var sum float64
	err := scrape(url, func(line string) {
		if !strings.HasPrefix(line, prefix) {
			return
		}
		if i := strings.LastIndexByte(line, ' '); i > 0 {
			if v, err := strconv.ParseFloat(line[i+1:], 64); err == nil {
				sum += v
			}
		}
	})
	if err != nil {
		t.Fatalf("scrape %s: %v", url, err)
	}
	return sum
}

func scrape(url string, each func(line string)) error {
	resp, err := getMetrics(url, devstack.MetricsScraper)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s/metrics: %s", url, resp.Status)
	}
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		each(scanner.Text())
	}
	return scanner.Err()
}

// getMetrics GETs url/metrics with the bearer token of user ("" for none).
func getMetrics(url, user string) (*http.Response, error) {
	req, err := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	if user != "" {
		token, err := stack.UserToken(user)
		if err != nil {
			return nil, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
	}
	return http.DefaultClient.Do(req)
}
