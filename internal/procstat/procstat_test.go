package procstat

import (
	"os"
	"testing"
)

func TestReadsThisProcess(t *testing.T) {
	s, err := Read(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.PPID != os.Getppid() {
		t.Errorf("PPID = %d, want %d", s.PPID, os.Getppid())
	}
	rss, peak, err := Memory(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if rss <= 0 || peak < rss {
		t.Errorf("rss %d, peak %d: want 0 < rss <= peak", rss, peak)
	}
	if _, err := TreeCPU(os.Getppid()); err != nil {
		t.Errorf("CPU of the parent's tree: %v", err)
	}
	if _, err := Read(-1); err == nil {
		t.Error("read a process that cannot exist: no error")
	}
}
