package broadcast

import (
	"testing"
)

func TestOrderFilterAndPosition(t *testing.T) {
	b := New[int](10)
	even, pos := b.Subscribe(10, func(i int) bool { return i%2 == 0 })
	if pos != 10 {
		t.Fatalf("position = %d, want 10", pos)
	}
	all, _ := b.Subscribe(10, nil)
	b.Publish(14, 11, 12, 13, 14)
	if got := b.Position(); got != 14 {
		t.Fatalf("position = %d, want 14", got)
	}
	b.Close()
	if got := drain(even.C); !equal(got, []int{12, 14}) {
		t.Errorf("even subscriber got %v", got)
	}
	if got := drain(all.C); !equal(got, []int{11, 12, 13, 14}) {
		t.Errorf("subscriber got %v", got)
	}
}

func TestSlowSubscriberIsDroppedNotBlocking(t *testing.T) {
	b := New[int](0)
	slow, _ := b.Subscribe(2, nil)
	fast, _ := b.Subscribe(100, nil)
	for i := 1; i <= 10; i++ {
		b.Publish(int64(i), i)
	}
	if !slow.Lagged() {
		t.Fatal("slow subscriber should be marked lagged")
	}
	if got := drain(slow.C); !equal(got, []int{1, 2}) {
		t.Errorf("slow subscriber got %v, want what fitted before it lagged", got)
	}
	if fast.Lagged() {
		t.Fatal("fast subscriber should not lag")
	}
	fast.Stop()
	fast.Stop()
	if got := drain(fast.C); len(got) != 10 {
		t.Errorf("fast subscriber got %v", got)
	}
	if n := b.Subscribers(); n != 0 {
		t.Errorf("subscribers = %d, want 0", n)
	}
}

func drain(c <-chan int) []int {
	var out []int
	for i := range c {
		out = append(out, i)
	}
	return out
}

func equal(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
