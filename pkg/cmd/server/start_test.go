package server

import (
	"context"
	"testing"

	"k8s.io/apiserver/pkg/features"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
)

// The watch caches keep no list snapshots unless the operator asks for
// them: lists at an exact resourceVersion and continuations go to
// PostgreSQL's history.
func TestListFromCacheSnapshotIsOffUnlessAsked(t *testing.T) {
	was := utilfeature.DefaultFeatureGate.Enabled(features.ListFromCacheSnapshot)
	t.Cleanup(func() {
		if err := utilfeature.DefaultMutableFeatureGate.SetFromMap(map[string]bool{string(features.ListFromCacheSnapshot): was}); err != nil {
			t.Fatal(err)
		}
	})

	cmd := NewCommand(context.Background())
	if utilfeature.DefaultFeatureGate.Enabled(features.ListFromCacheSnapshot) {
		t.Fatal("ListFromCacheSnapshot is on by default")
	}
	if err := cmd.Flags().Parse([]string{"--feature-gates=ListFromCacheSnapshot=true"}); err != nil {
		t.Fatal(err)
	}
	if !utilfeature.DefaultFeatureGate.Enabled(features.ListFromCacheSnapshot) {
		t.Error("--feature-gates=ListFromCacheSnapshot=true left it off")
	}
}
