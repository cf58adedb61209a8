package e2e

import (
	"context"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/streamspace/controlplane/internal/devstack"
)

// TestKubeAPIServerOutageReapsNoViewer: every heartbeat reaches
// streamspace-apiserver through kube-apiserver's aggregator. While
// kube-apiserver is stopped (SIGSTOP: it answers nothing, as when it hangs
// or its host is gone) for three stale timeouts, streamspace-apiserver is
// up with its database and sees every viewer fall silent, here fewer than
// the mass-silence guard needs. It must reap none of them: they could not
// beat. Afterwards a viewer that beats again keeps its connection, and one
// that stays silent is reaped as usual. It runs a control plane of its own:
// stopping the shared kube-apiserver would fail the other tests.
func TestKubeAPIServerOutageReapsNoViewer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pg := startFaultPostgres(t, ctx)
	s := startFaultStack(t, pg.DSN())
	// Not needed here, and it would lose its leader lease in the outage.
	if err := s.StopController(); err != nil {
		t.Fatal(err)
	}
	_, _, ss := faultClient(t, s)
	beating := createViewer(t, ss, faultNamespace, "outage-desktop", "outage-beating")
	silent := createViewer(t, ss, faultNamespace, "outage-desktop", "outage-silent")
	stopBeating := beatUntilStopped(t, ss, faultNamespace, beating.Name)

	pid, err := s.PID("kube-apiserver")
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(pid, syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	resumed := false
	resume := func() {
		if !resumed {
			resumed = true
			if err := syscall.Kill(pid, syscall.SIGCONT); err != nil {
				t.Errorf("resume kube-apiserver: %v", err)
			}
		}
	}
	t.Cleanup(resume)
	// The outage lasts three stale timeouts, counted from the leases: the
	// beating viewer's last beat that arrived is that far behind.
	db, err := pgx.Connect(ctx, pg.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(ctx)
	silentFor := func(name string) (time.Duration, bool) {
		var seconds float64
		err := db.QueryRow(ctx, `SELECT EXTRACT(EPOCH FROM now() - last_beat)::float8 FROM connection_leases WHERE namespace = $1 AND name = $2`, faultNamespace, name).Scan(&seconds)
		if err == pgx.ErrNoRows {
			return 0, false
		}
		if err != nil {
			t.Fatal(err)
		}
		return time.Duration(seconds * float64(time.Second)), true
	}
	eventually(t, 2*time.Minute, "three stale timeouts of silence during the outage", func() (bool, error) {
		d, ok := silentFor(beating.Name)
		if !ok {
			t.Fatalf("connection %s, whose viewer beat until kube-apiserver stopped, was reaped during the outage", beating.Name)
		}
		return d >= 3*staleTimeout, nil
	})
	for _, name := range []string{beating.Name, silent.Name} {
		if _, ok := silentFor(name); !ok {
			t.Fatalf("connection %s was reaped while kube-apiserver was stopped", name)
		}
	}
	logged, err := os.ReadFile(s.LogFile("streamspace-apiserver"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(logged), "heartbeat path down") {
		t.Error(`streamspace-apiserver did not log "heartbeat path down" during the outage`)
	}
	if v := reaperHolding(t, ctx, s, "heartbeat_path_down"); v != 1 {
		t.Errorf(`connection_reaper_holding{reason="heartbeat_path_down"} is %v during the outage, want 1`, v)
	}

	resume()
	back := time.Now()
	eventually(t, 2*time.Minute, "kube-apiserver ready again", func() (bool, error) {
		return ss.Discovery().RESTClient().Get().AbsPath("/readyz").Do(ctx).Error() == nil, nil
	})
	t.Logf("kube-apiserver ready %s after it was resumed", time.Since(back).Round(time.Millisecond))
	waitAlivePast(t, ss, faultNamespace, beating.Name, back, 3*staleTimeout)
	eventually(t, 2*time.Minute, "the silent connection to be reaped after the outage", func() (bool, error) {
		_, err := ss.StreamV1alpha1().Connections(faultNamespace).Get(ctx, silent.Name, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	if v := reaperHolding(t, ctx, s, "heartbeat_path_down"); v != 0 {
		t.Errorf(`connection_reaper_holding{reason="heartbeat_path_down"} is %v after the outage, want 0`, v)
	}
	sent, failed := stopBeating()
	t.Logf("%d heartbeats, %d failed", sent, failed)
}

// reaperHolding reads streamspace_apiserver_connection_reaper_holding for
// reason from the stack's streamspace-apiserver, asked directly as the
// admin: system:masters, which the server allows without asking
// kube-apiserver, so it answers while kube-apiserver is stopped.
func reaperHolding(t *testing.T, ctx context.Context, s *devstack.Stack, reason string) float64 {
	t.Helper()
	cfg, err := s.RESTConfig("admin")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Host = s.StreamspaceURL
	cfg.TLSClientConfig.CAFile, cfg.TLSClientConfig.CAData, cfg.TLSClientConfig.ServerName = s.StreamspaceCA, nil, "localhost"
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	body, err := client.Discovery().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		t.Fatalf("read streamspace-apiserver's /metrics: %v", err)
	}
	series := `streamspace_apiserver_connection_reaper_holding{reason="` + reason + `"} `
	for line := range strings.SplitSeq(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, series); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("streamspace-apiserver's /metrics has no %s", series)
	return 0
}
