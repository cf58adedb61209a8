package server

import (
	"context"
	"errors"
	"math"
	"os"
	"runtime"
	"runtime/debug"
	"testing"
)

func TestSetGCDefaults(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(math.MaxInt64))

	files := func(m map[string]string) func(string) ([]byte, error) {
		return func(path string) ([]byte, error) {
			if v, ok := m[path]; ok {
				return []byte(v), nil
			}
			return nil, os.ErrNotExist
		}
	}
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	const gib = 1 << 30
	for _, tc := range []struct {
		name        string
		env         map[string]string
		files       map[string]string
		wantPercent int
		wantLimit   int64
		wantAdjust  bool
	}{
		{name: "defaults, cgroup v2 limit", files: map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n"},
			wantPercent: defaultGCPercent, wantLimit: gib * 9 / 10, wantAdjust: true},
		{name: "cgroup v2 without limit", files: map[string]string{"/sys/fs/cgroup/memory.max": "max\n"},
			wantPercent: defaultGCPercent, wantLimit: math.MaxInt64, wantAdjust: true},
		{name: "cgroup v1 limit", files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648\n"},
			wantPercent: defaultGCPercent, wantLimit: 2 * gib * 9 / 10, wantAdjust: true},
		{name: "cgroup v1 without limit", files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"},
			wantPercent: defaultGCPercent, wantLimit: math.MaxInt64, wantAdjust: true},
		{name: "no cgroup", wantPercent: defaultGCPercent, wantLimit: math.MaxInt64, wantAdjust: true},
		{name: "the operator's GOGC and GOMEMLIMIT stay", env: map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"},
			files: map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n"}, wantPercent: 100, wantLimit: math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What the runtime would have read from the environment; here
			// the defaults, which setGCDefaults must leave alone when the
			// variables are set.
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			adjust := setGCDefaults(env(tc.env), files(tc.files))
			percent, limit := gcSettings()
			if percent != int64(tc.wantPercent) || limit != tc.wantLimit || adjust != tc.wantAdjust {
				t.Errorf("GOGC %d, GOMEMLIMIT %d, adjusted to the live heap %v; want %d, %d, %v", percent, limit, adjust, tc.wantPercent, tc.wantLimit, tc.wantAdjust)
			}
		})
	}
}

func TestCgroupMemoryLimitUnreadable(t *testing.T) {
	if _, ok := cgroupMemoryLimit(func(string) ([]byte, error) { return nil, errors.New("permission denied") }); ok {
		t.Error("a limit from unreadable files")
	}
}

func TestGCPercentTapersAboveTheExtraHeapCap(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{live: 1, want: 200},
		{live: 40 * mib, want: 200},
		{live: 64 * mib, want: 200},
		{live: 128 * mib, want: 150},
		{live: 256 * mib, want: 125},
		{live: 300 * mib, want: 121},
		{live: 4096 * mib, want: 101},
	} {
		got := gcPercentFor(tc.live)
		if got != tc.want {
			t.Errorf("gcPercentFor(%d MiB) = %d, want %d", tc.live/mib, got, tc.want)
		}
		// The heap goal never exceeds twice the live heap by more than the cap.
		if goal, bound := tc.live*uint64(100+got)/100, 2*tc.live+extraHeapCap; goal > bound {
			t.Errorf("live %d MiB: heap goal %d MiB over %d MiB", tc.live/mib, goal/mib, bound/mib)
		}
	}
}

func TestAdjustGCPercentFollowsTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(defaultGCPercent))
	// Twice the cap kept live through a collection: the adjustment must
	// then lower GOGC below the small-heap default, and raise it again
	// once the heap is small.
	ballast := make([]byte, 2*extraHeapCap)
	runtime.GC()
	adjustGCPercent(context.Background())
	large := debug.SetGCPercent(defaultGCPercent)
	runtime.KeepAlive(ballast)
	if large < 100 || large > 150 {
		t.Errorf("GOGC with over %d MiB live: %d, want 100-150", 2*extraHeapCap>>20, large)
	}
	ballast = nil
	debug.SetGCPercent(large)
	runtime.GC()
	adjustGCPercent(context.Background())
	if small := debug.SetGCPercent(defaultGCPercent); small != defaultGCPercent {
		t.Errorf("GOGC with a small live heap: %d, want %d", small, defaultGCPercent)
	}
}
