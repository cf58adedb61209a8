package worker

import (
	"slices"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

// drain takes every waiting key in the order the queue hands them out,
// marking each done.
func drain(t *testing.T, q interface {
	Len() int
	Get() (string, bool)
	Done(string)
}) []string {
	t.Helper()
	var got []string
	for q.Len() > 0 {
		key, shutdown := q.Get()
		if shutdown {
			t.Fatal("the queue shut down")
		}
		got = append(got, key)
		q.Done(key)
	}
	return got
}

func TestUrgentKeysAreHandedOutFirst(t *testing.T) {
	urgent := map[string]bool{"b": true, "d": true}
	q := NewUrgentFirstQueue("", clocktesting.NewFakeClock(time.Now()), func(k string) bool { return urgent[k] })
	defer q.ShutDown()
	for _, k := range []string{"a", "b", "c", "d", "a", "b"} {
		q.Add(k)
	}
	if n := q.Len(); n != 4 {
		t.Fatalf("Len = %d after adding four keys, two of them twice; want 4", n)
	}
	if got, want := drain(t, q), []string{"b", "d", "a", "c"}; !slices.Equal(got, want) {
		t.Errorf("handed out %v, want %v (urgent first, each kind in order)", got, want)
	}
}

func TestAWaitingKeyMovesUpWhenAddedAgainUrgent(t *testing.T) {
	urgent := map[string]bool{"u": true}
	q := NewUrgentFirstQueue("", clocktesting.NewFakeClock(time.Now()), func(k string) bool { return urgent[k] })
	defer q.ShutDown()
	for _, k := range []string{"a", "b", "u"} {
		q.Add(k)
	}
	// b became urgent while it waited (its session was started meanwhile):
	// it goes after the urgent keys already waiting, before the others.
	urgent["b"] = true
	q.Add("b")
	// u stopped being urgent: a waiting key never moves down.
	urgent["u"] = false
	q.Add("u")
	if got, want := drain(t, q), []string{"u", "b", "a"}; !slices.Equal(got, want) {
		t.Errorf("handed out %v, want %v", got, want)
	}
}

func TestAKeyBeingProcessedIsNotHandedOutTwice(t *testing.T) {
	urgent := map[string]bool{}
	q := NewUrgentFirstQueue("", clocktesting.NewFakeClock(time.Now()), func(k string) bool { return urgent[k] })
	defer q.ShutDown()
	q.Add("a")
	q.Add("b")
	key, _ := q.Get()
	if key != "a" {
		t.Fatalf("got %q first, want a", key)
	}
	// a is added again, urgent now, while a worker holds it: it must not be
	// handed to another worker until Done, and then it waits as urgent.
	urgent["a"] = true
	q.Add("a")
	if n := q.Len(); n != 1 {
		t.Fatalf("Len = %d while a is processed, want 1 (b only)", n)
	}
	next, _ := q.Get()
	if next != "b" {
		t.Fatalf("got %q while a is processed, want b", next)
	}
	q.Done("b")
	q.Done("a")
	if got, want := drain(t, q), []string{"a"}; !slices.Equal(got, want) {
		t.Errorf("after Done handed out %v, want %v", got, want)
	}
}

func TestDelayedAndRateLimitedKeysAreOrderedToo(t *testing.T) {
	clk := clocktesting.NewFakeClock(time.Now())
	urgent := map[string]bool{"late-urgent": true}
	q := NewUrgentFirstQueue("", clk, func(k string) bool { return urgent[k] })
	defer q.ShutDown()
	q.Add("now")
	q.AddAfter("late-urgent", time.Second)
	clk.Step(2 * time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for q.Len() < 2 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the delaying queue's goroutine moves it over
	}
	if got, want := drain(t, q), []string{"late-urgent", "now"}; !slices.Equal(got, want) {
		t.Errorf("handed out %v, want %v", got, want)
	}
}
