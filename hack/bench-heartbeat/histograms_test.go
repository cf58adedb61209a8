package main

import "testing"

func TestHistogramQuantilesOfAWindow(t *testing.T) {
	before := histogram{bounds: []float64{0.1, 0.2, 0.4}, counts: []float64{10, 10, 10}, total: 10}
	after := histogram{bounds: []float64{0.1, 0.2, 0.4}, counts: []float64{100, 109, 110}, total: 112}
	w := after.since(before)
	if w.total != 102 {
		t.Fatalf("observations in the window: %v, want 102", w.total)
	}
	for _, c := range []struct {
		q    float64
		want string
	}{
		{0.5, "56.7 ms"},   // 51st of 90 in (0, 100 ms]
		{0.95, "176.7 ms"}, // 96.9th: the 6.9th of 9 in (100, 200 ms]
		{0.99, "> 400 ms"}, // 2 of 102 beyond the last bound
	} {
		if got := w.quantile(c.q); got != c.want {
			t.Errorf("quantile(%v) = %s, want %s", c.q, got, c.want)
		}
	}
	if got := w.over(0.1); got != "11.76 %" {
		t.Errorf("over 100 ms = %s, want 11.76 %%", got)
	}
	if got := (histogram{}).quantile(0.5); got != "-" {
		t.Errorf("empty histogram's median = %s, want -", got)
	}
}
