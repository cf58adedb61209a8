package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"

	"github.com/streamspace/controlplane/internal/devstack"
	"github.com/streamspace/controlplane/internal/postgresproc"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// The Postgres fault tests run a control plane of their own on a Postgres
// they start (the shared stack's database must stay up for the other tests):
// etcd, kube-apiserver with its aggregator, kube-controller-manager,
// kube-scheduler, kwok, streamspace-apiserver, streamspace-controller. A
// client is alice through the aggregator, as in the other tests.

// faultNamespace is where the load and the watchers work (alice's).
const faultNamespace = "alice"

// requireDurablePostgres fails the test unless the server at dsn runs with
// the durable settings: a kill -9 loses nothing committed only then.
func requireDurablePostgres(t *testing.T, ctx context.Context, dsn string) {
	t.Helper()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, setting := range []string{"fsync", "synchronous_commit", "full_page_writes"} {
		var value string
		if err := conn.QueryRow(ctx, "SHOW "+setting).Scan(&value); err != nil {
			t.Fatal(err)
		}
		if value != "on" {
			t.Fatalf("Postgres runs with %s=%s: the fault tests need the durable default (is $POSTGRES_EXTRA_SETTINGS set?)", setting, value)
		}
	}
}

// startFaultPostgres starts a Postgres of the test's own, stopped when the
// test ends.
func startFaultPostgres(t *testing.T, ctx context.Context) *postgresproc.Server {
	t.Helper()
	pg, err := postgresproc.Start(ctx, postgresproc.Options{Dir: filepath.Join(faultPostgresDir(t), "pg")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = pg.Stop() })
	return pg
}

// startFaultStack starts a control plane on the database at dsn (a user
// alice only) and stops it when the test ends.
func startFaultStack(t *testing.T, dsn string) *devstack.Stack {
	t.Helper()
	dir, err := os.MkdirTemp("", "streamspace-fault-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	began := time.Now()
	s, err := devstack.Start(ctx, devstack.Config{
		Dir:            dir,
		PostgresDSN:    dsn,
		Users:          []string{faultNamespace},
		ControllerArgs: controllerTestArgs, StreamspaceArgs: streamspaceTestArgs,
		Log: testLog{t},
	})
	if err != nil {
		t.Fatalf("start a control plane of its own: %v", err)
	}
	t.Logf("fault stack ready in %s", time.Since(began).Round(100*time.Millisecond))
	t.Cleanup(func() {
		if t.Failed() {
			for _, component := range []string{"streamspace-apiserver", "streamspace-controller"} {
				t.Logf("--- last lines of %s ---\n%s", component, lastLines(s.LogFile(component), 60))
			}
		}
		if err := s.Stop(); err != nil {
			t.Errorf("stop the fault stack: %v", err)
		}
	})
	return s
}

type testLog struct{ t *testing.T }

func (l testLog) Write(p []byte) (int, error) {
	l.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

func lastLines(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// faultClient is alice's HTTP client through the aggregator, without
// client-go's retries, so the test sees every answer as it was sent.
func faultClient(t *testing.T, s *devstack.Stack) (*http.Client, string, clientset.Interface) {
	t.Helper()
	cfg, err := s.RESTConfig(faultNamespace)
	if err != nil {
		t.Fatal(err)
	}
	rt, err := rest.TransportFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ss, err := clientset.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: rt, Timeout: 90 * time.Second},
		s.KubeAPIServerURL + "/apis/stream.space/v1alpha1/namespaces/" + faultNamespace + "/templates", ss
}

// ackedWrite is a write the API answered 2xx.
type ackedWrite struct {
	op   string // create or patch
	name string
	seq  string // the seq label it set
	rv   int64
	at   time.Time
}

// refusedWrite is a write the API refused, as the client saw it.
type refusedWrite struct {
	op, name   string
	seq        string // the seq label the write sets
	code       int    // 0: no HTTP answer
	retryAfter string
	reason     string
	message    string
	at         time.Time
}

// writeLoad is a steady write load of Templates: writers that create
// templates and merge-patch the ones they have created.
type writeLoad struct {
	client *http.Client
	url    string
	prefix string

	mu      sync.Mutex
	acked   []ackedWrite
	refused []refusedWrite

	stop chan struct{}
	wg   sync.WaitGroup
}

func startWriteLoad(client *http.Client, url, prefix string, writers int) *writeLoad {
	l := &writeLoad{client: client, url: url, prefix: prefix, stop: make(chan struct{})}
	for w := range writers {
		l.wg.Add(1)
		go l.write(w)
	}
	return l
}

func (l *writeLoad) write(w int) {
	defer l.wg.Done()
	var created []string
	for n := 0; ; n++ {
		select {
		case <-l.stop:
			return
		case <-time.After(20 * time.Millisecond):
		}
		if n%2 == 0 || len(created) == 0 {
			name := fmt.Sprintf("%s-%d-%d", l.prefix, w, n)
			body := fmt.Sprintf(`{"apiVersion":"stream.space/v1alpha1","kind":"Template","metadata":{"name":%q,"labels":{"seq":"%d"}},`+
				`"spec":{"displayName":"Load %d/%d","baseImage":"registry.example.org/load:1","appType":"webapp","webapp":{"enabled":true,"port":8080},"ports":[{"name":"http","containerPort":8080}]}}`, name, n, w, n)
			if l.do("create", name, strconv.Itoa(n), http.MethodPost, l.url, "application/json", body) {
				created = append(created, name)
			}
			continue
		}
		name := created[n%len(created)]
		l.do("patch", name, strconv.Itoa(n), http.MethodPatch, l.url+"/"+name, "application/merge-patch+json", fmt.Sprintf(`{"metadata":{"labels":{"seq":"%d"}}}`, n))
	}
}

func (l *writeLoad) do(op, name, seq, method, url, contentType, body string) bool {
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		panic(err)
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	resp, err := l.client.Do(req)
	if err != nil {
		l.refuse(refusedWrite{op: op, name: name, seq: seq, message: err.Error(), at: time.Now()})
		return false
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 == 2 {
		var obj metav1.PartialObjectMetadata
		if err := json.Unmarshal(data, &obj); err != nil {
			l.refuse(refusedWrite{op: op, name: name, seq: seq, code: resp.StatusCode, message: "undecodable answer: " + string(data), at: time.Now()})
			return false
		}
		rv, _ := strconv.ParseInt(obj.ResourceVersion, 10, 64)
		l.mu.Lock()
		l.acked = append(l.acked, ackedWrite{op: op, name: obj.Name, seq: seq, rv: rv, at: time.Now()})
		l.mu.Unlock()
		return true
	}
	var status metav1.Status
	_ = json.Unmarshal(data, &status)
	message := status.Message
	if message == "" {
		message = string(data)
	}
	l.refuse(refusedWrite{op: op, name: name, seq: seq, code: resp.StatusCode, retryAfter: resp.Header.Get("Retry-After"),
		reason: string(status.Reason), message: message, at: time.Now()})
	return false
}

func (l *writeLoad) refuse(r refusedWrite) {
	l.mu.Lock()
	l.refused = append(l.refused, r)
	l.mu.Unlock()
}

func (l *writeLoad) halt() {
	close(l.stop)
	l.wg.Wait()
}

func (l *writeLoad) snapshot() ([]ackedWrite, []refusedWrite) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]ackedWrite(nil), l.acked...), append([]refusedWrite(nil), l.refused...)
}

// waitAcked waits until a write is acknowledged after since and returns when it was.
func (l *writeLoad) waitAcked(t *testing.T, ctx context.Context, since time.Time, timeout time.Duration, what string) time.Time {
	t.Helper()
	var at time.Time
	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		acked, _ := l.snapshot()
		for _, a := range acked {
			if a.at.After(since) {
				at = a.at
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("%s: no write acknowledged within %s", what, timeout)
	}
	return at
}

// checkRefusals: a client refused during the outage sees 503 with
// Retry-After, or 504 for a write whose commit was not answered, and never
// anything about the database.
func checkRefusals(t *testing.T, refused []refusedWrite, leaks []string) (unavailable, unknown int) {
	t.Helper()
	for _, r := range refused {
		switch {
		case r.code == http.StatusServiceUnavailable && r.retryAfter != "":
			unavailable++
		case r.code == http.StatusGatewayTimeout && strings.Contains(r.message, "outcome"):
			unknown++
		default:
			t.Errorf("%s %s refused with %d %s (Retry-After %q): %s", r.op, r.name, r.code, r.reason, r.retryAfter, r.message)
		}
		for _, leak := range leaks {
			if strings.Contains(r.message, leak) {
				t.Errorf("%s %s: the client was told %q: %s", r.op, r.name, leak, r.message)
			}
		}
	}
	return unavailable, unknown
}

// databaseLeaks are strings a client must never see about a database on
// these ports.
func databaseLeaks(ports ...int) []string {
	leaks := []string{"127.0.0.1", "host=", "user=", "database=", "dial ", "SQLSTATE", "postgres://", "SELECT", "INSERT",
		"UPDATE ", "COMMIT", "pgx", "failed to connect"}
	for _, p := range ports {
		leaks = append(leaks, ":"+strconv.Itoa(p), "port="+strconv.Itoa(p))
	}
	return leaks
}
