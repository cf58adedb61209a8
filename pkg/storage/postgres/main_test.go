package postgres

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/apimachinery/pkg/api/apitesting"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/apis/example"
	examplev1 "k8s.io/apiserver/pkg/apis/example/v1"
	"k8s.io/apiserver/pkg/storage"
	storagetesting "k8s.io/apiserver/pkg/storage/testing"
	"k8s.io/apiserver/pkg/storage/value"

	"github.com/streamspace/controlplane/internal/postgresproc"
	"github.com/streamspace/controlplane/internal/postgresproc/pgtest"
)

// The conformance tests use the example Pod types of k8s.io/apiserver, as
// etcd3's store_test.go does.
var (
	scheme = runtime.NewScheme()
	codecs = serializer.NewCodecFactory(scheme)
)

const (
	defaultTestPrefix = "test!"
	templateDatabase  = "storage_template"
)

func init() {
	metav1.AddToGroupVersion(scheme, metav1.SchemeGroupVersion)
	utilruntime.Must(example.AddToScheme(scheme))
	utilruntime.Must(examplev1.AddToScheme(scheme))
}

// One Postgres for the whole package; each test gets a fresh database cloned
// from a migrated template.
var (
	testServer *postgresproc.Server
	databases  atomic.Int64
)

func TestMain(m *testing.M) {
	srv, stop, err := pgtest.Start()
	if err != nil {
		fmt.Fprintf(os.Stderr, "start postgres: %v\n", err)
		os.Exit(1)
	}
	testServer = srv
	if err := createTemplateDatabase(); err != nil {
		stop()
		fmt.Fprintf(os.Stderr, "create template database: %v\n", err)
		os.Exit(1)
	}
	code := m.Run()
	stop()
	os.Exit(code)
}

func createTemplateDatabase() error {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	conn, err := pgx.Connect(ctx, testServer.DSN())
	if err != nil {
		return err
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+templateDatabase); err != nil {
		return err
	}
	pool, err := pgxpool.New(ctx, databaseDSN(templateDatabase))
	if err != nil {
		return err
	}
	defer pool.Close()
	return Migrate(ctx, pool)
}

func databaseDSN(name string) string {
	dsn := testServer.DSN()
	return dsn[:strings.LastIndex(dsn, "/")+1] + name + "?sslmode=disable"
}

// newTestPool returns a pool on a new, migrated database of its own.
func newTestPool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := NewPool(context.Background(), databaseDSN(newTestDatabase(t)), 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// newTestDatabase creates a new, migrated database and returns its name.
func newTestDatabase(t testing.TB) string {
	t.Helper()
	ctx := context.Background()
	name := fmt.Sprintf("test_%d", databases.Add(1))
	conn, err := pgx.Connect(ctx, testServer.DSN())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE "+templateDatabase); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return name
}

func newTestBackend(t testing.TB, pool *pgxpool.Pool, opts BackendOptions) *Backend {
	t.Helper()
	if opts.CompactionInterval == 0 {
		opts.CompactionInterval = -1 // the tests compact explicitly
	}
	b, err := NewBackend(context.Background(), pool, opts)
	if err != nil {
		t.Fatalf("NewBackend: %v", err)
	}
	t.Cleanup(b.Close)
	return b
}

type setupOptions struct {
	codec          runtime.Codec
	resourcePrefix string
	pathPrefix     string
	transformer    value.Transformer
	corruptObjects bool
	backend        BackendOptions
}

type setupOption func(*setupOptions)

func withCodec(codec runtime.Codec) setupOption {
	return func(o *setupOptions) { o.codec = codec }
}

func withTransformer(t value.Transformer) setupOption {
	return func(o *setupOptions) { o.transformer = t }
}

// withCorruptObjectHandling sets up the store as a server with
// AllowUnsafeMalformedObjectDeletion has it (WithCorruptObjectHandling).
func withCorruptObjectHandling() setupOption {
	return func(o *setupOptions) { o.corruptObjects = true }
}

func withBackendOptions(opts BackendOptions) setupOption {
	return func(o *setupOptions) { o.backend = opts }
}

func withPathPrefix(prefix string) setupOption {
	return func(o *setupOptions) { o.pathPrefix = prefix }
}

func newPod() runtime.Object     { return &example.Pod{} }
func newPodList() runtime.Object { return &example.PodList{} }

// testSetup returns a store of example Pods under /pods/ in the objects table
// of a fresh database, with the prefix transformer of the etcd3 tests.
func testSetup(t testing.TB, opts ...setupOption) (context.Context, *store, *Backend) {
	t.Helper()
	o := setupOptions{
		codec:          apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion),
		resourcePrefix: "/pods/",
		transformer:    storagetesting.NewPrefixTransformer([]byte(defaultTestPrefix), false),
	}
	for _, opt := range opts {
		opt(&o)
	}
	b := newTestBackend(t, newTestPool(t), o.backend)
	storeOpts := []StoreOption{WithTransformer(o.transformer), WithGroupResource(schema.GroupResource{Resource: "pods"})}
	if o.pathPrefix != "" {
		storeOpts = append(storeOpts, WithPathPrefix(o.pathPrefix))
	}
	if o.corruptObjects {
		storeOpts = append(storeOpts, WithCorruptObjectHandling())
	}
	s := b.newStore(ObjectsTable, o.codec, newPod, newPodList, o.resourcePrefix, nil, storeOpts...)
	return context.Background(), s, b
}

// storeWithPrefixTransformer lets the upstream tests swap the transformer.
type storeWithPrefixTransformer struct {
	*store
}

func (s *storeWithPrefixTransformer) UpdatePrefixTransformer(modifier storagetesting.PrefixTransformerModifier) func() {
	original := s.transformer.(*storagetesting.PrefixTransformer)
	transformer := *original
	s.transformer = modifier(&transformer)
	return func() { s.transformer = original }
}

// storeWithTransformerOverride lets the upstream tests wrap the transformer
// (the watch reads it from the store too).
type storeWithTransformerOverride struct {
	*store
}

func (s *storeWithTransformerOverride) UpdateTransformer(modifier storagetesting.TransformerModifier) func() {
	original := s.transformer
	s.transformer = modifier(original)
	return func() { s.transformer = original }
}

// bitsFlipped is the corrupt-object error the upstream tests inject for the
// objects they mark corrupt.
func bitsFlipped() error {
	return &corruptObjectError{err: errors.New("bits flipped"), untransformable: true}
}

// failingTransformer fails every read while set failing, as a lost
// encryption key would.
type failingTransformer struct {
	value.Transformer
	fail atomic.Bool
}

// newFailingTransformer wraps the prefix transformer testSetup stores with.
func newFailingTransformer() *failingTransformer {
	return &failingTransformer{Transformer: storagetesting.NewPrefixTransformer([]byte(defaultTestPrefix), false)}
}

func (f *failingTransformer) setFailing(fail bool) { f.fail.Store(fail) }

func (f *failingTransformer) TransformFromStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, bool, error) {
	if f.fail.Load() {
		return nil, false, errors.New("synthetic error")
	}
	return f.Transformer.TransformFromStorage(ctx, data, dataCtx)
}

// failingCodec fails every decode while set failing.
type failingCodec struct {
	runtime.Codec
	fail atomic.Bool
}

// newFailingCodec wraps the example Pod codec testSetup stores with.
func newFailingCodec() *failingCodec {
	return &failingCodec{Codec: apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion)}
}

func (f *failingCodec) setFailing(fail bool) { f.fail.Store(fail) }

func (f *failingCodec) Decode(data []byte, defaults *schema.GroupVersionKind, into runtime.Object) (runtime.Object, *schema.GroupVersionKind, error) {
	if f.fail.Load() {
		return nil, nil, errors.New("synthetic error")
	}
	return f.Codec.Decode(data, defaults, into)
}

// checkStorageInvariants reads the stored bytes of key straight from the
// table: they carry the transformer's prefix and no resourceVersion.
func checkStorageInvariants(s *store) storagetesting.KeyValidation {
	return func(ctx context.Context, t *testing.T, key string) {
		var stored []byte
		if err := s.backend.pool.QueryRow(ctx, "SELECT object FROM objects WHERE key = $1", key).Scan(&stored); err != nil {
			t.Fatalf("read %s: %v", key, err)
		}
		if !strings.HasPrefix(string(stored), defaultTestPrefix) {
			t.Fatalf("stored object lacks the transformer prefix: %q", stored)
		}
		decoded, err := runtime.Decode(s.codec, stored[len(defaultTestPrefix):])
		if err != nil {
			t.Fatalf("decode stored object: %v\n%s", err, stored)
		}
		obj := decoded.(*example.Pod)
		if obj.ResourceVersion != "" {
			t.Errorf("stored object should have empty resource version")
		}
		if obj.SelfLink != "" {
			t.Errorf("stored output should have empty selfLink")
		}
	}
}

// compactStorage compacts history up to the resourceVersion, as etcd3's compactStorage.
func compactStorage(b *Backend) storagetesting.Compaction {
	bumpRV := increaseRVFunc(b)
	return func(ctx context.Context, t *testing.T, resourceVersion string) {
		rv, err := storage.APIObjectVersioner{}.ParseResourceVersion(resourceVersion)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.compactHistory(ctx, int64(rv)); err != nil {
			t.Fatal(err)
		}
		// etcd3's compaction writes compact_rev_key, which moves the
		// revision on; the upstream tests count on that write.
		bumpRV(ctx, t)
	}
}

// increaseRVFunc makes one write outside the pods prefix and returns its resourceVersion.
func increaseRVFunc(b *Backend) storagetesting.IncreaseRVFunc {
	other := b.newStore(ObjectsTable, apitesting.TestCodec(codecs, examplev1.SchemeGroupVersion), newPod, newPodList, "/increase-rv/", nil)
	var n atomic.Int64
	return func(ctx context.Context, t *testing.T) int64 {
		out := &example.Pod{}
		err := other.GuaranteedUpdate(ctx, "/increase-rv/marker", out, true, nil,
			storage.SimpleUpdate(func(runtime.Object) (runtime.Object, error) {
				return &example.Pod{ObjectMeta: metav1.ObjectMeta{
					Name:        "marker",
					Annotations: map[string]string{"n": fmt.Sprint(n.Add(1))},
				}}, nil
			}), nil)
		if err != nil {
			t.Fatalf("increase resourceVersion: %v", err)
		}
		rv, _ := storage.APIObjectVersioner{}.ParseResourceVersion(out.ResourceVersion)
		return int64(rv)
	}
}

// checkStorageCallsInvariants is etcd3's check of how lists page: objects
// transformed, and page queries with the limit doubling up to maxLimit. With
// pushedDown, selectors answered by SQL may make both smaller.
func checkStorageCallsInvariants(s *store, pushedDown bool) storagetesting.CallsValidation {
	transformer := s.transformer.(*storagetesting.PrefixTransformer)
	return func(t *testing.T, pageSize, estimatedProcessedObjects uint64) {
		if reads := transformer.GetReadsAndReset(); reads != estimatedProcessedObjects && !(pushedDown && reads < estimatedProcessedObjects) {
			t.Errorf("unexpected reads: %d, expected: %d", reads, estimatedProcessedObjects)
		}
		estimatedGetCalls := uint64(1)
		if pageSize != 0 {
			currLimit := pageSize
			for sum := uint64(1); sum < estimatedProcessedObjects; {
				currLimit *= 2
				if currLimit > maxLimit {
					currLimit = maxLimit
				}
				sum += currLimit
				estimatedGetCalls++
			}
		}
		if queries := uint64(s.listQueries.Swap(0)); queries != estimatedGetCalls && !(pushedDown && queries < estimatedGetCalls) {
			t.Fatalf("unexpected list queries: %d, want: %d", queries, estimatedGetCalls)
		}
	}
}
