package server

import (
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
)

// defaultGCPercent is the GOGC the server runs with unless the operator
// sets GOGC. The live heap of the server is small (tens of MiB) and every
// request allocates afresh, so at Go's default of 100 the collector runs
// often and took about a tenth of the server's CPU under a stream of
// creates (docs/benchmarks.md); at 200 it runs half as often, for a heap
// that grows by about the live heap.
const defaultGCPercent = 200

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
// not set its environment variable: defaultGCPercent, and memoryLimitShare
// of the cgroup's memory limit if there is one.
func SetGCDefaults() {
	setGCDefaults(os.Getenv, os.ReadFile)
}

func setGCDefaults(getenv func(string) string, readFile func(string) ([]byte, error)) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
	if getenv("GOMEMLIMIT") == "" {
		if limit, ok := cgroupMemoryLimit(readFile); ok {
			debug.SetMemoryLimit(int64(float64(limit) * memoryLimitShare))
		}
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
