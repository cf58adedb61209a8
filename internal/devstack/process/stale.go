package process

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// KillStale stops processes that a previous owner of dir left behind (it was
// killed before it could stop them): every <run>/<name>.pid whose process
// still runs with dir in its command line, and a postmaster of dir's
// Postgres.
func KillStale(run, dir string, logf func(string, ...any)) {
	files, _ := filepath.Glob(filepath.Join(run, "*.pid"))
	for _, f := range files {
		if filepath.Base(f) == "owner.pid" {
			_ = os.Remove(f)
			continue
		}
		name := strings.TrimSuffix(filepath.Base(f), ".pid")
		pid, ok := ReadPid(f)
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

// belongsTo reports whether pid runs with dir in its command line, so a
// recycled pid is never killed.
func belongsTo(pid int, dir string) bool {
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		return false
	}
	return bytes.Contains(cmdline, []byte(dir))
}

// Alive reports whether pid exists.
func Alive(pid int) bool {
	return syscall.Kill(pid, 0) == nil || errors.Is(syscall.Kill(pid, 0), syscall.EPERM)
}

// terminate stops a process that is not our child (so we cannot wait for
// it): sig to its group, poll, then SIGKILL.
func terminate(pid int, sig syscall.Signal) {
	target := pid
	if pgid, err := syscall.Getpgid(pid); err == nil && pgid == pid {
		target = -pid
	}
	_ = syscall.Kill(target, sig)
	if !WaitGone(pid, 100*time.Millisecond, StopGrace) {
		_ = syscall.Kill(target, syscall.SIGKILL)
	}
}

// Zombie reports whether pid has exited but not been reaped by its parent.
func Zombie(pid int) bool {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	i := bytes.LastIndexByte(stat, ')')
	return i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z'
}

// Using lists the processes (other than this one) with dir in their
// command line whose program ours(argv0) accepts, as "<pid> <command line>".
func Using(dir string, ours func(argv0 string) bool) []string {
	entries, _ := os.ReadDir("/proc")
	var found []string
	for _, e := range entries {
		var pid int
		if _, err := fmt.Sscanf(e.Name(), "%d", &pid); err != nil || pid == os.Getpid() {
			continue
		}
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || Zombie(pid) {
			continue
		}
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		if len(args) > 0 && ours(args[0]) && strings.Contains(string(cmdline), dir) {
			found = append(found, fmt.Sprintf("%d %s", pid, strings.Join(args, " ")))
		}
	}
	return found
}
