package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/internal/devstack"
	"github.com/streamspace/controlplane/internal/procstat"
)

// round is the figures of one fleet size.
type round struct {
	viewers, sessions int
	window            time.Duration
	load              string // load average at the end of the window
	beats             int
	errors            int
	fromDue, fromSend []time.Duration
	minutes           []minute                 // the window minute by minute, by due time
	cpu               map[string]time.Duration // process -> CPU time in the window
	machine           procstat.Machine         // all cores' time in the window
	histograms        []histogram              // the servers' latencies in the window
	slow              slowSeconds              // the window's slow seconds and who was busiest in them
	connections       int                      // Connections listed after the window
	profileTops       []profileTop
	feedMessages      int64
}

func (r round) summary() string {
	return fmt.Sprintf("%d viewers: %d heartbeats, %d errors, from due p50 %s p99 %s max %s; from send p99 %s; CPU/heartbeat streamspace-apiserver %s kube-apiserver %s postgres %s; %d connections listed; p99 by minute: %s; slow seconds: %s",
		r.viewers, r.beats, r.errors, ms(pct(r.fromDue, 50)), ms(pct(r.fromDue, 99)), ms(pct(r.fromDue, 100)), ms(pct(r.fromSend, 99)),
		r.perBeat("streamspace-apiserver"), r.perBeat("kube-apiserver"), r.perBeat("postgres"), r.connections, r.timeline(), r.slow)
}

// minute is the heartbeats due in one minute of the window: a tail that
// comes from periodic work shows as minutes whose p99 stands out.
type minute struct {
	beats, errors int
	p50, p99, max time.Duration
}

// byMinute groups samples by the minute of the window they were due in.
func byMinute(samples []sample, from time.Time) []minute {
	var lat [][]time.Duration
	var errs []int
	for _, s := range samples {
		i := int(s.due.Sub(from) / time.Minute)
		if i < 0 {
			continue
		}
		for len(lat) <= i {
			lat = append(lat, nil)
			errs = append(errs, 0)
		}
		if s.err != nil {
			errs[i]++
			continue
		}
		lat[i] = append(lat[i], s.fromDue)
	}
	out := make([]minute, len(lat))
	for i := range lat {
		out[i] = minute{beats: len(lat[i]) + errs[i], errors: errs[i], p50: pct(lat[i], 50), p99: pct(lat[i], 99), max: pct(lat[i], 100)}
	}
	return out
}

// timeline is the window's p99 from due, minute by minute.
func (r round) timeline() string {
	parts := make([]string, len(r.minutes))
	for i, m := range r.minutes {
		parts[i] = ms(m.p99)
	}
	return strings.Join(parts, ", ")
}

func (r round) perBeat(process string) string {
	if r.beats == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f ms", msf(r.cpu[process])/float64(r.beats))
}

// stackProcesses are the local control plane's processes whose CPU is read
// over a window: the heartbeat's path first, then everything else that
// shares the machine's cores with it.
var stackProcesses = []string{"streamspace-apiserver", "kube-apiserver", "postgres",
	"streamspace-controller", "streamspace-bridge", "etcd", "kube-controller-manager", "kube-scheduler", "kwok"}

// measure records every heartbeat due in the next d, and the CPU time the
// processes spend meanwhile.
func (f *fleet) measure(ctx context.Context, size int, d, profile time.Duration) (round, error) {
	pids := map[string]int{"bench-heartbeat": os.Getpid()}
	for _, name := range stackProcesses {
		pid, err := f.stack.PID(name)
		if err != nil {
			return round{}, err
		}
		pids[name] = pid
	}
	before, err := procstat.CPUs(pids, "postgres")
	if err != nil {
		return round{}, err
	}
	machineBefore, err := procstat.ReadMachine()
	if err != nil {
		return round{}, err
	}
	histBefore, err := f.scrapeHistograms(ctx, windowHistograms())
	if err != nil {
		return round{}, err
	}
	start := time.Now()
	f.mu.Lock()
	f.samples = nil
	f.windowFrom, f.windowTo = start, start.Add(d)
	f.mu.Unlock()
	logf("measuring %s at %d viewers", d, size)
	var cpuSeconds []cpuSecond
	sampled := make(chan struct{})
	sampleCtx, stopSampling := context.WithCancel(ctx)
	defer stopSampling()
	go func() {
		defer close(sampled)
		cpuSeconds = sampleCPU(sampleCtx, pids)
	}()

	// Both API servers on the heartbeat's path are profiled at once, in
	// the middle of the window: where their CPU goes, and what they
	// allocate (which sets how often their collectors run).
	var profiles []profileSpec
	for _, t := range []struct{ name, url, ca string }{
		{"streamspace-apiserver", f.stack.StreamspaceURL, f.stack.StreamspaceCA},
		{"kube-apiserver", f.stack.KubeAPIServerURL, f.stack.CACert},
	} {
		for _, k := range profileKinds {
			if k.memory && !f.o.memoryProfiles {
				continue
			}
			profiles = append(profiles, profileSpec{process: t.name, url: t.url, ca: t.ca, kind: k})
		}
	}
	profileTops := make([]profileTop, len(profiles))
	profileErrs := make([]error, len(profiles))
	var wg sync.WaitGroup
	if profile > 0 && profile < d {
		for i, p := range profiles {
			wg.Go(func() {
				time.Sleep((d - profile) / 2)
				profileTops[i] = profileTop{process: p.process, kind: p.kind}
				profileTops[i].top, profileErrs[i] = f.takeProfile(ctx, profile, p)
			})
		}
	}
	select {
	case <-time.After(d):
	case <-ctx.Done():
		return round{}, ctx.Err()
	}
	after, err := procstat.CPUs(pids, "postgres")
	if err != nil {
		return round{}, err
	}
	machineAfter, err := procstat.ReadMachine()
	if err != nil {
		return round{}, err
	}
	histAfter, err := f.scrapeHistograms(ctx, windowHistograms())
	if err != nil {
		return round{}, err
	}
	load := loadAverage()
	wg.Wait()
	var tops []profileTop
	for i, err := range profileErrs {
		if err != nil {
			logf("%s profile of %s: %v", profiles[i].kind.title, profiles[i].process, err)
		} else if profileTops[i].top != "" {
			tops = append(tops, profileTops[i])
		}
	}
	// Every heartbeat due in the window has been sent; wait for its answer.
	answered := make(chan struct{})
	go func() { f.inWindow.Wait(); close(answered) }()
	select {
	case <-answered:
	case <-time.After(2 * time.Minute):
		return round{}, fmt.Errorf("heartbeats of the window still unanswered after 2 minutes")
	}
	f.mu.Lock()
	samples := f.samples
	f.samples = nil
	f.mu.Unlock()
	stopSampling()
	<-sampled
	secs := bySecond(samples, cpuSeconds, start)
	processes := append([]string{"bench-heartbeat"}, stackProcesses...)
	if f.o.trace != "" {
		path := fmt.Sprintf("%s.%d", f.o.trace, size)
		if err := writeTrace(path, secs, processes); err != nil {
			return round{}, fmt.Errorf("trace: %w", err)
		}
		logf("window second by second in %s", path)
	}

	r := round{viewers: size, sessions: f.sessionCount(), window: d, load: load, profileTops: tops, cpu: map[string]time.Duration{},
		machine: machineAfter.Sub(machineBefore), slow: attribute(secs, processes)}
	for i := range histAfter {
		r.histograms = append(r.histograms, histAfter[i].since(histBefore[i]))
	}
	for name := range pids {
		r.cpu[name] = after[name] - before[name]
	}
	r.minutes = byMinute(samples, f.windowFrom)
	for _, s := range samples {
		r.beats++
		if s.err != nil {
			r.errors++
			continue
		}
		r.fromDue = append(r.fromDue, s.fromDue)
		r.fromSend = append(r.fromSend, s.fromSend)
	}
	list, err := f.admin.StreamV1alpha1().Connections("").List(ctx, metav1.ListOptions{})
	if err != nil {
		return r, fmt.Errorf("list connections: %w", err)
	}
	r.connections = len(list.Items)
	return r, nil
}

func loadAverage() string {
	data, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(data))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// profileTop is the first entries of one process's CPU profile.
type profileTop struct {
	process, top string
	kind         profileKind
}

// profileKind is one of the runtime's profiles served under /debug/pprof.
type profileKind struct {
	title       string // as the report names it
	path        string // under /debug/pprof/
	sampleIndex string // what `go tool pprof` ranks by
	// cumulative profiles (allocations) are taken as two snapshots d
	// apart and differenced here, with `go tool pprof -base`, rather than
	// with the server's ?seconds= (which parses and merges the two in the
	// process being measured).
	cumulative bool
	// snapshot profiles (the live heap) are taken once, at the end.
	snapshot bool
	// memory profiles are taken only with --memory-profiles: while one
	// was written, a kube-apiserver under this load stalled its requests
	// for seconds (docs/heartbeats.md, rounds 23 to 25).
	memory bool
}

// profileKinds are the profiles taken of each API server: CPU, the bytes
// allocated over the same seconds (which set how often its collector
// runs), and the live heap at their end (which sets how long each of its
// cycles marks).
var profileKinds = []profileKind{
	{title: "CPU", path: "profile", sampleIndex: "cpu"},
	{title: "Allocation", path: "allocs", sampleIndex: "alloc_space", cumulative: true, memory: true},
	{title: "Live heap", path: "heap", sampleIndex: "inuse_space", snapshot: true, memory: true},
}

// profileSpec is one profile to take: of which server, and which kind.
type profileSpec struct {
	process, url, ca string
	kind             profileKind
}

// takeProfile takes profile p of its API server over d (its /debug/pprof,
// directly, as the admin; p.ca signs its serving certificate), keeps it in
// the temporary directory and returns `go tool pprof -top`'s first entries.
func (f *fleet) takeProfile(ctx context.Context, d time.Duration, p profileSpec) (string, error) {
	client, err := f.adminClient(p.ca, d+time.Minute)
	if err != nil {
		return "", err
	}
	get := func(query string) (string, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, fmt.Sprintf("%s/debug/pprof/%s%s", p.url, p.kind.path, query), nil)
		if err != nil {
			return "", err
		}
		resp, err := client.Do(req)
		if err != nil {
			return "", err
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return "", err
		}
		if resp.StatusCode != http.StatusOK {
			return "", fmt.Errorf("GET /debug/pprof/%s: %s: %s", p.kind.path, resp.Status, strings.TrimSpace(string(data)))
		}
		path := filepath.Join(os.TempDir(), fmt.Sprintf("%s-heartbeat-%s-%d.pprof", p.process, p.kind.path, time.Now().Unix()))
		return path, os.WriteFile(path, data, 0o644)
	}
	wait := func() error {
		select {
		case <-time.After(d):
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	args := []string{"tool", "pprof", "-top", "-nodecount=15", "-sample_index=" + p.kind.sampleIndex}
	var path string
	switch {
	case p.kind.cumulative:
		base, err := get("")
		if err == nil {
			err = wait()
		}
		if err == nil {
			path, err = get("")
		}
		if err != nil {
			return "", err
		}
		args = append(args, "-base", base)
		logf("%s profile of %s: %s less %s", p.kind.title, p.process, path, base)
	case p.kind.snapshot:
		if err := wait(); err != nil {
			return "", err
		}
		if path, err = get(""); err != nil {
			return "", err
		}
		logf("%s profile of %s in %s", p.kind.title, p.process, path)
	default:
		if path, err = get(fmt.Sprintf("?seconds=%d", int(d.Seconds()))); err != nil {
			return "", err
		}
		logf("%s profile of %s in %s", p.kind.title, p.process, path)
	}
	out, err := exec.CommandContext(ctx, "go", append(args, path)...).Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for i, l := range lines {
		if strings.HasPrefix(strings.TrimSpace(l), "flat") {
			return strings.Join(lines[i-1:], "\n"), nil
		}
	}
	return strings.Join(lines, "\n"), nil
}

// adminClient talks to an API server of the stack directly (not through
// the aggregator) as the admin, with its client certificate, trusting the
// serving certificates caFile signs.
func (f *fleet) adminClient(caFile string, timeout time.Duration) (*http.Client, error) {
	pair, err := tls.LoadX509KeyPair(filepath.Join(f.stack.Dir, "pki", "admin.crt"), filepath.Join(f.stack.Dir, "pki", "admin.key"))
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &http.Client{Timeout: timeout, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, Certificates: []tls.Certificate{pair}}}}, nil
}

// tableInfo is one table's rows and size at the end.
type tableInfo struct {
	name  string
	rows  int64
	bytes int64
}

func tableSizes(ctx context.Context, dsn string) ([]tableInfo, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, fmt.Errorf("connect to postgres: %w", err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT relname, pg_total_relation_size(relid) FROM pg_stat_user_tables ORDER BY pg_total_relation_size(relid) DESC LIMIT 8`)
	if err != nil {
		return nil, err
	}
	var out []tableInfo
	for rows.Next() {
		var t tableInfo
		if err := rows.Scan(&t.name, &t.bytes); err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for i := range out {
		if err := conn.QueryRow(ctx, "SELECT count(*) FROM "+pgx.Identifier{out[i].name}.Sanitize()).Scan(&out[i].rows); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// feeds are WebSocket clients of the bridge's sessions feed, read and
// counted only: they put the bridge's watches on the API during the run.
type feeds struct {
	conns    []*websocket.Conn
	messages atomic.Int64
}

func (fs *feeds) close() {
	for _, c := range fs.conns {
		c.Close()
	}
}

func openFeeds(ctx context.Context, stack *devstack.Stack, users []string, n int) (*feeds, error) {
	fs := &feeds{}
	url := "ws" + strings.TrimPrefix(stack.BridgeURL, "http") + "/api/v1/ws/sessions"
	dialer := websocket.Dialer{HandshakeTimeout: 30 * time.Second}
	for i := range n {
		user := users[i%len(users)]
		token, err := stack.UserToken(user)
		if err != nil {
			return fs, err
		}
		proto := "streamspace.v1, base64url.bearer.authorization.k8s.io." + base64.RawURLEncoding.EncodeToString([]byte(token))
		conn, _, err := dialer.DialContext(ctx, url, map[string][]string{"Sec-WebSocket-Protocol": {proto}})
		if err != nil {
			return fs, fmt.Errorf("open feed %d as %s: %w", i, user, err)
		}
		fs.conns = append(fs.conns, conn)
		go func() {
			for {
				if _, _, err := conn.ReadMessage(); err != nil {
					return
				}
				fs.messages.Add(1)
			}
		}()
	}
	return fs, nil
}

func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := (len(s)*p + 99) / 100
	return s[min(max(i-1, 0), len(s)-1)]
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d.Microseconds())/1000) }
