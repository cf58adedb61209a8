package e2e

import (
	"context"
	"fmt"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/streamspace/controlplane/internal/gittest"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// BenchmarkCatalogSync measures, on the stack's streamspace-controller, the
// first sync of a 1,000-template repository (clone, parse, 1,000
// CatalogTemplate creates) and a no-op resync of it (fetch, nothing to
// write but lastSyncTime), from the request to the status that reports it.
//
//	go test ./test/e2e -run XXX -bench BenchmarkCatalogSync -benchtime 3x
func BenchmarkCatalogSync(b *testing.B) {
	ss, _ := clients(b, "admin")
	git := gittest.Start(b)
	generated := gittest.GenerateCatalog(1000)
	repo := git.CreateRepo("bench", true)
	head := repo.Commit("catalog", generated.Files)
	var first, noop time.Duration
	for i := 0; i < b.N; i++ {
		name := fmt.Sprintf("bench-%d-%d", time.Now().UnixNano()%100000, i)
		start := time.Now()
		mustKubectl(b, "admin", "apiVersion: catalog.stream.space/v1alpha1\nkind: TemplateRepository\nmetadata: {name: "+name+"}\nspec: {url: "+git.HTTPRepoURL("bench")+"}\n", "apply", "-f", "-")
		r := pollRepository(b, ss, name, func(r *catalogv1alpha1.TemplateRepository) bool { return r.Status.LastSyncedCommit == head })
		first += time.Since(start)
		if r.Status.TemplateCount != 1000 {
			b.Fatalf("%d templates synced, want 1000", r.Status.TemplateCount)
		}

		waitPastLastSync(r)
		start = time.Now()
		mustKubectl(b, "admin", "", "annotate", "templaterepository", name, catalogv1alpha1SyncAnnotation+"="+time.Now().Format(time.RFC3339Nano), "--overwrite")
		pollRepository(b, ss, name, func(x *catalogv1alpha1.TemplateRepository) bool {
			return x.Status.LastSyncTime != nil && !x.Status.LastSyncTime.Equal(r.Status.LastSyncTime)
		})
		noop += time.Since(start)
		mustKubectl(b, "admin", "", "delete", "templaterepository", name, "--wait=false")
	}
	b.ReportMetric(first.Seconds()/float64(b.N), "first-sync-s")
	b.ReportMetric(float64(noop.Milliseconds())/float64(b.N), "noop-resync-ms")
	b.ReportMetric(0, "ns/op")
}

func pollRepository(b *testing.B, ss clientset.Interface, name string, cond func(*catalogv1alpha1.TemplateRepository) bool) *catalogv1alpha1.TemplateRepository {
	var got *catalogv1alpha1.TemplateRepository
	err := wait.PollUntilContextTimeout(context.Background(), 10*time.Millisecond, 5*time.Minute, true, func(ctx context.Context) (bool, error) {
		r, err := ss.CatalogV1alpha1().TemplateRepositories().Get(ctx, name, metav1.GetOptions{})
		if err == nil && cond(r) {
			got = r
			return true, nil
		}
		return false, nil
	})
	if err != nil {
		b.Fatalf("repository %s did not reach the expected status: %v", name, err)
	}
	return got
}
