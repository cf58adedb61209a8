package limits

import (
	"strings"
	"testing"
)

func TestLogStreamLimits(t *testing.T) {
	l := New(Limits{FeedsPerUser: 2, LogStreamsPerUser: 1, LogStreamsPerContainer: 1, MaxTrackedClients: 10})

	// Log streams: taken before the upstream stream is opened.
	if got := l.acquireFeedStatus("c", "ns/pod/app"); got != "" {
		t.Fatalf("first log stream refused: %s", got)
	}
	if got := l.acquireFeedStatus("c", "ns/pod/other"); !strings.Contains(got, "log streams of user c") {
		t.Errorf("second log stream of c = %q, want refused by the per-user limit", got)
	}
	if got := l.acquireFeedStatus("d", "ns/pod/app"); !strings.Contains(got, "log streams of container ns/pod/app") {
		t.Errorf("second log stream of one container = %q, want refused by the per-container limit", got)
	}
}

// acquireFeedStatus takes a slot and keeps it; the refusal, or "".
func (l *Limiter) acquireFeedStatus(user, container string) string {
	_, refusal := l.takeFeedSlot(user, container)
	return refusal
}
