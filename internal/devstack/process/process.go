// Package process supervises the children of a dev stack: each in a
// process group of its own, its output in a log file, its pid in a pid
// file, stopped with SIGTERM then SIGKILL, and reported when it exits on
// its own. It also finds and stops what a killed owner left behind, and
// holds the lock that keeps two owners out of one state directory.
package process

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// StopGrace is how long a component gets between SIGTERM and SIGKILL.
const StopGrace = 15 * time.Second

// Group is the set of running children of one owner.
type Group struct {
	dir     string
	logFile func(name string) string
	pidFile func(name string) string
	logf    func(format string, args ...any)

	mu       sync.Mutex
	procs    []*Process // in start order
	stopping bool
	failed   chan error
}

// NewGroup starts children in dir, with their output in logFile(name) and
// their pid in pidFile(name); logf receives progress lines.
func NewGroup(dir string, logFile, pidFile func(name string) string, logf func(format string, args ...any)) *Group {
	return &Group{dir: dir, logFile: logFile, pidFile: pidFile, logf: logf, failed: make(chan error, 1)}
}

// Process is one child, in a process group of its own.
type Process struct {
	Name    string
	LogPath string
	cmd     *exec.Cmd
	pidPath string
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// Start starts path with args; the child's output goes to its log file
// (truncated), and it dies with its owner (see procAttr).
func (g *Group) Start(name, path string, args []string, env []string) (*Process, error) {
	logPath := g.logFile(name)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logFile.Close() // the child has its own copy of the descriptor
	fmt.Fprintf(logFile, "# %s %s\n", path, strings.Join(args, " "))

	// Not exec.CommandContext: the context bounds the start-up only, and
	// Stop kills the whole group gracefully rather than the leader with SIGKILL.
	cmd := exec.Command(path, args...)
	cmd.Dir = g.dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = procAttr()
	p := &Process{Name: name, cmd: cmd, LogPath: logPath, pidPath: g.pidFile(name), done: make(chan struct{})}
	// Start and wait on one locked OS thread: Linux sends Pdeathsig when the
	// thread that forked the child ends, not only when the process does.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		p.waitErr = cmd.Wait()
		close(p.done)
		g.mu.Lock()
		unexpected := !g.stopping && g.has(p)
		g.mu.Unlock()
		if unexpected {
			err := fmt.Errorf("%s exited unexpectedly (%v); log %s:\n%s", name, p.waitErr, logPath, Tail(logPath, 20))
			g.logf("%v", err)
			select {
			case g.failed <- err:
			default:
			}
		}
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := WritePid(p.pidPath, cmd.Process.Pid); err != nil {
		_ = p.Stop()
		return nil, fmt.Errorf("write pid file of %s: %w", name, err)
	}
	g.mu.Lock()
	g.procs = append(g.procs, p)
	g.mu.Unlock()
	g.logf("started %s (pid %d, log %s)", name, cmd.Process.Pid, logPath)
	return p, nil
}

// Failed delivers an error when a child exits on its own.
func (g *Group) Failed() <-chan error { return g.failed }

// Get is the running child called name, or nil.
func (g *Group) Get(name string) *Process {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, p := range g.procs {
		if p.Name == name {
			return p
		}
	}
	return nil
}

// Remove forgets p, so its exit is no longer reported as a failure.
func (g *Group) Remove(p *Process) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for i, q := range g.procs {
		if q == p {
			g.procs = append(g.procs[:i], g.procs[i+1:]...)
			return
		}
	}
}

// Stop stops p after removing it from the group, so its exit is not
// reported as a failure.
func (g *Group) Stop(p *Process) error {
	g.Remove(p)
	return p.Stop()
}

// Kill is Stop with SIGKILL at once, as a crash would end p.
func (g *Group) Kill(p *Process) {
	g.Remove(p)
	p.Kill()
}

// Stopping marks the group as stopping (exits are expected from now on) and
// returns its children in start order.
func (g *Group) Stopping() []*Process {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.stopping = true
	return append([]*Process(nil), g.procs...)
}

func (g *Group) has(p *Process) bool {
	for _, q := range g.procs {
		if q == p {
			return true
		}
	}
	return false
}

// Pid is the process id of the child (the leader of its process group).
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Exited reports whether the process has ended, with its error.
func (p *Process) Exited() (bool, error) {
	select {
	case <-p.done:
		return true, fmt.Errorf("%s exited (%v); log %s:\n%s", p.Name, p.waitErr, p.LogPath, Tail(p.LogPath, 30))
	default:
		return false, nil
	}
}

// Stop sends SIGTERM to the process group, then SIGKILL after StopGrace.
func (p *Process) Stop() error {
	defer os.Remove(p.pidPath)
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(StopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Anything left in the group (children of the child) goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

// Kill sends SIGKILL to the process group and waits for the exit.
func (p *Process) Kill() {
	defer os.Remove(p.pidPath)
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
	<-p.done
}

// StopAll stops procs in parallel.
func StopAll(procs []*Process) []error {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, p := range procs {
		wg.Go(func() {
			if err := p.Stop(); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return errs
}

// Tail returns the last n lines of a file, for error messages.
func Tail(path string, n int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(cannot read %s: %v)", path, err)
	}
	data = bytes.TrimRight(data, "\n")
	lines := bytes.Split(data, []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + string(bytes.Join(lines, []byte("\n    ")))
}

// WritePid writes pid to path.
func WritePid(path string, pid int) error {
	return os.WriteFile(path, []byte(strconv.Itoa(pid)), 0o644)
}

// ReadPid reads the pid on the first line of path.
func ReadPid(path string) (int, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	return pid, err == nil && pid > 1
}

// WaitGone waits up to timeout, polling every interval, until pid has exited
// (or is a zombie its parent has yet to reap); it reports whether it has.
func WaitGone(pid int, interval, timeout time.Duration) bool {
	err := wait.PollUntilContextTimeout(context.Background(), interval, timeout, true, func(context.Context) (bool, error) {
		return !Alive(pid) || Zombie(pid), nil
	})
	return err == nil
}
