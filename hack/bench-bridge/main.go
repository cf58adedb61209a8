// Command bench-bridge measures streamspace-bridge's fan-out on the local
// control plane (make bench-bridge): many concurrent WebSocket clients of
// the sessions feed, split between the sample users alice and bob, and the
// time from a write (a client-go create or patch of a Session) to its
// session_change message on every client that may see it. The figures go
// into the bridge section of docs/benchmarks.md.
package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/streamspace/controlplane/internal/benchdoc"

	"github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/internal/devstack"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

type options struct {
	out     string
	dir     string
	clients int
	writes  int
	timeout time.Duration
	// attack: requests with made-up tokens sent while the writes are timed
	// a second time; 0 skips the attack.
	attack            int
	attackConcurrency int
	attackSources     int
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "markdown file whose bench-bridge section is (re)written; empty: print only")
	fs.StringVar(&o.dir, "dir", "", "state directory of the control plane (default: a new temporary directory, removed afterwards)")
	fs.IntVar(&o.clients, "clients", 1000, "concurrent WebSocket clients, half alice's, half bob's")
	fs.IntVar(&o.writes, "writes", 40, "timed writes: half creates, half patches, alternating between alice and bob")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "bound of the whole run")
	fs.IntVar(&o.attack, "attack", 100000, "requests with distinct made-up tokens sent to the bridge while the writes are timed again (0: no attack)")
	fs.IntVar(&o.attackConcurrency, "attack-concurrency", 16, "attack requests in flight")
	fs.IntVar(&o.attackSources, "attack-sources", 64, "loopback source addresses (127.0.0.2, ...) the attack comes from, so it is not only the per-IP limit that answers it")
}

func (o *options) validate() error {
	if o.attack < 0 || o.attackConcurrency < 1 || o.attackSources < 1 || o.attackSources > 60000 {
		return fmt.Errorf("--attack must not be negative, --attack-concurrency at least 1, --attack-sources 1-60000")
	}
	if o.clients < 2 || o.writes < 4 || o.writes%2 != 0 {
		return fmt.Errorf("--clients must be at least 2 and --writes even and at least 4, got %d and %d", o.clients, o.writes)
	}
	return nil
}

func main() {
	o := &options{}
	o.addFlags(flag.CommandLine)
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-bridge:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-bridge:", err)
		os.Exit(1)
	}
}

// raiseFileLimit lifts the soft limit on open files to the hard one, before
// the stack starts, so the bridge (a child) inherits it too: every client
// is a socket on both ends.
func raiseFileLimit(need uint64) error {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return fmt.Errorf("read the open files limit: %w", err)
	}
	if limit.Cur < limit.Max {
		limit.Cur = limit.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
			return fmt.Errorf("raise the open files limit to %d: %w", limit.Max, err)
		}
	}
	if limit.Cur < need {
		return fmt.Errorf("the open files limit is %d, the run needs about %d (raise the hard limit: ulimit -Hn)", limit.Cur, need)
	}
	return nil
}

func run(o *options) error {
	if err := raiseFileLimit(uint64(o.clients) + 1024); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	dir := o.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "streamspace-bench-bridge-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(tmp)
		dir = tmp
	}
	began := time.Now()
	// The bench opens 1,000 feeds of two users from one address: far over
	// the per-user limits and the per-IP burst a bridge has by default.
	stack, err := devstack.Start(ctx, devstack.Config{Dir: dir, Log: os.Stderr, BridgeArgs: []string{
		"--max-feeds-per-user=0", "--user-request-rate=0", fmt.Sprintf("--ip-request-burst=%d", o.clients+100),
	}})
	if err != nil {
		return fmt.Errorf("start the control plane: %w", err)
	}
	defer func() {
		if err := stack.Stop(); err != nil {
			klog.ErrorS(err, "stop the control plane")
		}
	}()

	users := []string{"alice", "bob"}
	writers := map[string]clientset.Interface{}
	for _, u := range users {
		cfg, err := stack.RESTConfig(u)
		if err != nil {
			return err
		}
		cfg.QPS, cfg.Burst = 100, 200
		if writers[u], err = clientset.NewForConfig(cfg); err != nil {
			return err
		}
	}

	fmt.Fprintf(os.Stderr, "opening %d feeds…\n", o.clients)
	connectStart := time.Now()
	feeds, err := openFeeds(ctx, stack, users, o.clients)
	defer func() {
		for _, f := range feeds {
			f.conn.Close()
		}
	}()
	if err != nil {
		return err
	}
	connectTime := time.Since(connectStart)
	fmt.Fprintf(os.Stderr, "%d feeds open in %s\n", len(feeds), connectTime.Round(time.Millisecond))

	all, lastPerWrite, created, err := timeWrites(ctx, o.writes, users, writers, feeds)
	if err != nil {
		return err
	}
	var attacked *attackResult
	if o.attack > 0 {
		pid, err := stack.PID("streamspace-bridge")
		if err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "timing %d writes again during %d requests with made-up tokens…\n", o.writes, o.attack)
		attacked, err = runAttack(ctx, stack.BridgeURL, pid, o, func() ([]time.Duration, []time.Duration, []string, error) {
			return timeWrites(ctx, o.writes, users, writers, feeds)
		})
		if err != nil {
			return err
		}
		created = append(created, attacked.created...)
	}
	leaked := 0
	for _, f := range feeds {
		leaked += int(f.foreign.Load())
	}
	for _, u := range users {
		for _, n := range created {
			_ = writers[u].StreamV1alpha1().Sessions(u).Delete(context.Background(), n, metav1.DeleteOptions{})
		}
	}

	r := result{
		machine: benchdoc.Machine(), date: began, clients: len(feeds), writes: o.writes,
		connect: connectTime, all: all, last: lastPerWrite, leaked: leaked, attack: attacked,
	}
	fmt.Print(r.markdown())
	if o.out != "" {
		if err := benchdoc.Replace(o.out, sectionBegin, sectionEnd, r.markdown()); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "wrote the bridge section of %s\n", o.out)
	}
	return nil
}

// timeWrites makes writes one at a time as the users in turn (half creates,
// half patches) and times each to its delivery on every feed of that user.
func timeWrites(ctx context.Context, writes int, users []string, writers map[string]clientset.Interface, feeds []*feed) (all, lastPerWrite []time.Duration, created []string, err error) {
	prefix := fmt.Sprintf("bench-%x", time.Now().UnixNano()&0xffffff)
	for i := 0; i < writes; i++ {
		user := users[i%2]
		var name, change, tag string
		var write func() error
		if i < writes/2 {
			name, change = fmt.Sprintf("%s-%d", prefix, i), "added"
			created = append(created, name)
			write = func() error {
				_, err := writers[user].StreamV1alpha1().Sessions(user).Create(ctx, &streamv1alpha1.Session{
					ObjectMeta: metav1.ObjectMeta{Name: name},
					Spec:       streamv1alpha1.SessionSpec{Template: "firefox", State: "hibernated"},
				}, metav1.CreateOptions{})
				return err
			}
		} else {
			// patch a session of this user created earlier (same parity)
			name, change = created[(i-writes/2)/2*2+i%2], "modified"
			tag = fmt.Sprintf("t%d", i)
			write = func() error {
				_, err := writers[user].StreamV1alpha1().Sessions(user).Patch(ctx, name, types.MergePatchType,
					[]byte(`{"spec":{"tags":["`+tag+`"]}}`), metav1.PatchOptions{})
				return err
			}
		}
		expect := expectation{change: change, name: name, tag: tag}
		var audience []*feed
		for _, f := range feeds {
			if f.user == user {
				f.expect(expect)
				audience = append(audience, f)
			}
		}
		start := time.Now()
		if err := write(); err != nil {
			return nil, nil, nil, fmt.Errorf("write %d (%s %s as %s): %w", i, change, name, user, err)
		}
		var last time.Duration
		for _, f := range audience {
			select {
			case at := <-f.delivered:
				d := at.Sub(start)
				all = append(all, d)
				last = max(last, d)
			case <-time.After(30 * time.Second):
				return nil, nil, nil, fmt.Errorf("write %d (%s %s): a feed of %s got nothing within 30s", i, change, name, user)
			}
		}
		lastPerWrite = append(lastPerWrite, last)
		// Let the coalesced snapshots of this write go out before the next.
		time.Sleep(300 * time.Millisecond)
	}
	return all, lastPerWrite, created, nil
}

// expectation is the message a write must produce: its change, the
// session and, for a patch, the tag it set (the session controller's own
// status writes are modifications too).
type expectation struct{ change, name, tag string }

// feed is one WebSocket client of the sessions feed.
type feed struct {
	user      string
	conn      *websocket.Conn
	mu        sync.Mutex
	want      expectation
	delivered chan time.Time
	foreign   atomic.Int64
}

func (f *feed) expect(e expectation) {
	f.mu.Lock()
	f.want = e
	f.mu.Unlock()
}

// read delivers the arrival time of the expected change and counts any
// session of another namespace (there must be none).
func (f *feed) read(first chan<- error) {
	firstSeen := false
	for {
		_, data, err := f.conn.ReadMessage()
		if err != nil {
			if !firstSeen {
				first <- err
			}
			return
		}
		at := time.Now()
		var m struct {
			Type    string `json:"type"`
			Change  string `json:"change"`
			Session struct {
				Name      string   `json:"name"`
				Namespace string   `json:"namespace"`
				Tags      []string `json:"tags"`
			} `json:"session"`
		}
		if err := json.Unmarshal(data, &m); err != nil {
			continue
		}
		if m.Type == "sessions_update" && !firstSeen {
			firstSeen = true
			first <- nil
		}
		if m.Type != "session_change" {
			continue
		}
		if m.Session.Namespace != f.user {
			f.foreign.Add(1)
		}
		f.mu.Lock()
		match := m.Change == f.want.change && m.Session.Name == f.want.name && (f.want.tag == "" || slices.Contains(m.Session.Tags, f.want.tag))
		if match {
			f.want = expectation{}
		}
		f.mu.Unlock()
		if match {
			f.delivered <- at
		}
	}
}

// openFeeds opens n sessions feeds, alternating users, 50 handshakes at a
// time, and returns once each has had its first snapshot.
func openFeeds(ctx context.Context, stack *devstack.Stack, users []string, n int) ([]*feed, error) {
	url := "ws" + strings.TrimPrefix(stack.BridgeURL, "http") + "/api/v1/ws/sessions"
	headers := map[string][]string{}
	for _, u := range users {
		token, err := stack.UserToken(u)
		if err != nil {
			return nil, err
		}
		headers[u] = []string{"streamspace.v1, base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte(token))}
	}
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	feeds := make([]*feed, n)
	errs := make(chan error, n)
	slots := make(chan struct{}, 50)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		slots <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			user := users[i%len(users)]
			conn, _, err := dialer.DialContext(ctx, url, map[string][]string{"Sec-WebSocket-Protocol": headers[user]})
			if err != nil {
				errs <- fmt.Errorf("open feed %d as %s: %w", i, user, err)
				return
			}
			f := &feed{user: user, conn: conn, delivered: make(chan time.Time, 4)}
			feeds[i] = f
			first := make(chan error, 1)
			go f.read(first)
			select {
			case err := <-first:
				if err != nil {
					errs <- fmt.Errorf("feed %d as %s: %w", i, user, err)
				}
			case <-time.After(30 * time.Second):
				errs <- fmt.Errorf("feed %d as %s: no first snapshot within 30s", i, user)
			}
		}()
	}
	wg.Wait()
	close(errs)
	var open []*feed
	for _, f := range feeds {
		if f != nil {
			open = append(open, f)
		}
	}
	if err := <-errs; err != nil {
		return open, err
	}
	return open, nil
}

type result struct {
	machine   string
	date      time.Time
	clients   int
	writes    int
	connect   time.Duration
	all, last []time.Duration
	leaked    int
	attack    *attackResult
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := append([]time.Duration(nil), d...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	if len(s) == 0 {
		return 0
	}
	i := int(p*float64(len(s))+0.5) - 1
	return s[min(max(i, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }

func (r result) markdown() string {
	var b strings.Builder
	fmt.Fprintln(&b, sectionBegin)
	fmt.Fprintln(&b, "## Bridge: write-to-WebSocket delivery with 1,000 clients (`make bench-bridge`)")
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "`make bench-bridge` (`hack/bench-bridge`, about a minute) starts the local control plane, opens")
	fmt.Fprintf(&b, "%d WebSocket clients of `/api/v1/ws/sessions` on streamspace-bridge, half with alice's token and half\n", r.clients)
	fmt.Fprintln(&b, "with bob's (each after its first `sessions_update`), then makes writes one at a time with client-go as")
	fmt.Fprintf(&b, "alice or bob, in turn (%d: half Session creates, half patches), and times each write, from just before\n", r.writes)
	fmt.Fprintln(&b, "the API call to the arrival of its `session_change` message, on every client of that user (the other")
	fmt.Fprintln(&b, "user's clients must not receive it: counted below). Clients, bridge and the whole control plane share")
	fmt.Fprintln(&b, "the machine's cores.")
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Last run %s on %s.\n", r.date.Format("2006-01-02"), r.machine)
	fmt.Fprintln(&b)
	fmt.Fprintln(&b, "| figure | p50 | p99 | max |")
	fmt.Fprintln(&b, "|---|---|---|---|")
	fmt.Fprintf(&b, "| write → delivery, every client (%d deliveries) | %s | %s | %s |\n", len(r.all), ms(percentile(r.all, .5)), ms(percentile(r.all, .99)), ms(percentile(r.all, 1)))
	fmt.Fprintf(&b, "| write → delivery on the last of its %d clients (%d writes) | %s | %s | %s |\n", r.clients/2, len(r.last), ms(percentile(r.last, .5)), ms(percentile(r.last, .99)), ms(percentile(r.last, 1)))
	fmt.Fprintln(&b)
	fmt.Fprintf(&b, "Opening the %d feeds (50 handshakes in flight, each waiting for its first snapshot) took %s. Messages\n", r.clients, r.connect.Round(time.Millisecond))
	fmt.Fprintf(&b, "of the other user's namespace seen by any client: %d. The feeds of one token share one watch of the\n", r.leaked)
	fmt.Fprintln(&b, "API (`pkg/bridge/feed/watchpool.go`), so a write costs one watch event per user and the fan-out to that user's")
	fmt.Fprintln(&b, "clients happens in the bridge; the time is mostly the API (create/patch through the aggregator, then the")
	fmt.Fprintln(&b, "watch event) plus queueing a message on 500 clients.")
	if r.attack != nil {
		r.attack.markdown(&b, r.clients)
	}
	fmt.Fprintln(&b, sectionEnd)
	return b.String()
}

// The markers of this program's section of docs/benchmarks.md.
var sectionBegin, sectionEnd = benchdoc.Markers("bench-bridge")
