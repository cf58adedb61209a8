package devstack

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// stopGrace is how long a component gets between SIGTERM and SIGKILL.
const stopGrace = 15 * time.Second

// process is one child of the stack, in a process group of its own, with its
// output in a log file and its pid in <Dir>/run/<name>.pid.
type process struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	pidPath string
	done    chan struct{} // closed when the process has exited
	waitErr error
}

// startProcess starts path with args; the child's output goes to
// logs/<name>.log (truncated), and it dies with its owner (see procAttr).
func (s *Stack) startProcess(name, path string, args []string, env []string) (*process, error) {
	logPath := s.paths.log(name)
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	defer logFile.Close() // the child has its own copy of the descriptor
	fmt.Fprintf(logFile, "# %s %s\n", path, strings.Join(args, " "))

	// Not exec.CommandContext: the context bounds the start-up only, and
	// Stop kills the whole group gracefully rather than the leader with SIGKILL.
	cmd := exec.Command(path, args...)
	cmd.Dir = s.paths.dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.SysProcAttr = procAttr()
	p := &process{name: name, cmd: cmd, logPath: logPath, pidPath: s.paths.pidFile(name), done: make(chan struct{})}
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
		s.mu.Lock()
		unexpected := !s.stopping && s.hasProcess(p)
		s.mu.Unlock()
		if unexpected {
			err := fmt.Errorf("%s exited unexpectedly (%v); log %s:\n%s", name, p.waitErr, logPath, tail(logPath, 20))
			s.logf("%v", err)
			select {
			case s.failed <- err:
			default:
			}
		}
	}()
	if err := <-started; err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	if err := os.WriteFile(p.pidPath, []byte(strconv.Itoa(cmd.Process.Pid)), 0o644); err != nil {
		_ = p.stop()
		return nil, fmt.Errorf("write pid file of %s: %w", name, err)
	}
	s.mu.Lock()
	s.procs = append(s.procs, p)
	s.mu.Unlock()
	s.logf("started %s (pid %d, log %s)", name, cmd.Process.Pid, logPath)
	return p, nil
}

// exited reports whether the process has ended, with its error.
func (p *process) exited() (bool, error) {
	select {
	case <-p.done:
		return true, fmt.Errorf("%s exited (%v); log %s:\n%s", p.name, p.waitErr, p.logPath, tail(p.logPath, 30))
	default:
		return false, nil
	}
}

// stop sends SIGTERM to the process group, then SIGKILL after stopGrace.
func (p *process) stop() error {
	defer os.Remove(p.pidPath)
	pgid := p.cmd.Process.Pid
	_ = syscall.Kill(-pgid, syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(stopGrace):
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-p.done
	}
	// Anything left in the group (children of the child) goes too.
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	return nil
}

func (s *Stack) hasProcess(p *process) bool {
	for _, q := range s.procs {
		if q == p {
			return true
		}
	}
	return false
}

func (s *Stack) process(name string) *process {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.procs {
		if p.name == name {
			return p
		}
	}
	return nil
}

func (s *Stack) removeProcess(p *process) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, q := range s.procs {
		if q == p {
			s.procs = append(s.procs[:i], s.procs[i+1:]...)
			return
		}
	}
}

// tail returns the last n lines of a file, for error messages.
func tail(path string, n int) string {
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

// killStale stops processes that a previous owner of dir left behind (it was
// killed before it could stop them): every run/<name>.pid whose process
// still runs with dir in its command line, and a postmaster of dir's
// Postgres.
func killStale(run, dir string, logf func(string, ...any)) {
	files, _ := filepath.Glob(filepath.Join(run, "*.pid"))
	for _, f := range files {
		if filepath.Base(f) == "owner.pid" {
			_ = os.Remove(f)
			continue
		}
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		pid, ok := readPid(f)
		if ok && belongsTo(pid, dir) {
			logf("stopping leftover %s (pid %d)", name, pid)
			sig := syscall.SIGTERM
			if name == "postgres" {
				sig = syscall.SIGINT // fast shutdown; SIGTERM would wait for clients
			}
			terminate(pid, sig)
		}
		_ = os.Remove(f)
	}
}

func readPid(path string) (int, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, false
	}
	line, _, _ := strings.Cut(string(data), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	return pid, err == nil && pid > 1
}

// belongsTo reports whether pid runs with dir in its command line, so a
// recycled pid is never killed.
func belongsTo(pid int, dir string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(cmdline, []byte(dir))
}

func alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM)
}

// terminate stops a process that is not our child (so we cannot wait for
// it): SIGTERM to its group, poll, then SIGKILL.
func terminate(pid int, sig syscall.Signal) {
	target := pid
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
		target = -pid
	}
	_ = syscall.Kill(target, sig)
	deadline := time.Now().Add(stopGrace)
	for time.Now().Before(deadline) {
		if !alive(pid) || zombie(pid) {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(target, syscall.SIGKILL)
}

// zombie reports whether pid has exited but not been reaped by its parent.
func zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}
