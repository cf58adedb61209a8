package e2e

// What the database holds after a fault, compared with what clients were told.

import (
	"context"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned/scheme"
	informers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"
)

// databaseTemplates reads alice's templates (name -> resourceVersion) and
// the compaction point from the database.
func databaseTemplates(ctx context.Context, dsn string) (map[string]int64, int64, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, 0, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT name, resource_version FROM templates WHERE namespace = $1", faultNamespace)
	if err != nil {
		return nil, 0, err
	}
	got := map[string]int64{}
	for rows.Next() {
		var name string
		var rv int64
		if err := rows.Scan(&name, &rv); err != nil {
			return nil, 0, err
		}
		got[name] = rv
	}
	if err := rows.Err(); err != nil {
		return nil, 0, err
	}
	var compacted int64
	if err := conn.QueryRow(ctx, "SELECT revision FROM compaction").Scan(&compacted); err != nil {
		return nil, 0, err
	}
	return got, compacted, nil
}

// checkDurable checks in the database that every acknowledged write is
// there: its history row (unless compacted), and the object at its
// resourceVersion or a later one; and that every event the watch delivered
// is a change the database has, under that resourceVersion.
func checkDurable(t *testing.T, ctx context.Context, dsn string, acked []ackedWrite, w *rawWatch) {
	t.Helper()
	templates, compacted, err := databaseTemplates(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT rv, key FROM history WHERE resource = 'templates'")
	if err != nil {
		t.Fatal(err)
	}
	history := map[int64]string{}
	for rows.Next() {
		var rv int64
		var key string
		if err := rows.Scan(&rv, &key); err != nil {
			t.Fatal(err)
		}
		history[rv] = key
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	keyOf := func(name string) string { return "/" + faultNamespace + "/" + name }
	for _, a := range acked {
		if rv, ok := templates[a.name]; !ok || rv < a.rv {
			t.Errorf("lost: %s of %s acknowledged at %d; the database has it at %d (present: %v)", a.op, a.name, a.rv, rv, ok)
		}
		if a.rv > compacted && !strings.HasSuffix(history[a.rv], keyOf(a.name)) {
			t.Errorf("lost: %s of %s acknowledged at %d; history has %q there", a.op, a.name, a.rv, history[a.rv])
		}
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, e := range w.events {
		if e.rv > compacted && !strings.HasSuffix(history[e.rv], keyOf(e.name)) {
			t.Errorf("the watch delivered %s of %s at %d, which the database does not have (history: %q)", e.typ, e.name, e.rv, history[e.rv])
		}
	}
}

// templateInformer is a plain client-go informer on alice's templates.
func startTemplateInformer(ctx context.Context, t *testing.T, ss clientset.Interface) cache.SharedIndexInformer {
	t.Helper()
	factory := informers.NewSharedInformerFactoryWithOptions(ss, 0, informers.WithNamespace(faultNamespace))
	informer := factory.Stream().V1alpha1().Templates().Informer()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), informer.HasSynced) {
		t.Fatal("the template informer did not sync")
	}
	return informer
}

// waitInformerMatchesDatabase waits until the informer holds exactly the
// database's templates at their resourceVersions.
func waitInformerMatchesDatabase(t *testing.T, ctx context.Context, informer cache.SharedIndexInformer, dsn string) {
	t.Helper()
	var diff string
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, 2*time.Minute, true, func(ctx context.Context) (bool, error) {
		want, _, err := databaseTemplates(ctx, dsn)
		if err != nil {
			diff = err.Error()
			return false, nil
		}
		got := map[string]int64{}
		for _, obj := range informer.GetStore().List() {
			tpl := obj.(*streamv1alpha1.Template)
			got[tpl.Name], _ = strconv.ParseInt(tpl.ResourceVersion, 10, 64)
		}
		diff = mapDiff(got, want)
		return diff == "", nil
	})
	if err != nil {
		t.Fatalf("the informer never matched the database: %s", diff)
	}
}

func mapDiff(got, want map[string]int64) string {
	var out []string
	for k, v := range want {
		if got[k] != v {
			out = append(out, fmt.Sprintf("%s: informer %d, database %d", k, got[k], v))
		}
	}
	for k, v := range got {
		if _, ok := want[k]; !ok {
			out = append(out, fmt.Sprintf("%s: informer %d, not in the database", k, v))
		}
	}
	sort.Strings(out)
	if len(out) > 10 {
		out = append(out[:10], fmt.Sprintf("... %d more", len(out)-10))
	}
	return strings.Join(out, "; ")
}

// writeApplied reports whether history holds a version of template name
// with label seq: whether a write of unknown outcome was applied.
func writeApplied(ctx context.Context, dsn, name, seq string) (bool, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return false, err
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, "SELECT object FROM history WHERE resource = 'templates' AND key LIKE '%/' || $1 || '/' || $2 AND object IS NOT NULL",
		faultNamespace, name)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var data []byte
		if err := rows.Scan(&data); err != nil {
			return false, err
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
		if err != nil {
			return false, fmt.Errorf("decode a stored template: %w", err)
		}
		if tpl, ok := obj.(*streamv1alpha1.Template); ok && tpl.Labels["seq"] == seq {
			return true, nil
		}
	}
	return false, rows.Err()
}
