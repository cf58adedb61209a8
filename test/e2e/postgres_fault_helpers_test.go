package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"

	"github.com/streamspace/controlplane/internal/devstack"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned/scheme"
	informers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
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
		ControllerArgs: controllerTestArgs,
		Log:            testLog{t},
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

// watchedEvent is one event of the raw watch.
type watchedEvent struct {
	typ  string
	name string
	rv   int64
}

// relisted is a list the raw watch made after a 410.
type relisted struct {
	after int64            // the watch's position before
	rv    int64            // the list's resourceVersion
	items map[string]int64 // name -> resourceVersion
}

// rawWatch watches templates the way a careful client does, recording every
// event: from a list's resourceVersion, resuming from the last one seen when
// the stream ends or fails, and listing again on 410 Gone.
type rawWatch struct {
	client *http.Client
	url    string

	mu         sync.Mutex
	last       int64
	events     []watchedEvent
	relists    []relisted
	failures   []string
	violations []string
	done       chan struct{}
}

func startRawWatch(ctx context.Context, t *testing.T, client *http.Client, url string) *rawWatch {
	t.Helper()
	w := &rawWatch{client: client, url: url, done: make(chan struct{})}
	if err := w.relist(ctx); err != nil {
		t.Fatalf("first list: %v", err)
	}
	go w.run(ctx)
	return w
}

func (w *rawWatch) run(ctx context.Context) {
	defer close(w.done)
	for ctx.Err() == nil {
		gone, err := w.watchOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			w.fail(err.Error())
		}
		for gone && ctx.Err() == nil {
			if err := w.relist(ctx); err != nil {
				w.fail("relist: " + err.Error())
				time.Sleep(500 * time.Millisecond)
				continue
			}
			gone = false
		}
		if err != nil {
			time.Sleep(500 * time.Millisecond)
		}
	}
}

func (w *rawWatch) fail(msg string) {
	w.mu.Lock()
	w.failures = append(w.failures, msg)
	w.mu.Unlock()
}

func (w *rawWatch) position() int64 {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.last
}

func (w *rawWatch) relist(ctx context.Context) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.url, nil)
	req.Header.Set("Accept", "application/json")
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("list: %s: %s", resp.Status, data)
	}
	var list metav1.PartialObjectMetadataList
	if err := json.Unmarshal(data, &list); err != nil {
		return err
	}
	rv, _ := strconv.ParseInt(list.ResourceVersion, 10, 64)
	r := relisted{rv: rv, items: map[string]int64{}}
	for _, item := range list.Items {
		r.items[item.Name], _ = strconv.ParseInt(item.ResourceVersion, 10, 64)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	r.after = w.last
	if rv < w.last {
		w.violations = append(w.violations, fmt.Sprintf("a list after 410 is at %d, behind the %d the watch had reached", rv, w.last))
	}
	w.relists = append(w.relists, r)
	w.last = rv
	return nil
}

// watchOnce follows one watch stream; gone reports a 410.
func (w *rawWatch) watchOnce(ctx context.Context) (gone bool, err error) {
	q := url.Values{"watch": {"1"}, "resourceVersion": {strconv.FormatInt(w.position(), 10)}, "allowWatchBookmarks": {"true"}, "timeoutSeconds": {"30"}}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, w.url+"?"+q.Encode(), nil)
	req.Header.Set("Accept", "application/json")
	client := *w.client
	client.Timeout = 0 // a watch lasts
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode == http.StatusGone {
		return true, nil
	}
	if resp.StatusCode != http.StatusOK {
		data, _ := io.ReadAll(resp.Body)
		return false, fmt.Errorf("watch: %s: %s", resp.Status, bytes.TrimSpace(data))
	}
	dec := json.NewDecoder(resp.Body)
	for {
		var e struct {
			Type   string          `json:"type"`
			Object json.RawMessage `json:"object"`
		}
		if err := dec.Decode(&e); err != nil {
			if err == io.EOF || ctx.Err() != nil {
				return false, nil
			}
			return false, fmt.Errorf("watch stream: %w", err)
		}
		if e.Type == "ERROR" {
			var status metav1.Status
			_ = json.Unmarshal(e.Object, &status)
			if status.Code == http.StatusGone {
				return true, nil
			}
			return false, fmt.Errorf("watch error event: %d %s", status.Code, status.Message)
		}
		var obj metav1.PartialObjectMetadata
		if err := json.Unmarshal(e.Object, &obj); err != nil {
			return false, fmt.Errorf("watch event: %w", err)
		}
		rv, _ := strconv.ParseInt(obj.ResourceVersion, 10, 64)
		w.mu.Lock()
		switch {
		case e.Type == "BOOKMARK":
			if rv < w.last {
				w.violations = append(w.violations, fmt.Sprintf("bookmark at %d after %d", rv, w.last))
			}
		case rv <= w.last:
			w.violations = append(w.violations, fmt.Sprintf("%s %s at %d after %d: resourceVersions must only go up", e.Type, obj.Name, rv, w.last))
		default:
			w.events = append(w.events, watchedEvent{typ: e.Type, name: obj.Name, rv: rv})
		}
		w.last = max(w.last, rv)
		w.mu.Unlock()
	}
}

// check compares the watch's record with the acknowledged writes: every one
// arrived as an event at its resourceVersion, or falls in a span a relist
// after 410 covered (and that list holds the object at it or later), and no
// two events share a resourceVersion.
func (w *rawWatch) check(t *testing.T, acked []ackedWrite) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, v := range w.violations {
		t.Errorf("raw watch: %s", v)
	}
	byRV := map[int64]watchedEvent{}
	for _, e := range w.events {
		byRV[e.rv] = e
	}
	for _, a := range acked {
		if e, ok := byRV[a.rv]; ok {
			if e.name != a.name {
				t.Errorf("raw watch: %s of %s acknowledged at %d, but the event at %d is %s of %s", a.op, a.name, a.rv, a.rv, e.typ, e.name)
			}
			continue
		}
		covered := false
		for _, r := range w.relists {
			if r.after < a.rv && a.rv <= r.rv && r.items[a.name] >= a.rv {
				covered = true
			}
		}
		if !covered {
			t.Errorf("raw watch: missed the %s of %s acknowledged at %d", a.op, a.name, a.rv)
		}
	}
}

func (w *rawWatch) summary() (events, relists, failures int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.events), len(w.relists) - 1, len(w.failures)
}

// databaseTemplates reads alice's templates (name -> resourceVersion) and
// the compaction point from the database.
func databaseTemplates(ctx context.Context, dsn string) (map[string]int64, int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT name, resource_version FROM templates WHERE namespace = $1", faultNamespace)
	if err != nil {
		return nil, 0, err
	}
	got := map[string]int64{}
	for rows.Next() {
		var name string
		var rv int64
		if err := rows.Scan(&name, &rv); err != nil {
			return nil, 0, err
		}
		got[name] = rv
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var compacted int64
	if err := conn.QueryRow(ctx, "SELECT revision FROM compaction").Scan(&compacted); err != nil {
		return nil, 0, err
	}
	return got, compacted, nil
}

// checkDurable checks in the database that every acknowledged write is
// there: its history row (unless compacted), and the object at its
// resourceVersion or a later one; and that every event the watch delivered
// is a change the database has, under that resourceVersion.
func checkDurable(t *testing.T, ctx context.Context, dsn string, acked []ackedWrite, w *rawWatch) {
	t.Helper()
	templates, compacted, err := databaseTemplates(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT rv, key FROM history WHERE resource = 'templates'")
	if err != nil {
		t.Fatal(err)
	}
	history := map[int64]string{}
	for rows.Next() {
		var rv int64
		var key string
		if err := rows.Scan(&rv, &key); err != nil {
			t.Fatal(err)
		}
		history[rv] = key
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	keyOf := func(name string) string { return "/" + faultNamespace + "/" + name }
	for _, a := range acked {
		if rv, ok := templates[a.name]; !ok || rv < a.rv {
			t.Errorf("lost: %s of %s acknowledged at %d; the database has it at %d (present: %v)", a.op, a.name, a.rv, rv, ok)
		}
		if a.rv > compacted && !strings.HasSuffix(history[a.rv], keyOf(a.name)) {
			t.Errorf("lost: %s of %s acknowledged at %d; history has %q there", a.op, a.name, a.rv, history[a.rv])
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if e.rv > compacted && !strings.HasSuffix(history[e.rv], keyOf(e.name)) {
			t.Errorf("the watch delivered %s of %s at %d, which the database does not have (history: %q)", e.typ, e.name, e.rv, history[e.rv])
		}
	}
}

// templateInformer is a plain client-go informer on alice's templates.
func startTemplateInformer(ctx context.Context, t *testing.T, ss clientset.Interface) cache.SharedIndexInformer {
	t.Helper()
	factory := informers.NewSharedInformerFactoryWithOptions(ss, 0, informers.WithNamespace(faultNamespace))
	informer := factory.Stream().V1alpha1().Templates().Informer()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("the template informer did not sync")
	}
	return informer
}

// waitInformerMatchesDatabase waits until the informer holds exactly the
// database's templates at their resourceVersions.
func waitInformerMatchesDatabase(t *testing.T, ctx context.Context, informer cache.SharedIndexInformer, dsn string) {
	t.Helper()
	var diff string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		want, _, err := databaseTemplates(ctx, dsn)
		if err != nil {
			diff = err.Error()
			return false, nil
		}
		got := map[string]int64{}
		for _, obj := range informer.GetStore().List() {
			tpl := obj.(*streamv1alpha1.Template)
			got[tpl.Name], _ = strconv.ParseInt(tpl.ResourceVersion, 10, 64)
		}
		diff = mapDiff(got, want)
		return diff == "", nil
	})
	if err != nil {
		t.Fatalf("the informer never matched the database: %s", diff)
	}
}

func mapDiff(got, want map[string]int64) string {
	var out []string
	for k, v := range want {
		if got[k] != v {
			out = append(out, fmt.Sprintf("%s: informer %d, database %d", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%s: informer %d, not in the database", k, v))
		}
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... %d more", len(out)-10))
	}
	return strings.Join(out, "; ")
}

// writeApplied reports whether history holds a version of template name
// with label seq: whether a write of unknown outcome was applied.
func writeApplied(ctx context.Context, dsn, name, seq string) (bool, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT object FROM history WHERE resource = 'templates' AND key LIKE '%/' || $1 || '/' || $2 AND object IS NOT NULL",
		faultNamespace, name)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return false, err
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
		if err != nil {
			return false, fmt.Errorf("decode a stored template: %w", err)
		}
		if tpl, ok := obj.(*streamv1alpha1.Template); ok && tpl.Labels["seq"] == seq {
			return true, nil
		}
	}
	return false, rows.Err()
}
