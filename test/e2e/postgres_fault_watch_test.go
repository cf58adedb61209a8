package e2e

// A raw watch of Templates through a database fault: it relists on 410 and
// records every event, so the test can check no acknowledged write was missed.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

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
