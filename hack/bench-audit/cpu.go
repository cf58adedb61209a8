package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/streamspace/controlplane/internal/benchdoc"
	"github.com/streamspace/controlplane/internal/procstat"
)

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
	st, err := procstat.Read(backend)
	if err != nil {
		return p, err
	}
	p.postmaster = st.PPID
	return p, nil
}

func (p processes) cpu() (cpuTimes, error) {
	var c cpuTimes
	var err error
	if c.server, err = procstat.CPU(p.server); err != nil {
		return c, err
	}
	if c.kube, err = procstat.CPU(p.kube); err != nil {
		return c, err
	}
	// The postmaster and its backends: the whole cluster.
	c.postgres, err = procstat.TreeCPU(p.postmaster)
	return c, err
}

// loadAverage1 is the 1-minute load average.
func loadAverage1() string {
	return strings.Fields(benchdoc.LoadAverage() + " ")[0]
}
