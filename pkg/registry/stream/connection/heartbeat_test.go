package connection

import (
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// TestPersistDueSpreadsWrites checks that connections whose heartbeats were
// persisted at the same moment write their next one at thresholds spread
// over the second half of the interval, never before half of it and always
// by the whole of it, and that one connection's decision is the same each
// time it is asked.
func TestPersistDueSpreadsWrites(t *testing.T) {
	const every = 5 * time.Minute
	persisted := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	var early, late int
	thresholds := map[time.Duration]bool{}
	for i := range 1000 {
		c := &stream.Connection{
			ObjectMeta: metav1.ObjectMeta{UID: types.UID(fmt.Sprintf("uid-%d", i))},
			Status:     stream.ConnectionStatus{LastHeartbeat: &metav1.Time{Time: persisted}},
		}
		if persistDue(c, persisted.Add(every/2-time.Second), every) {
			t.Fatalf("connection %d: persisted before half the interval", i)
		}
		if !persistDue(c, persisted.Add(every), every) {
			t.Fatalf("connection %d: not persisted after the whole interval", i)
		}
		// The threshold, to the second, by scanning the second half.
		var threshold time.Duration
		for d := every / 2; d <= every; d += time.Second {
			if persistDue(c, persisted.Add(d), every) {
				threshold = d
				break
			}
		}
		if persistDue(c, persisted.Add(threshold), every) != persistDue(c, persisted.Add(threshold), every) {
			t.Fatalf("connection %d: decision not deterministic", i)
		}
		thresholds[threshold] = true
		if threshold < every*5/8 {
			early++
		}
		if threshold >= every*7/8 {
			late++
		}
	}
	// Uniform over [every/2, every]: about a quarter of the thresholds in
	// the first quarter of that range, and a quarter in the last.
	if early < 150 || late < 150 {
		t.Errorf("thresholds not spread: %d in the first quarter of the range, %d in the last, of 1000", early, late)
	}
	if len(thresholds) < 100 {
		t.Errorf("only %d distinct thresholds for 1000 connections", len(thresholds))
	}
	// A connection with nothing persisted is written at once.
	if !persistDue(&stream.Connection{}, persisted, every) {
		t.Error("a connection without lastHeartbeat is not persisted")
	}
}
