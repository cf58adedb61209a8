package apiserver

import (
	"context"
	"math/rand"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	authnv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/api/apitesting/fuzzer"
	"k8s.io/apimachinery/pkg/api/meta"
	metafuzzer "k8s.io/apimachinery/pkg/apis/meta/fuzzer"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/generic"
	genericregistry "k8s.io/apiserver/pkg/registry/generic/registry"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/client-go/tools/cache"

	catalogfuzzer "github.com/streamspace/controlplane/pkg/apis/catalog/fuzzer"
	"github.com/streamspace/controlplane/pkg/apis/selectable"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamfuzzer "github.com/streamspace/controlplane/pkg/apis/stream/fuzzer"
	"github.com/streamspace/controlplane/pkg/auditlog"
	"github.com/streamspace/controlplane/pkg/registry/stream/apikey"
	"github.com/streamspace/controlplane/pkg/registry/stream/auditevent"
	"github.com/streamspace/controlplane/pkg/registry/stream/sessionshare"
	"github.com/streamspace/controlplane/pkg/registry/stream/user"
	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

// TestSelectableFieldsAgree checks the selectable fields each kind declares
// against everything built from them or written beside them: the tables and
// indexes of the migrated schema, the registry's field sets and the indexes
// its stores give the watch cache, what the served storage writes to the
// columns, and the field label conversions.
func TestSelectableFieldsAgree(t *testing.T) {
	ctx := context.Background()
	backend, pool := newTestBackend(ctx, t, postgres.BackendOptions{})

	declared := map[schema.GroupResource]selectable.Declaration{}
	tables := map[string]bool{}
	for _, d := range selectableKinds {
		if _, dup := declared[d.Resource]; dup {
			t.Errorf("%s is declared twice", d.Resource)
		}
		if tables[d.Table] {
			t.Errorf("table %s is declared for two kinds", d.Table)
		}
		declared[d.Resource], tables[d.Table] = d, true
	}

	t.Run("migrated schema", func(t *testing.T) { checkSchema(t, readSchema(ctx, t, pool), declared) })
	t.Run("registry and storage", func(t *testing.T) { checkRegistry(ctx, t, backend, pool, declared) })
	t.Run("field label conversions", func(t *testing.T) { checkConversions(t, declared) })
	t.Run("audit trail", func(t *testing.T) { checkAuditTrail(ctx, t, pool) })
}

// checkAuditTrail checks the fields auditevents declare, which their
// registry filters on in the audit trail's own table: each column exists,
// a field selector on each field finds exactly the events whose field has
// that value (as the served event shows it), and the field label
// conversions accept exactly the declared fields.
func checkAuditTrail(ctx context.Context, t *testing.T, pool *pgxpool.Pool) {
	d := stream.AuditEventFields.Declaration()
	tbl := readSchema(ctx, t, pool)[d.Table]
	if tbl == nil {
		t.Fatalf("the migrated schema has no table %s", d.Table)
	}
	for _, c := range d.Columns {
		if _, ok := tbl.columns[c.Name]; !ok {
			t.Errorf("AuditEvent field %s: table %s has no column %s", c.Field, d.Table, c.Name)
		}
	}

	// Two events that differ in every field.
	at := metav1.Now()
	written := []*auditinternal.Event{
		{AuditID: "agree-1", Verb: "create", Stage: auditinternal.StageResponseComplete, StageTimestamp: metav1.NewMicroTime(at.Time),
			User:           authnv1.UserInfo{Username: "alice"},
			ObjectRef:      &auditinternal.ObjectReference{Resource: "sessions", Namespace: "alice", Name: "desk"},
			ResponseStatus: &metav1.Status{Code: 201}},
		{AuditID: "agree-2", Verb: "delete", Stage: auditinternal.StageResponseComplete, StageTimestamp: metav1.NewMicroTime(at.Time),
			User:           authnv1.UserInfo{Username: "bob"},
			ObjectRef:      &auditinternal.ObjectReference{Resource: "templates", Namespace: "bob", Name: "firefox"},
			ResponseStatus: &metav1.Status{Code: 403}},
	}
	if !auditlog.New(pool, 30*time.Second).ProcessEvents(written...) {
		t.Fatal("write the audit events")
	}
	trail := auditevent.NewREST(pool)
	list := func(sel fields.Selector) map[string]*stream.AuditEvent {
		t.Helper()
		obj, err := trail.List(ctx, &metainternalversion.ListOptions{FieldSelector: sel})
		if err != nil {
			t.Fatalf("list auditevents with %s: %v", sel, err)
		}
		out := map[string]*stream.AuditEvent{}
		for i, e := range obj.(*stream.AuditEventList).Items {
			out[e.AuditID] = &obj.(*stream.AuditEventList).Items[i]
		}
		return out
	}
	all := list(fields.Everything())
	first, second := all["agree-1"], all["agree-2"]
	if first == nil || second == nil {
		t.Fatalf("the written events are not listed: %v", all)
	}
	for _, f := range stream.AuditEventFields.Fields {
		value := f.Value(first)
		if value == f.Value(second) {
			t.Fatalf("field %s: both events have %q", f.Name, value)
		}
		if got := list(fields.OneTermEqualSelector(f.Name, value)); got["agree-1"] == nil || got["agree-2"] != nil {
			t.Errorf("field selector %s=%s: listed %v, want the first event and not the second", f.Name, value, sets.List(sets.KeySet(got)))
		}
		if got := list(fields.OneTermNotEqualSelector(f.Name, value)); got["agree-1"] != nil || got["agree-2"] == nil {
			t.Errorf("field selector %s!=%s: listed %v, want the second event and not the first", f.Name, value, sets.List(sets.KeySet(got)))
		}
	}

	// Exactly the declared fields are accepted: not metadata.namespace
	// (the trail is cluster-scoped and its namespace is a declared field).
	checkFieldLabels(t, d, sets.New[string](), "metadata.namespace", "spec.undeclared")
}

// table is what the migrated schema holds of one table.
type table struct {
	columns map[string]string // name → data type
	indexed sets.Set[string]  // columns that lead an index
}

func readSchema(ctx context.Context, t *testing.T, pool *pgxpool.Pool) map[string]*table {
	tables := map[string]*table{}
	get := func(name string) *table {
		if tables[name] == nil {
			tables[name] = &table{columns: map[string]string{}, indexed: sets.New[string]()}
		}
		return tables[name]
	}
	rows, err := pool.Query(ctx, `SELECT table_name, column_name, data_type FROM information_schema.columns
WHERE table_schema = current_schema()`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, column, dataType string
		if err := rows.Scan(&name, &column, &dataType); err != nil {
			t.Fatal(err)
		}
		get(name).columns[column] = dataType
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	rows, err = pool.Query(ctx, `SELECT t.relname, a.attname FROM pg_index x
JOIN pg_class t ON t.oid = x.indrelid
JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = x.indkey[0]
WHERE t.relnamespace = current_schema()::regnamespace`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name, column string
		if err := rows.Scan(&name, &column); err != nil {
			t.Fatal(err)
		}
		get(name).indexed.Insert(column)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return tables
}

// columnDataType is the information_schema data type of a column of type t.
func columnDataType(t selectable.ColumnType) string {
	switch t {
	case selectable.Timestamp:
		return "timestamp with time zone"
	case selectable.BigInt:
		return "bigint"
	}
	return "text"
}

// checkSchema: every declared field has a column of its type (text unless
// declared otherwise) in its table, indexed unless the field is only
// recorded, and every resource table's columns beyond those of the objects
// table (which every resource table has) are declared fields.
func checkSchema(t *testing.T, tables map[string]*table, declared map[schema.GroupResource]selectable.Declaration) {
	objects := tables[postgres.ObjectsTable.Name]
	if objects == nil {
		t.Fatalf("the migrated schema has no table %s", postgres.ObjectsTable.Name)
	}
	byTable := map[string]selectable.Declaration{}
	for _, d := range declared {
		byTable[d.Table] = d
		tbl := tables[d.Table]
		if tbl == nil {
			t.Errorf("%s: the migrated schema has no table %s", d.GroupKind, d.Table)
			continue
		}
		for _, c := range d.Columns {
			switch dataType, ok := tbl.columns[c.Name]; {
			case !ok:
				t.Errorf("%s field %s: table %s has no column %s", d.GroupKind, c.Field, d.Table, c.Name)
			case dataType != columnDataType(c.Type):
				t.Errorf("%s field %s: column %s.%s is %s, want %s", d.GroupKind, c.Field, d.Table, c.Name, dataType, columnDataType(c.Type))
			case !c.Recorded && !tbl.indexed.Has(c.Name):
				t.Errorf("%s field %s: no index of table %s starts with column %s", d.GroupKind, c.Field, d.Table, c.Name)
			}
		}
	}
	for name, tbl := range tables {
		if name == postgres.ObjectsTable.Name || !hasAllColumns(tbl, objects) {
			continue
		}
		d, ok := byTable[name]
		if !ok {
			t.Errorf("resource table %s is the table of no declared kind", name)
			continue
		}
		for column := range tbl.columns {
			_, common := objects.columns[column]
			if !common && !slices.ContainsFunc(d.Columns, func(c selectable.Column) bool { return c.Name == column }) {
				t.Errorf("table %s: column %s holds no declared field of %s", name, column, d.GroupKind)
			}
		}
	}
}

func hasAllColumns(tbl, of *table) bool {
	for column := range of.columns {
		if _, ok := tbl.columns[column]; !ok {
			return false
		}
	}
	return true
}

// checkRegistry builds every served resource on the migrated database: its
// field set has exactly the declared fields and the metadata ones, the watch
// cache is handed an index of each watch-cache indexed field (checkIndexes),
// and an object written through its storage lands in the declared table with
// each field in its column.
func checkRegistry(ctx context.Context, t *testing.T, backend *postgres.Backend, pool *pgxpool.Pool, declared map[schema.GroupResource]selectable.Declaration) {
	given := map[schema.GroupResource]cacheIndexes{}
	optsGetter := restOptionsGetter{decorator: recordIndexes(backend.StorageDecorator(storageTables(), false), given)}
	fill := fuzzer.FuzzerFor(fuzzer.MergeFuzzerFuncs(metafuzzer.Funcs, streamfuzzer.Funcs, catalogfuzzer.Funcs), rand.NewSource(1), Codecs)
	served := sets.New[schema.GroupResource]()
	stores := map[string]*genericregistry.Store{}
	for _, resources := range []map[string]newREST{streamResources, catalogResources} {
		for name, build := range resources {
			store, _, err := build(Scheme, optsGetter)
			if err != nil {
				t.Fatalf("build storage of %s: %v", name, err)
			}
			stores[name] = store.Store
		}
	}
	_, userStore, err := user.NewREST(Scheme, optsGetter)
	if err != nil {
		t.Fatalf("build storage of users: %v", err)
	}
	stores["users"] = userStore
	_, apiKeyStore, err := apikey.NewREST(Scheme, optsGetter, nil)
	if err != nil {
		t.Fatalf("build storage of apikeys: %v", err)
	}
	stores["apikeys"] = apiKeyStore
	shareStore, _, err := sessionshare.NewREST(Scheme, optsGetter, nil, nil)
	if err != nil {
		t.Fatalf("build storage of sessionshares: %v", err)
	}
	stores["sessionshares"] = shareStore.Store
	for _, store := range stores {
		t.Cleanup(store.Destroy)
		resource := store.DefaultQualifiedResource
		served.Insert(resource)
		d := declared[resource]

		obj := store.New()
		fill.Fill(obj)
		m, err := meta.Accessor(obj)
		if err != nil {
			t.Fatal(err)
		}
		m.SetResourceVersion("")
		m.SetGenerateName("")
		m.SetName("selectable")
		m.SetNamespace("")
		reqCtx := ctx
		if store.NamespaceScoped() {
			m.SetNamespace("selectable")
			reqCtx = genericapirequest.WithNamespace(ctx, "selectable")
		}

		_, set, err := store.PredicateFunc(labels.Everything(), fields.Everything()).GetAttrs(obj)
		if err != nil {
			t.Fatalf("%s: %v", resource, err)
		}
		want := sets.New("metadata.name")
		if store.NamespaceScoped() {
			want.Insert("metadata.namespace")
		}
		for _, c := range d.Columns {
			want.Insert(c.Field)
		}
		if got := sets.KeySet(set); !got.Equal(want) {
			t.Errorf("%s: the registry's field set has %v, the declaration %v", resource, sets.List(got), sets.List(want))
		}
		checkIndexes(reqCtx, t, store, d, given[resource], obj, set)

		if len(d.Columns) == 0 {
			continue
		}
		key, err := store.KeyFunc(reqCtx, m.GetName())
		if err != nil {
			t.Fatal(err)
		}
		if err := store.Storage.Storage.Create(ctx, key, obj, store.New(), 0); err != nil {
			t.Errorf("%s: write %s: %v", resource, key, err)
			continue
		}
		// Timestamp columns are read back as the RFC 3339 text of the field,
		// bigint columns as the decimal text; NULL as empty.
		columns := make([]string, len(d.Columns))
		values := make([]any, len(d.Columns))
		for i, c := range d.Columns {
			columns[i], values[i] = c.Name, new(string)
			switch c.Type {
			case selectable.Timestamp:
				columns[i] = `coalesce(to_char(` + c.Name + ` AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'), '')`
			case selectable.BigInt:
				columns[i] = `coalesce(` + c.Name + `::text, '')`
			}
		}
		err = pool.QueryRow(ctx, `SELECT `+strings.Join(columns, ", ")+` FROM `+d.Table+` WHERE namespace = $1 AND name = $2`,
			m.GetNamespace(), m.GetName()).Scan(values...)
		if err != nil {
			t.Errorf("%s: the written object is not in table %s: %v", resource, d.Table, err)
			continue
		}
		for i, c := range d.Columns {
			if got := *values[i].(*string); got != set[c.Field] {
				t.Errorf("%s: column %s.%s holds %q, field %s is %q", resource, d.Table, c.Name, got, c.Field, set[c.Field])
			}
		}
	}
	for resource := range declared {
		if !served.Has(resource) {
			t.Errorf("selectable fields are declared for %s, which is not served", resource)
		}
	}
}

// cacheIndexes are what a store handed the storage decorator for the watch
// cache: its trigger and its indexes.
type cacheIndexes struct {
	trigger  storage.IndexerFuncs
	indexers cache.Indexers
}

// recordIndexes wraps decorator to record, by resource, the watch-cache
// trigger and indexes each store is built with.
func recordIndexes(decorator generic.StorageDecorator, given map[schema.GroupResource]cacheIndexes) generic.StorageDecorator {
	return func(config *storagebackend.ConfigForResource, resourcePrefix string, keyFunc func(obj runtime.Object) (string, error),
		newFunc, newListFunc func() runtime.Object, getAttrsFunc storage.AttrFunc, triggerFuncs storage.IndexerFuncs, indexers *cache.Indexers,
	) (storage.Interface, factory.DestroyFunc, error) {
		recorded := cacheIndexes{trigger: triggerFuncs}
		if indexers != nil {
			recorded.indexers = *indexers
		}
		given[config.GroupResource] = recorded
		return decorator(config, resourcePrefix, keyFunc, newFunc, newListFunc, getAttrsFunc, triggerFuncs, indexers)
	}
}

// checkIndexes: the watch cache of the store is given an index named
// f:<field> of each declared watch-cache indexed field, and no other, each
// answering the field's value of obj (whose field set is set); the store's
// predicate names exactly those fields as IndexFields, in declaration order,
// so that a selector requiring one value of one of them is answered from its
// index; and the first of them is the watch cache's trigger.
func checkIndexes(ctx context.Context, t *testing.T, store *genericregistry.Store, d selectable.Declaration, given cacheIndexes, obj runtime.Object, set fields.Set) {
	resource := store.DefaultQualifiedResource
	var indexed []string
	for _, c := range d.Columns {
		if c.WatchCacheIndexed() {
			indexed = append(indexed, c.Field)
		}
	}
	if got := store.PredicateFunc(labels.Everything(), fields.Everything()).IndexFields; !slices.Equal(got, indexed) {
		t.Errorf("%s: the predicate's IndexFields are %v, the declared watch-cache indexed fields %v", resource, got, indexed)
	}
	want := sets.New[string]()
	for _, field := range indexed {
		name := storage.FieldIndex(field)
		want.Insert(name)
		index, ok := given.indexers[name]
		if !ok {
			t.Errorf("%s field %s: the watch cache has no index %s", resource, field, name)
			continue
		}
		if values, err := index(obj); err != nil || !slices.Equal(values, []string{set[field]}) {
			t.Errorf("%s field %s: index %s answers %q (error %v), want [%q]", resource, field, name, values, err, set[field])
		}
		pred := store.PredicateFunc(labels.Everything(), fields.OneTermEqualSelector(field, set[field]))
		match := storage.MatchValue{IndexName: name, Value: set[field]}
		if got := pred.MatcherIndex(ctx); !slices.Contains(got, match) {
			t.Errorf("%s: a list selecting %s=%q is not answered from index %s: MatcherIndex is %v", resource, field, set[field], name, got)
		}
	}
	if got := sets.KeySet(given.indexers); !got.Equal(want) {
		t.Errorf("%s: the watch cache's indexes are %v, want %v", resource, sets.List(got), sets.List(want))
	}
	if len(indexed) == 0 {
		if len(given.trigger) != 0 {
			t.Errorf("%s: no field is indexed, yet the watch cache has triggers %v", resource, sets.List(sets.KeySet(given.trigger)))
		}
		return
	}
	trigger, ok := given.trigger[indexed[0]]
	if len(given.trigger) != 1 || !ok {
		t.Errorf("%s: the watch cache's triggers are %v, want %s", resource, sets.List(sets.KeySet(given.trigger)), indexed[0])
		return
	}
	if got := trigger(obj); got != set[indexed[0]] {
		t.Errorf("%s: trigger %s answers %q, want %q", resource, indexed[0], got, set[indexed[0]])
	}
}

// checkConversions: in every served version of a declared kind, a field
// selector is accepted exactly on a declared selectable field or
// metadata.name and metadata.namespace; every other field of the type, a
// recorded field included, is refused. (A declared name need not be a path
// of the type: CatalogTemplate's spec.appType selects
// spec.template.appType.)
func checkConversions(t *testing.T, declared map[schema.GroupResource]selectable.Declaration) {
	for _, d := range declared {
		checkFieldLabels(t, d, sets.New(selectable.MetadataFields...), "spec.undeclared")
	}
}

// checkFieldLabels: in every served version of d's kind, a field selector
// is accepted exactly on a declared selectable field or one of also; every
// other field of the type, each recorded field and each of probes, is
// refused.
func checkFieldLabels(t *testing.T, d selectable.Declaration, also sets.Set[string], probes ...string) {
	want := also.Clone()
	for _, c := range d.Columns {
		if c.Recorded {
			probes = append(probes, c.Field)
			continue
		}
		want.Insert(c.Field)
	}
	for _, gv := range Scheme.PrioritizedVersionsForGroup(d.GroupKind.Group) {
		gvk := gv.WithKind(d.GroupKind.Kind)
		obj, err := Scheme.New(gvk)
		if err != nil {
			t.Fatal(err)
		}
		paths := sets.New[string]()
		jsonPaths(reflect.TypeOf(obj), "", paths)
		for _, label := range sets.List(paths.Union(want).Insert(probes...)) {
			_, _, err := Scheme.ConvertFieldLabel(gvk, label, "x")
			if accepted := err == nil; accepted != want.Has(label) {
				t.Errorf("%s: field selector %s accepted = %v, want %v", gvk, label, accepted, want.Has(label))
			}
		}
	}
}

// jsonPaths adds the JSON paths of the scalar fields of struct type typ
// (through pointers and nested structs, not lists or maps) to paths.
func jsonPaths(typ reflect.Type, prefix string, paths sets.Set[string]) {
	for typ.Kind() == reflect.Pointer {
		typ = typ.Elem()
	}
	for i := range typ.NumField() {
		f := typ.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" || (name == "" && !f.Anonymous) {
			continue
		}
		path := prefix
		if name != "" {
			path = strings.TrimPrefix(prefix+"."+name, ".")
		}
		ft := f.Type
		for ft.Kind() == reflect.Pointer {
			ft = ft.Elem()
		}
		switch ft.Kind() {
		case reflect.Struct:
			jsonPaths(ft, path, paths)
		case reflect.Slice, reflect.Map, reflect.Array, reflect.Interface, reflect.Func, reflect.Chan:
		default:
			paths.Insert(path)
		}
	}
}
