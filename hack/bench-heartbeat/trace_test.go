package main

import (
	"testing"
	"time"
)

func TestAttributeNamesTheBurstingProcess(t *testing.T) {
	ms := time.Millisecond
	steady := map[string]time.Duration{"a": 500 * ms, "b": 400 * ms}
	secs := []second{
		{latencies: []time.Duration{10 * ms}, cpu: steady},
		{latencies: []time.Duration{10 * ms, 300 * ms}, cpu: map[string]time.Duration{"a": 500 * ms, "b": 1200 * ms}},
		{latencies: []time.Duration{10 * ms}, cpu: steady},
		{latencies: []time.Duration{250 * ms}, cpu: map[string]time.Duration{"a": 900 * ms, "b": 400 * ms}},
		{latencies: []time.Duration{20 * ms}, cpu: steady},
		{latencies: []time.Duration{400 * ms}}, // no CPU sample: not attributed
	}
	got := attribute(secs, []string{"a", "b"})
	if got.seconds != 6 || got.slow != 2 {
		t.Fatalf("seconds/slow = %d/%d, want 6/2", got.seconds, got.slow)
	}
	if got.busiest["b"] != 1 || got.busiest["a"] != 1 {
		t.Fatalf("busiest = %v, want a 1, b 1", got.busiest)
	}
	// b's average over the five sampled seconds is 560 ms: 640 ms above it.
	if got.excess["b"] != 640*ms {
		t.Fatalf("excess of b = %s, want 640ms", got.excess["b"])
	}
	if s := got.String(); s != "2 of 6 seconds; furthest above its average in them: a 1 (320 ms above its average), b 1 (640 ms above its average)" {
		t.Fatalf("String() = %q", s)
	}
	if s := attribute(secs[:1], []string{"a", "b"}).String(); s != "0 of 1 seconds" {
		t.Fatalf("String() with no slow second = %q", s)
	}
	if s := attribute(secs[3:4], []string{"a", "b"}).String(); s != "1 of 1 seconds; no process above its average in them" {
		t.Fatalf("String() with a slow second not attributed = %q", s)
	}
}
