// Package procstat reads a process's CPU time and memory from /proc, for the
// benchmarks that divide a process's work by the requests it served.
package procstat

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux architecture Go runs on).
const clockTick = 10 * time.Millisecond

// Stat is the part of /proc/<pid>/stat the benchmarks read.
type Stat struct {
	PPID int
	// User and System are the process's own CPU times; ChildUser and
	// ChildSystem those of its children that ended and were waited for.
	User, System, ChildUser, ChildSystem time.Duration
}

// CPU is the process's own user plus system time.
func (s Stat) CPU() time.Duration { return s.User + s.System }

// Read reads /proc/<pid>/stat.
func Read(pid int) (Stat, error) {
	var s Stat
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command (field 2) may contain spaces and parentheses; the fields
	// after its last ")" are state (3), ppid (4), ..., utime (14),
	// stime (15), cutime (16), cstime (17).
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 15 {
		return s, fmt.Errorf("short /proc/%d/stat", pid)
	}
	var nums [5]int64
	for i, field := range []int{1, 11, 12, 13, 14} {
		if nums[i], err = strconv.ParseInt(fields[field], 10, 64); err != nil {
			return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
	}
	s.PPID = int(nums[0])
	s.User, s.System = time.Duration(nums[1])*clockTick, time.Duration(nums[2])*clockTick
	s.ChildUser, s.ChildSystem = time.Duration(nums[3])*clockTick, time.Duration(nums[4])*clockTick
	return s, nil
}

// CPU is a process's own user plus system time.
func CPU(pid int) (time.Duration, error) {
	s, err := Read(pid)
	return s.CPU(), err
}

// TreeCPU is the CPU a process and its direct children have used: its own,
// that of the children still running, and that of the children that ended
// (its cutime and cstime, added when it waited for them). For a Postgres
// postmaster that is the whole cluster: every backend and worker.
func TreeCPU(parent int) (time.Duration, error) {
	p, err := Read(parent)
	if err != nil {
		return 0, err
	}
	total := p.CPU() + p.ChildUser + p.ChildSystem
	err = eachChild(parent, func(_ int, s Stat) { total += s.CPU() })
	return total, err
}

// eachChild calls fn with every running child of parent and its Stat.
func eachChild(parent int, fn func(pid int, s Stat)) error {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == parent {
			continue
		}
		s, err := Read(pid)
		if err != nil || s.PPID != parent {
			continue // gone meanwhile, or not a child
		}
		fn(pid, s)
	}
	return nil
}

// postgresBackground are the titles (after "postgres: ") of a Postgres
// cluster's own processes; every other child of the postmaster serves a
// client connection.
var postgresBackground = []string{"checkpointer", "background writer", "walwriter", "autovacuum",
	"logical replication", "archiver", "stats collector", "startup", "walreceiver", "walsummarizer", "io worker"}

// PostgresBackendsCPU is the CPU that a Postgres postmaster's running
// client backends have used, each from its start: the work the statements
// of the connected clients cost. The rest of TreeCPU is the cluster's own
// work (checkpoints, WAL writing, autovacuum and its workers, which exit
// when done and are then counted in the postmaster's children's times) and
// that of client backends that have exited.
func PostgresBackendsCPU(postmaster int) (time.Duration, error) {
	var total time.Duration
	err := eachChild(postmaster, func(pid int, s Stat) {
		cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if err != nil {
			return // gone meanwhile
		}
		title := strings.TrimPrefix(string(bytes.TrimRight(cmd, "\x00")), "postgres: ")
		if !slices.ContainsFunc(postgresBackground, func(b string) bool { return strings.HasPrefix(title, b) }) {
			total += s.CPU()
		}
	})
	return total, err
}

// Memory is a process's resident memory, current (VmRSS) and peak (VmHWM),
// in bytes.
func Memory(pid int) (rss, peak int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("read the memory of pid %d: %w", pid, err)
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		kb, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss = kb << 10
		case "VmHWM:":
			peak = kb << 10
		}
	}
	if rss == 0 {
		return 0, 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return rss, peak, nil
}

// CPUs reads the CPU time of each named process; those named in trees are
// read with TreeCPU (a Postgres postmaster: the whole cluster).
func CPUs(pids map[string]int, trees ...string) (map[string]time.Duration, error) {
	out := make(map[string]time.Duration, len(pids))
	for name, pid := range pids {
		read := CPU
		if slices.Contains(trees, name) {
			read = TreeCPU
		}
		t, err := read(pid)
		if err != nil {
			return nil, fmt.Errorf("CPU of %s: %w", name, err)
		}
		out[name] = t
	}
	return out, nil
}

// Machine is the CPU time of all the machine's cores together, from the
// first line of /proc/stat.
type Machine struct {
	// Busy is user, nice, system, irq and softirq time: work of any
	// process on this machine, the benchmark's own and everyone else's.
	Busy time.Duration
	// Steal is time the hypervisor gave another guest while this one had
	// work to run: on a shared host, the noise a benchmark cannot see in
	// its processes' times.
	Steal time.Duration
	// Idle is idle and I/O-wait time.
	Idle time.Duration
}

// ReadMachine reads the machine's CPU times.
func ReadMachine() (Machine, error) {
	var m Machine
	data, err := os.ReadFile("/proc/stat")
	if err != nil {
		return m, err
	}
	line, _, _ := bytes.Cut(data, []byte("\n"))
	f := strings.Fields(string(line))
	// cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return m, fmt.Errorf("unexpected first line of /proc/stat: %q", line)
	}
	var n [8]int64
	for i := range n {
		if n[i], err = strconv.ParseInt(f[i+1], 10, 64); err != nil {
			return m, fmt.Errorf("/proc/stat: %w", err)
		}
	}
	tick := func(v int64) time.Duration { return time.Duration(v) * clockTick }
	m.Busy = tick(n[0] + n[1] + n[2] + n[5] + n[6])
	m.Idle = tick(n[3] + n[4])
	m.Steal = tick(n[7])
	return m, nil
}

// Sub is the machine's CPU time between an earlier reading and m.
func (m Machine) Sub(earlier Machine) Machine {
	return Machine{Busy: m.Busy - earlier.Busy, Steal: m.Steal - earlier.Steal, Idle: m.Idle - earlier.Idle}
}
