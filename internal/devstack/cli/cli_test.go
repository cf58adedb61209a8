package cli

import (
	"slices"
	"testing"
)

func TestWithoutDir(t *testing.T) {
	tests := []struct{ in, want []string }{
		{nil, nil},
		{[]string{"--dir", "x", "--timeout=1m"}, []string{"--timeout=1m"}},
		{[]string{"--dir=x", "-dir", "y", "--bin-dir", "b"}, []string{"--bin-dir", "b"}},
	}
	for _, tt := range tests {
		if got := withoutDir(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("withoutDir(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
