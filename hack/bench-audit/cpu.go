package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/streamspace/controlplane/internal/benchdoc"
)

// clockTick is USER_HZ, the unit of /proc/<pid>/stat's CPU times (100 on
// every Linux architecture Go runs on).
const clockTick = 10 * time.Millisecond

// processes are the ones whose CPU a round reads.
type processes struct {
	server, kube, postmaster int
}

type cpuTimes struct {
	server, kube, postgres time.Duration
}

// pids finds streamspace-apiserver (restarted every round), kube-apiserver
// and the postmaster of the stack's Postgres (the parent of this tool's
// connection's backend).
func (b *bench) pids(ctx context.Context) (processes, error) {
	var p processes
	var err error
	if p.server, err = b.stack.PID("streamspace-apiserver"); err != nil {
		return p, err
	}
	if p.kube, err = b.stack.PID("kube-apiserver"); err != nil {
		return p, err
	}
	var backend int
	if err := b.db.QueryRow(ctx, `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		return p, fmt.Errorf("pid of the Postgres backend: %w", err)
	}
	st, err := readStat(backend)
	if err != nil {
		return p, err
	}
	p.postmaster = st.ppid
	return p, nil
}

func (p processes) cpu() (cpuTimes, error) {
	var c cpuTimes
	server, err := readStat(p.server)
	if err != nil {
		return c, err
	}
	kube, err := readStat(p.kube)
	if err != nil {
		return c, err
	}
	c.server, c.kube = server.utime+server.stime, kube.utime+kube.stime
	c.postgres, err = clusterCPU(p.postmaster)
	return c, err
}

// clusterCPU is the CPU a Postgres cluster has used: the postmaster's own
// and that of its children, the running ones (their own times) and those
// that ended (the postmaster's cutime and cstime, added when it reaped
// them).
func clusterCPU(postmaster int) (time.Duration, error) {
	pm, err := readStat(postmaster)
	if err != nil {
		return 0, err
	}
	total := pm.utime + pm.stime + pm.cutime + pm.cstime
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == postmaster {
			continue
		}
		st, err := readStat(pid)
		if err != nil || st.ppid != postmaster {
			continue // gone meanwhile, or not a child
		}
		total += st.utime + st.stime
	}
	return total, nil
}

type stat struct {
	ppid                         int
	utime, stime, cutime, cstime time.Duration
}

func readStat(pid int) (stat, error) {
	var s stat
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The command (field 2) may contain spaces; the fields after its ")"
	// are state (3), ppid (4), ..., utime (14), stime (15), cutime (16),
	// cstime (17).
	fields := strings.Fields(string(data[bytes.LastIndexByte(data, ')')+1:]))
	if len(fields) < 15 {
		return s, fmt.Errorf("short /proc/%d/stat", pid)
	}
	nums := make([]int64, 0, 5)
	for _, i := range []int{1, 11, 12, 13, 14} {
		v, err := strconv.ParseInt(fields[i], 10, 64)
		if err != nil {
			return s, fmt.Errorf("/proc/%d/stat: %w", pid, err)
		}
		nums = append(nums, v)
	}
	s.ppid = int(nums[0])
	s.utime, s.stime = time.Duration(nums[1])*clockTick, time.Duration(nums[2])*clockTick
	s.cutime, s.cstime = time.Duration(nums[3])*clockTick, time.Duration(nums[4])*clockTick
	return s, nil
}

// loadAverage1 is the 1-minute load average.
func loadAverage1() string {
	return strings.Fields(benchdoc.LoadAverage() + " ")[0]
}

// residentMemory is a process's resident set, current and peak (VmRSS and
// VmHWM of /proc/<pid>/status), in bytes.
func residentMemory(pid int) (rss, peak int64, err error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		v, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		switch f[0] {
		case "VmRSS:":
			rss = v << 10
		case "VmHWM:":
			peak = v << 10
		}
	}
	return rss, peak, nil
}
