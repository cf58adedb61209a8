package procstat

import (
	"os"
	"testing"
	"time"
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

func TestMachineTimesCountThisProcessesWork(t *testing.T) {
	before, err := ReadMachine()
	if err != nil {
		t.Fatal(err)
	}
	self, err := CPU(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// Spin until this process has used at least 200 ms of CPU more. The
	// kernel accounts a process's times and the machine's per-CPU ticks
	// separately, so the machine's count may trail by a few ticks: half
	// of it must show.
	for {
		now, err := CPU(os.Getpid())
		if err != nil {
			t.Fatal(err)
		}
		if now-self >= 200*time.Millisecond {
			break
		}
	}
	after, err := ReadMachine()
	if err != nil {
		t.Fatal(err)
	}
	d := after.Sub(before)
	if d.Busy < 100*time.Millisecond {
		t.Errorf("machine busy %s while this process used 200 ms of CPU", d.Busy)
	}
	if d.Idle < 0 || d.Steal < 0 {
		t.Errorf("times went backwards: %+v", d)
	}
}
