package e2e

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/streamspace/controlplane/internal/postgresproc"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// TestPostgresFaultKill9 kills the postmaster with SIGKILL under a steady
// write load, with a raw watch and an informer open, keeps it down for a few
// seconds and starts it again (crash recovery): nothing acknowledged is
// lost, refused writes were 503 with Retry-After (or 504 when the commit
// was not answered) and said nothing about the database, writes succeed
// again without restarting anything of ours, the watchers end up exact, and
// the controller still reconciles.
func TestPostgresFaultKill9(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	pg := startFaultPostgres(t, ctx)
	requireDurablePostgres(t, ctx, pg.DSN())

	runFaultScenario(t, ctx, faultScenario{
		dsn:   pg.DSN(),
		ports: []int{pg.Port()},
		fault: func(t *testing.T) {
			if err := pg.Kill(); err != nil {
				t.Fatal(err)
			}
		},
		recover: func(t *testing.T) {
			began := time.Now()
			if err := pg.Restart(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("Postgres restarted and accepts connections after %s (crash recovery included)", time.Since(began).Round(time.Millisecond))
			requireDurablePostgres(t, ctx, pg.DSN())
		},
	})
}

// TestPostgresFaultFailover runs the same load on a primary whose commits
// wait for a synchronous streaming standby, with the server given both in a
// multi-host DSN; it kills the primary with SIGKILL and promotes the
// standby. Nothing acknowledged is lost and service resumes on the promoted
// standby without restarting any process of ours.
func TestPostgresFaultFailover(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	dir := faultPostgresDir(t)
	primary, err := postgresproc.Start(ctx, postgresproc.Options{Dir: filepath.Join(dir, "primary")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = primary.Stop() })
	standby, err := postgresproc.StartStandby(ctx, primary, "standby", postgresproc.Options{Dir: filepath.Join(dir, "standby")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = standby.Stop() })
	if err := primary.RequireSynchronousStandby(ctx, "standby"); err != nil {
		t.Fatal(err)
	}
	requireDurablePostgres(t, ctx, primary.DSN())
	requireDurablePostgres(t, ctx, standby.DSN())
	dsn := postgresproc.MultiHostDSN(primary, standby)
	t.Logf("streamspace-apiserver uses %s", dsn)

	runFaultScenario(t, ctx, faultScenario{
		dsn:   dsn,
		ports: []int{primary.Port(), standby.Port()},
		fault: func(t *testing.T) {
			if err := primary.Kill(); err != nil {
				t.Fatal(err)
			}
		},
		recover: func(t *testing.T) {
			began := time.Now()
			if err := standby.Promote(ctx); err != nil {
				t.Fatal(err)
			}
			t.Logf("standby promoted in %s", time.Since(began).Round(time.Millisecond))
		},
	})
}

// faultPostgresDir is a short folder for the fault tests' clusters (their
// Unix sockets live in it, and a socket path has at most 107 bytes).
func faultPostgresDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "pgfault-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	return dir
}

type faultScenario struct {
	dsn     string
	ports   []int              // of the Postgres servers, which clients must never hear about
	fault   func(t *testing.T) // takes the database away
	recover func(t *testing.T) // returns once a database accepts writes again
}

// outage is how long the database stays away while the load goes on.
const outage = 3 * time.Second

func runFaultScenario(t *testing.T, ctx context.Context, sc faultScenario) {
	s := startFaultStack(t, sc.dsn)
	client, url, ss := faultClient(t, s)
	pids := map[string]int{}
	for _, component := range []string{"streamspace-apiserver", "streamspace-controller"} {
		pid, err := s.PID(component)
		if err != nil {
			t.Fatal(err)
		}
		pids[component] = pid
	}

	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	informer := startTemplateInformer(watchCtx, t, ss)
	raw := startRawWatch(watchCtx, t, client, url)
	load := startWriteLoad(client, url, uniqueName("fault"), 3)
	halted := false
	defer func() {
		if !halted {
			load.halt()
		}
	}()

	err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		acked, _ := load.snapshot()
		return len(acked) >= 100, nil
	})
	if err != nil {
		_, refused := load.snapshot()
		if len(refused) > 3 {
			refused = refused[:3]
		}
		t.Fatalf("the load did not get going: %+v", refused)
	}

	faultAt := time.Now()
	sc.fault(t)
	time.Sleep(outage)
	sc.recover(t)
	backAt := time.Now()
	firstAck := load.waitAcked(t, ctx, backAt, 2*time.Minute, "after the database came back")
	time.Sleep(3 * time.Second) // more load on the recovered database
	load.halt()
	halted = true
	acked, refused := load.snapshot()

	// The controller still reconciles: a session made now gets running.
	session := newSession(t, ss, faultNamespace, uniqueName("after-fault"), "firefox", time.Hour, 0)
	waitSession(t, ss, faultNamespace, session.Name, 3*time.Minute, "running after the fault", phaseIs(streamv1alpha1.SessionPhaseRunning))

	// The watchers catch up with everything, then are checked.
	var newest int64
	for _, a := range acked {
		newest = max(newest, a.rv)
	}
	if err := wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return raw.position() >= newest, nil
	}); err != nil {
		t.Errorf("the raw watch reached %d, not the newest acknowledged write at %d", raw.position(), newest)
	}
	waitInformerMatchesDatabase(t, ctx, informer, sc.dsn)
	stopWatching()
	<-raw.done

	unavailable, unknown := checkRefusals(t, refused, databaseLeaks(sc.ports...))
	if unavailable == 0 {
		t.Error("no write was refused with 503 during the outage: the test did not test it")
	}
	raw.check(t, acked)
	checkDurable(t, ctx, sc.dsn, acked, raw)
	for component, pid := range pids {
		if now, err := s.PID(component); err != nil || now != pid {
			t.Errorf("%s was restarted (pid %d, now %d, %v)", component, pid, now, err)
		}
	}
	select {
	case err := <-s.Failed():
		t.Errorf("a component of the stack failed: %v", err)
	default:
	}

	beforeFault, refusedAfterRecovery := 0, 0
	for _, a := range acked {
		if a.at.Before(faultAt) {
			beforeFault++
		}
	}
	for _, r := range refused {
		if r.at.After(firstAck) {
			refusedAfterRecovery++
		}
	}
	events, relists, watchFailures := raw.summary()
	t.Logf("writes acknowledged: %d (%d before the fault), refused: %d with 503, %d with 504 (outcome unknown), %d of them after the first write succeeded again",
		len(acked), beforeFault, unavailable, unknown, refusedAfterRecovery)
	t.Logf("first write acknowledged %s after the database was back (%s after the fault, outage %s)",
		firstAck.Sub(backAt).Round(time.Millisecond), firstAck.Sub(faultAt).Round(time.Millisecond), outage)
	t.Logf("raw watch: %d events, %d relists after 410, %d failed or ended streams resumed; informer equals the database", events, relists, watchFailures)
	// What became of the writes whose outcome the client was told is unknown
	// (checked on an acknowledged write first, so a "no" means something).
	last := acked[len(acked)-1]
	if found, err := writeApplied(ctx, sc.dsn, last.name, last.seq); err != nil || !found {
		t.Errorf("history has no version of %s with seq %s, acknowledged at %d (%v)", last.name, last.seq, last.rv, err)
	}
	for _, r := range refused {
		if r.code == http.StatusGatewayTimeout {
			applied, err := writeApplied(ctx, sc.dsn, r.name, r.seq)
			if err != nil {
				t.Error(err)
			}
			t.Logf("the %s of %s (seq %s) had an unknown outcome; applied: %v", r.op, r.name, r.seq, applied)
		}
	}
	answers := map[string]int{}
	for _, r := range refused {
		answers[fmt.Sprintf("%d %s, Retry-After %q: %s", r.code, r.reason, r.retryAfter, r.message)]++
	}
	for answer, n := range answers {
		t.Logf("refused %d times with: %s", n, answer)
	}
}
