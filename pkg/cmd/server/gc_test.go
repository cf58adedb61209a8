package server

import (
	"errors"
	"math"
	"os"
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
	}{
		{name: "defaults, cgroup v2 limit", files: map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n"},
			wantPercent: defaultGCPercent, wantLimit: gib * 9 / 10},
		{name: "cgroup v2 without limit", files: map[string]string{"/sys/fs/cgroup/memory.max": "max\n"},
			wantPercent: defaultGCPercent, wantLimit: math.MaxInt64},
		{name: "cgroup v1 limit", files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "2147483648\n"},
			wantPercent: defaultGCPercent, wantLimit: 2 * gib * 9 / 10},
		{name: "cgroup v1 without limit", files: map[string]string{"/sys/fs/cgroup/memory/memory.limit_in_bytes": "9223372036854771712\n"},
			wantPercent: defaultGCPercent, wantLimit: math.MaxInt64},
		{name: "no cgroup", wantPercent: defaultGCPercent, wantLimit: math.MaxInt64},
		{name: "the operator's GOGC and GOMEMLIMIT stay", env: map[string]string{"GOGC": "50", "GOMEMLIMIT": "1GiB"},
			files: map[string]string{"/sys/fs/cgroup/memory.max": "1073741824\n"}, wantPercent: 100, wantLimit: math.MaxInt64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// What the runtime would have read from the environment; here
			// the defaults, which setGCDefaults must leave alone when the
			// variables are set.
			debug.SetGCPercent(100)
			debug.SetMemoryLimit(math.MaxInt64)
			setGCDefaults(env(tc.env), files(tc.files))
			percent, limit := gcSettings()
			if percent != int64(tc.wantPercent) || limit != tc.wantLimit {
				t.Errorf("GOGC %d, GOMEMLIMIT %d; want %d, %d", percent, limit, tc.wantPercent, tc.wantLimit)
			}
		})
	}
}

func TestCgroupMemoryLimitUnreadable(t *testing.T) {
	if _, ok := cgroupMemoryLimit(func(string) ([]byte, error) { return nil, errors.New("permission denied") }); ok {
		t.Error("a limit from unreadable files")
	}
}
