package main

import (
	"slices"
	"testing"
)

func TestRoundOrderAlternates(t *testing.T) {
	got := roundOrder(3)
	want := []bool{false, true, true, false, false, true}
	if !slices.Equal(got, want) {
		t.Errorf("roundOrder(3) = %v, want %v", got, want)
	}
}

func TestSpread(t *testing.T) {
	for _, tc := range []struct {
		in          []float64
		med, lo, hi float64
	}{
		{[]float64{3, 1, 2}, 2, 1, 3},
		{[]float64{4, 1}, 2.5, 1, 4},
		{nil, 0, 0, 0},
	} {
		med, lo, hi := spread(tc.in)
		if med != tc.med || lo != tc.lo || hi != tc.hi {
			t.Errorf("spread(%v) = %v %v %v, want %v %v %v", tc.in, med, lo, hi, tc.med, tc.lo, tc.hi)
		}
	}
}
