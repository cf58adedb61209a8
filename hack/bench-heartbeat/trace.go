package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/streamspace/controlplane/internal/procstat"
)

// slowSecond is the latency above which a heartbeat makes its second of
// the window a slow one (the target's p99).
const slowSecond = 100 * time.Millisecond

// cpuSecond is the CPU time each process spent in one second of a window.
type cpuSecond struct {
	at  time.Time
	cpu map[string]time.Duration
}

// sampleCPU reads the processes' CPU times every second until ctx ends and
// returns each second's differences. A read that fails (a process gone)
// ends the sampling, and the seconds after it are not attributed.
func sampleCPU(ctx context.Context, pids map[string]int) []cpuSecond {
	var out []cpuSecond
	prev, err := procstat.CPUs(pids, "postgres")
	if err != nil {
		logf("CPU by second: %v", err)
		return nil
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return out
		case now := <-tick.C:
			cur, err := procstat.CPUs(pids, "postgres")
			if err != nil {
				logf("CPU by second, stopped after %d seconds: %v", len(out), err)
				return out
			}
			s := cpuSecond{at: now, cpu: map[string]time.Duration{}}
			for name, t := range cur {
				s.cpu[name] = t - prev[name]
			}
			out = append(out, s)
			prev = cur
		}
	}
}

// second is one second of a window: the heartbeats due in it and what each
// process spent in the second of the machine's time that ends there.
type second struct {
	latencies []time.Duration
	cpu       map[string]time.Duration
}

// bySecond lines the heartbeats (by due time) up with the CPU samples.
func bySecond(samples []sample, cpu []cpuSecond, from time.Time) []second {
	var out []second
	at := func(i int) *second {
		for len(out) <= i {
			out = append(out, second{})
		}
		return &out[i]
	}
	for _, s := range samples {
		if i := int(s.due.Sub(from) / time.Second); i >= 0 && s.err == nil {
			sec := at(i)
			sec.latencies = append(sec.latencies, s.fromDue)
		}
	}
	for _, c := range cpu {
		if i := int(c.at.Sub(from)/time.Second) - 1; i >= 0 && i < len(out) {
			out[i].cpu = c.cpu
		}
	}
	return out
}

// slowSeconds attributes the window's slow seconds (a heartbeat due in
// them took over slowSecond): in each, the process furthest above its own
// average of the window is counted. Where a tail comes from bursts of one
// process (its garbage collection, a periodic task), that process stands
// out; where it comes from steady load, the count spreads.
type slowSeconds struct {
	seconds, slow int
	busiest       map[string]int // process -> slow seconds it was furthest above its average in
	excess        map[string]time.Duration
}

func attribute(secs []second, processes []string) slowSeconds {
	out := slowSeconds{seconds: len(secs), busiest: map[string]int{}, excess: map[string]time.Duration{}}
	mean := map[string]time.Duration{}
	n := 0
	for _, s := range secs {
		if s.cpu == nil {
			continue
		}
		n++
		for _, p := range processes {
			mean[p] += s.cpu[p]
		}
	}
	if n == 0 {
		return out
	}
	for p := range mean {
		mean[p] /= time.Duration(n)
	}
	for _, s := range secs {
		if s.cpu == nil || len(s.latencies) == 0 || slices.Max(s.latencies) <= slowSecond {
			continue
		}
		out.slow++
		best, above := "", time.Duration(0)
		for _, p := range processes {
			if d := s.cpu[p] - mean[p]; d > above {
				best, above = p, d
			}
		}
		if best != "" {
			out.busiest[best]++
			out.excess[best] += above
		}
	}
	return out
}

// String is the attribution as one line: "N of M seconds; p1 a (+x ms), ...",
// without the list when no second was slow or none could be attributed.
func (s slowSeconds) String() string {
	if s.slow == 0 {
		return fmt.Sprintf("0 of %d seconds", s.seconds)
	}
	names := make([]string, 0, len(s.busiest))
	for p := range s.busiest {
		names = append(names, p)
	}
	slices.SortFunc(names, func(a, b string) int {
		if d := s.busiest[b] - s.busiest[a]; d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	parts := make([]string, len(names))
	for i, p := range names {
		parts[i] = fmt.Sprintf("%s %d (%.0f ms above its average)", p, s.busiest[p], msf(s.excess[p]/time.Duration(s.busiest[p])))
	}
	if len(parts) == 0 {
		return fmt.Sprintf("%d of %d seconds; no process above its average in them", s.slow, s.seconds)
	}
	return fmt.Sprintf("%d of %d seconds; furthest above its average in them: %s", s.slow, s.seconds, strings.Join(parts, ", "))
}

// writeTrace writes the window second by second to path, tab-separated:
// the heartbeats due in that second, their p50, p99 and max from due, and
// each process's CPU (ms) in that second.
func writeTrace(path string, secs []second, processes []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	w := bufio.NewWriter(f)
	fmt.Fprintf(w, "second\tbeats\tp50_ms\tp99_ms\tmax_ms\t%s\n", strings.Join(processes, "\t"))
	for i, s := range secs {
		fmt.Fprintf(w, "%d\t%d\t%.1f\t%.1f\t%.1f", i, len(s.latencies), msf(pct(s.latencies, 50)), msf(pct(s.latencies, 99)), msf(pct(s.latencies, 100)))
		for _, p := range processes {
			fmt.Fprintf(w, "\t%.0f", msf(s.cpu[p]))
		}
		fmt.Fprintln(w)
	}
	return w.Flush()
}

func msf(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
