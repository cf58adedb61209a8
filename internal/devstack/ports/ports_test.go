package ports

import (
	"path/filepath"
	"testing"
)

func TestResolvePorts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ports.json")
	first, err := Resolve(path, Ports{KubeAPIServer: 1})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int]bool{}
	for _, p := range first.all() {
		if *p == 0 || seen[*p] {
			t.Fatalf("ports not distinct and non-zero: %+v", first)
		}
		seen[*p] = true
	}
	if first.KubeAPIServer != 1 {
		t.Fatalf("explicit port not kept: %+v", first)
	}
	second, err := Resolve(path, Ports{})
	if err != nil {
		t.Fatal(err)
	}
	if second.Etcd != first.Etcd || second.Streamspace != first.Streamspace {
		t.Fatalf("free ports not reused: %+v then %+v", first, second)
	}
}
