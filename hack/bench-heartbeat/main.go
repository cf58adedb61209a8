// Command bench-heartbeat measures the steady write load of a fleet of
// viewers (make bench-heartbeat): on the local control plane, with
// streamspace-controller and streamspace-bridge running, it creates Sessions
// and 1-4 open Connections on each, spread over many users, and sends every
// connection's heartbeat every --interval as its owner would (the user's own
// token, through kube-apiserver's aggregator). The schedule is open loop: a
// heartbeat is due at its time whether or not the server has answered the
// previous ones, and its latency is taken from that time as well as from
// the moment it was sent. For each fleet size it reports the latency
// percentiles and errors, the CPU time of streamspace-apiserver,
// kube-apiserver and Postgres per heartbeat, and the size of the tables at
// the end, and writes them into docs/benchmarks.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/internal/benchdoc"
	"github.com/streamspace/controlplane/internal/devstack"
)

type options struct {
	out             string
	dir             string
	sizes           []int
	duration        time.Duration
	interval        time.Duration
	users           int
	feeds           int
	timeout         time.Duration
	keep            bool
	profile         time.Duration
	memoryProfiles  bool
	streamspaceArgs []string
	controllerArgs  []string
	label           string
	trace           string
}

func (o *options) addFlags(fs *flag.FlagSet) {
	fs.StringVar(&o.out, "out", "docs/benchmarks.md", "markdown file whose bench-heartbeat section is (re)written; empty: print only")
	fs.StringVar(&o.dir, "dir", "", "state directory of the control plane (default: a new temporary directory, removed afterwards)")
	fs.Func("sizes", "viewers (open Connections) of each measured fleet, in increasing order (default 5000,10000,20000)", func(v string) error {
		o.sizes = nil
		for _, f := range strings.Split(v, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n <= 0 {
				return fmt.Errorf("bad size %q", f)
			}
			o.sizes = append(o.sizes, n)
		}
		return nil
	})
	fs.DurationVar(&o.duration, "duration", 10*time.Minute, "measured time per size (after one --interval of warm-up at that size)")
	fs.DurationVar(&o.interval, "interval", 30*time.Second, "heartbeat period of every viewer")
	fs.IntVar(&o.users, "users", 200, "users (each with a namespace and a token) the sessions are spread over")
	fs.IntVar(&o.feeds, "feeds", 200, "WebSocket session feeds of the bridge kept open during the run, spread over the users")
	fs.DurationVar(&o.timeout, "timeout", 3*time.Hour, "bound of the whole run")
	fs.BoolVar(&o.keep, "keep", false, "leave the control plane running at the end (and its directory)")
	fs.DurationVar(&o.profile, "profile", 30*time.Second, "CPU profiles of streamspace-apiserver and kube-apiserver taken this long during the last size's window (0: none); their top entries go into the report")
	fs.BoolVar(&o.memoryProfiles, "memory-profiles", false, "with the CPU profiles, take the servers' allocations over the same seconds and their live heaps at the end; writing a memory profile can stall a large kube-apiserver for seconds, and the window's latencies then include the stall")
	fs.Func("streamspace-arg", "extra flag for streamspace-apiserver (repeatable)", func(v string) error {
		o.streamspaceArgs = append(o.streamspaceArgs, v)
		return nil
	})
	fs.Func("controller-arg", "extra flag for streamspace-controller (repeatable)", func(v string) error {
		o.controllerArgs = append(o.controllerArgs, v)
		return nil
	})
	fs.StringVar(&o.trace, "trace", "", "write each measured window second by second (heartbeats due, their latency, each process's CPU) to this file, suffixed with the size; empty: none")
	fs.StringVar(&o.label, "label", "", "a note on what was measured, printed with the tables (e.g. the design)")
}

func (o *options) validate() error {
	if len(o.sizes) == 0 {
		o.sizes = []int{5000, 10000, 20000}
	}
	for i := 1; i < len(o.sizes); i++ {
		if o.sizes[i] <= o.sizes[i-1] {
			return fmt.Errorf("--sizes must increase")
		}
	}
	if o.users < 1 || o.feeds < 0 || o.interval <= 0 || o.duration <= 0 {
		return fmt.Errorf("--users must be positive, --feeds not negative, --interval and --duration positive")
	}
	return nil
}

func main() {
	o := &options{}
	o.addFlags(flag.CommandLine)
	klog.InitFlags(nil)
	flag.Parse()
	if err := o.validate(); err != nil {
		fmt.Fprintln(os.Stderr, "bench-heartbeat:", err)
		os.Exit(2)
	}
	if err := run(o); err != nil {
		fmt.Fprintln(os.Stderr, "bench-heartbeat:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench-heartbeat: "+format+"\n", append([]any{time.Now().Format("15:04:05")}, args...)...)
}

// raiseFileLimit lifts the soft limit on open files to the hard one before
// the stack starts, so its processes inherit it: the feeds and the users'
// client connections are sockets on both ends.
func raiseFileLimit() error {
	var limit syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &limit); err != nil {
		return err
	}
	if limit.Cur < limit.Max {
		limit.Cur = limit.Max
		return syscall.Setrlimit(syscall.RLIMIT_NOFILE, &limit)
	}
	return nil
}

func userName(i int) string { return fmt.Sprintf("viewer-%03d", i) }

func run(o *options) error {
	if err := raiseFileLimit(); err != nil {
		return fmt.Errorf("raise the open files limit: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	dir := o.dir
	if dir == "" {
		tmp, err := os.MkdirTemp("", "streamspace-bench-heartbeat-")
		if err != nil {
			return err
		}
		if !o.keep {
			defer os.RemoveAll(tmp)
		}
		dir = tmp
	}
	began := time.Now()
	machine := benchdoc.Machine()
	commit := benchdoc.Commit()
	users := make([]string, o.users)
	for i := range users {
		users[i] = userName(i)
	}
	stack, err := devstack.Start(ctx, devstack.Config{
		Dir: dir, Log: os.Stderr, Users: users, Timeout: 15 * time.Minute,
		StreamspaceArgs: o.streamspaceArgs,
		ControllerArgs:  o.controllerArgs,
		// The feeds come from one address and several per user.
		BridgeArgs: []string{"--max-feeds-per-user=0", "--user-request-rate=0", fmt.Sprintf("--ip-request-burst=%d", o.feeds+100)},
	})
	if err != nil {
		return fmt.Errorf("start the control plane: %w", err)
	}
	if !o.keep {
		defer func() {
			if err := stack.Stop(); err != nil {
				klog.ErrorS(err, "stop the control plane")
			}
		}()
	} else {
		logf("control plane kept running in %s", dir)
	}
	f, err := newFleet(ctx, stack, o)
	if err != nil {
		return err
	}
	defer f.stop()
	feeds, err := openFeeds(ctx, stack, users, o.feeds)
	defer feeds.close()
	if err != nil {
		return err
	}
	logf("%d bridge feeds open", len(feeds.conns))

	var rounds []round
	for i, size := range o.sizes {
		logf("growing the fleet to %d viewers", size)
		if err := f.grow(ctx, size); err != nil {
			return err
		}
		logf("warming up for %s at %d viewers", o.interval, size)
		select {
		case <-time.After(o.interval):
		case <-ctx.Done():
			return ctx.Err()
		}
		profile := time.Duration(0)
		if i == len(o.sizes)-1 {
			profile = o.profile
		}
		r, err := f.measure(ctx, size, o.duration, profile)
		if err != nil {
			return err
		}
		r.feedMessages = feeds.messages.Load()
		rounds = append(rounds, r)
		logf("%s", r.summary())
		logf("cores in the window:\n%s", coresTable([]round{r}))
		logf("latencies inside the servers:\n%s", histogramTable([]round{r}))
	}
	tables, err := tableSizes(ctx, stack.PostgresDSN)
	if err != nil {
		return err
	}
	rep := report{
		options: o, machine: machine, commit: commit, began: began, finished: time.Now(),
		rounds: rounds, tables: tables, feeds: len(feeds.conns), sessions: f.sessionCount(),
		loadEnd: loadAverage(),
	}
	fmt.Print(rep.markdown())
	if o.out != "" {
		if err := benchdoc.Replace(o.out, sectionBegin, sectionEnd, rep.markdown()); err != nil {
			return err
		}
		logf("wrote the bench-heartbeat section of %s", o.out)
	}
	return nil
}

// The markers of this program's section of docs/benchmarks.md.
var sectionBegin, sectionEnd = benchdoc.Markers("bench-heartbeat")
