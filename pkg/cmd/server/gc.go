package server

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
)

// defaultGCPercent is the GOGC the server runs with while its live heap is
// small, unless the operator sets GOGC. With a live heap of tens of MiB and
// every request allocating afresh, at Go's default of 100 the collector runs
// often and took about a tenth of the server's CPU under a stream of
// creates (docs/benchmarks.md); at 200 it runs half as often, for a heap
// that grows by about the live heap.
const defaultGCPercent = 200

// extraHeapCap bounds what defaultGCPercent adds to the heap over Go's
// default: a heap goal of twice the live heap plus at most this much. The
// live heap grows with the objects in the watch caches (about 300 MiB at
// 50,000 Sessions), and there a second live heap of headroom would cost
// hundreds of MiB for the saving in collector work that costs about 30 MiB
// on a small heap; above the cap GOGC tapers towards 100.
const extraHeapCap = 64 << 20

// gcAdjustPeriod is how often the live heap is read to adjust GOGC to it.
const gcAdjustPeriod = 2 * time.Second

// memoryLimitShare is the part of the container's memory limit given to the
// Go runtime as its soft limit when the operator sets no GOMEMLIMIT: near
// it the collector works harder instead of letting the raised GOGC grow the
// heap into an OOM kill; the rest is for what the runtime does not count.
const memoryLimitShare = 0.9

// cgroupMemoryLimitFiles hold the memory limit of the process's cgroup:
// cgroup v2, then v1.
var cgroupMemoryLimitFiles = []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"}

// SetGCDefaults sets the garbage collector's target (GOGC) and soft memory
// limit (GOMEMLIMIT) the server runs with, each only when the operator has
// not set its environment variable: GOGC from gcPercentFor, adjusted to the
// live heap until ctx ends, and memoryLimitShare of the cgroup's memory
// limit if there is one.
func SetGCDefaults(ctx context.Context) {
	if setGCDefaults(os.Getenv, os.ReadFile) {
		gcFollowsLiveHeap.Store(true)
		go wait.UntilWithContext(ctx, adjustGCPercent, gcAdjustPeriod)
	}
}

// gcFollowsLiveHeap is whether SetGCDefaults adjusts GOGC to the live heap,
// for the start-up log: the GOGC it prints is then only the first value.
var gcFollowsLiveHeap atomic.Bool

// setGCDefaults reports whether GOGC is the server's to adjust.
func setGCDefaults(getenv func(string) string, readFile func(string) ([]byte, error)) (adjustGC bool) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
		adjustGC = true
	}
	if getenv("GOMEMLIMIT") == "" {
		if limit, ok := cgroupMemoryLimit(readFile); ok {
			debug.SetMemoryLimit(int64(float64(limit) * memoryLimitShare))
		}
	}
	return adjustGC
}

// gcPercentFor is the GOGC whose heap goal is twice the live heap plus the
// smaller of the live heap and extraHeapCap: defaultGCPercent while the
// live heap is at most extraHeapCap, then tapering towards Go's 100.
func gcPercentFor(live uint64) int {
	if live <= extraHeapCap {
		return defaultGCPercent
	}
	return 100 + int((defaultGCPercent-100)*extraHeapCap/live)
}

// adjustGCPercent sets GOGC to gcPercentFor the heap that the last
// collection found live. The runtime applies a new GOGC to the current
// cycle's goal at once, without stopping the world.
func adjustGCPercent(ctx context.Context) {
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(sample)
	live := sample[0].Value.Uint64()
	if live == 0 { // no collection yet
		return
	}
	want := gcPercentFor(live)
	if was := debug.SetGCPercent(want); was != want {
		klog.FromContext(ctx).V(4).Info("Adjusted GOGC to the live heap", "liveHeap", live, "GOGC", want, "was", was)
	}
}

// cgroupMemoryLimit reads the memory limit of the process's cgroup; false
// when there is none ("max", or v1's huge "unlimited" value) or no cgroup
// file can be read.
func cgroupMemoryLimit(readFile func(string) ([]byte, error)) (int64, bool) {
	for _, path := range cgroupMemoryLimitFiles {
		data, err := readFile(path)
		if err != nil {
			continue
		}
		value := strings.TrimSpace(string(data))
		if value == "max" {
			return 0, false
		}
		limit, err := strconv.ParseInt(value, 10, 64)
		// cgroup v1 reports no limit as a page-rounded math.MaxInt64.
		if err != nil || limit <= 0 || limit > math.MaxInt64/2 {
			return 0, false
		}
		return limit, true
	}
	return 0, false
}

// gcSettings are the GOGC and GOMEMLIMIT in effect, for the log.
func gcSettings() (gcPercent, memoryLimit int64) {
	samples := []metrics.Sample{{Name: "/gc/gogc:percent"}, {Name: "/gc/gomemlimit:bytes"}}
	metrics.Read(samples)
	return int64(samples[0].Value.Uint64()), int64(samples[1].Value.Uint64())
}
