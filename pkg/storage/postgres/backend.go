package postgres

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/value"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/storage/postgres/broadcast"
)

// BackendOptions tune a Backend. Zero values take the defaults.
type BackendOptions struct {
	// HistoryRetention is how long history is kept: watches and exact-RV
	// lists can start that far back. Default 10 minutes.
	HistoryRetention time.Duration
	// CompactionInterval is how often history is compacted. Default 1 minute;
	// negative disables background compaction.
	CompactionInterval time.Duration
	// PollInterval is how often the tailer reads history when no NOTIFY
	// arrives (the fallback when notifications are lost). Default 1 second.
	PollInterval time.Duration
	// ProgressNotifyInterval is how often watchers that asked for progress
	// notifications get a bookmark. Default 5 seconds.
	ProgressNotifyInterval time.Duration
	// NotifyChannel is the LISTEN/NOTIFY channel. Default "streamspace_storage".
	NotifyChannel string
	// SkipMigrations leaves the schema alone (it must be migrated already).
	SkipMigrations bool
}

func (o *BackendOptions) complete() {
	if o.HistoryRetention <= 0 {
		o.HistoryRetention = 10 * time.Minute
	}
	if o.CompactionInterval == 0 {
		o.CompactionInterval = time.Minute
	}
	if o.PollInterval <= 0 {
		o.PollInterval = time.Second
	}
	if o.ProgressNotifyInterval <= 0 {
		o.ProgressNotifyInterval = 5 * time.Second
	}
	if o.NotifyChannel == "" {
		o.NotifyChannel = "streamspace_storage"
	}
}

const (
	// tailBatch is how many history rows the tailer and a replaying watcher read at once.
	tailBatch = 1000
	// databaseCallTimeout bounds a commit or a tailer read: a connection to a
	// host that vanished without closing it would otherwise hang until TCP
	// gives up, and every write would queue behind it.
	databaseCallTimeout = 30 * time.Second
	// notReadyAfter is how long the tailer may go without reading the database
	// before ReadinessCheck fails.
	notReadyAfter = 15 * time.Second
)

// Backend is one process's connection to the storage database: it owns the
// tailer that reads new history rows and fans them out to watchers, and the
// background compaction. Stores for individual resources come from NewStore.
//
// Connections: reads use the caller's pool, where lists, initial watch
// states and history replays together hold at most readSlots connections, so
// point reads (Get, the read before an update) always find one. The committer
// and the tailer share a pool of their own with one connection each, so no
// number of reads can keep a write from committing or watchers from hearing
// of it; LISTEN holds one more connection.
type Backend struct {
	pool      *pgxpool.Pool // reads
	reserved  *pgxpool.Pool // the committer's and the tailer's connections
	readSlots chan struct{} // one token per long read in flight on pool
	opts      BackendOptions
	changes   *broadcast.Broadcaster[change]

	commitQueue     chan *commitRequest // writes waiting for the committer
	wake            chan struct{}       // another replica committed: read history now
	progressRequest chan struct{}       // watchers want a progress bookmark

	// local holds the commits of this process the tailer has not taken yet
	// (handOver); localWake tells it there are some. localCommitted is the
	// newest resourceVersion this process is committing or committed (only
	// the committer stores it): the NOTIFY of a commit at or below it needs
	// no read of history (listenOnce).
	localMu        sync.Mutex
	local          []localCommit
	localDropped   bool // commits were dropped from local: read history
	localWake      chan struct{}
	localCommitted atomic.Int64

	// beatQueue holds heartbeats waiting for the beat batcher (lease.go),
	// started by the first Beat.
	startBeats sync.Once
	beatQueue  chan *beatRequest

	compactedRV  atomic.Int64
	lastPollUnix atomic.Int64

	// lastPublished is the newest history row the tailer has handed to
	// watchers; the tailer checks on every read that the database still has
	// it (see readNewHistory). Only the tailer goroutine uses it.
	lastPublished publishedRow

	// logger is the caller's logger, named postgres-storage.
	logger klog.Logger
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// reservedConns is the size of the pool of the committer and the tailer: one
// connection each, so neither ever waits for the other.
const reservedConns = 2

// NewBackend migrates the schema and starts the tailer and the compactor.
// Close stops them; the pool stays the caller's. The Backend opens
// reservedConns+1 connections of its own besides the pool's (committer,
// tailer, LISTEN), with the pool's configuration.
func NewBackend(ctx context.Context, pool *pgxpool.Pool, opts BackendOptions) (*Backend, error) {
	opts.complete()
	registerMetrics()
	if !opts.SkipMigrations {
		if err := Migrate(ctx, pool); err != nil {
			return nil, err
		}
	}
	var current, compacted int64
	if err := pool.QueryRow(ctx, sqlRevisions).Scan(&current, &compacted); err != nil {
		return nil, fmt.Errorf("read storage revisions: %w", err)
	}
	reservedConfig := pool.Config()
	reservedConfig.MaxConns, reservedConfig.MinConns = reservedConns, 0
	reserved, err := pgxpool.NewWithConfig(ctx, reservedConfig)
	if err != nil {
		return nil, fmt.Errorf("open the committer's connection pool: %w", err)
	}
	bctx, cancel := context.WithCancel(context.Background())
	b := &Backend{
		logger:          klog.FromContext(ctx).WithName("postgres-storage"),
		pool:            pool,
		reserved:        reserved,
		readSlots:       make(chan struct{}, readSlotsFor(pool.Config().MaxConns)),
		opts:            opts,
		changes:         broadcast.New[change](current),
		commitQueue:     make(chan *commitRequest, maxCommitBatch),
		wake:            make(chan struct{}, 1),
		localWake:       make(chan struct{}, 1),
		progressRequest: make(chan struct{}, 1),
		ctx:             bctx,
		cancel:          cancel,
	}
	b.compactedRV.Store(compacted)
	b.lastPollUnix.Store(time.Now().Unix())

	b.wg.Add(3)
	go b.tailHistory(current)
	go b.listenForCommits()
	go b.runCommitter()
	if opts.CompactionInterval > 0 {
		b.wg.Add(1)
		go b.runCompaction()
	}
	b.logger.Info("postgres storage started", "resourceVersion", current, "compactedRevision", compacted,
		"historyRetention", opts.HistoryRetention)
	return b, nil
}

// Close stops the tailer and the compactor and ends every watch.
func (b *Backend) Close() {
	b.cancel()
	b.wg.Wait()
	b.changes.Close()
	b.reserved.Close()
}

// readSlotsFor is how many long reads may hold connections of a pool of
// maxConns at once: a quarter of the pool (at least one) stays free for
// point reads and compaction.
func readSlotsFor(maxConns int32) int {
	return int(max(1, maxConns-max(1, maxConns/4)))
}

// acquireReadSlot waits until a long read (a list, an initial watch state, a
// history replay) may take a connection of the read pool; release gives the
// slot back.
func (b *Backend) acquireReadSlot(ctx context.Context) (release func(), err error) {
	select {
	case b.readSlots <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-b.ctx.Done():
		return nil, errStorageClosed
	}
	readSlotsInUse.Inc()
	return func() {
		readSlotsInUse.Dec()
		<-b.readSlots
	}, nil
}

// StoreOption adjusts a store made by NewStore.
type StoreOption func(*store)

// WithTransformer sets the transformer applied to objects at rest (encryption); default identity.
func WithTransformer(t value.Transformer) StoreOption {
	return func(s *store) {
		if t != nil {
			s.transformer = t
		}
	}
}

// WithGroupResource names the resource in metrics and logs.
func WithGroupResource(gr schema.GroupResource) StoreOption {
	return func(s *store) { s.groupResource = gr }
}

// WithPathPrefix prepends a prefix (like etcd's "/registry") to every key.
func WithPathPrefix(prefix string) StoreOption {
	return func(s *store) {
		p := path.Join("/", prefix)
		if !strings.HasSuffix(p, "/") {
			p += "/"
		}
		s.pathPrefix = p
	}
}

// NewStore returns the storage.Interface of one resource kept in table.
// resourcePrefix is the key prefix of the resource (e.g. "/sessions"), and
// getAttrs (may be nil for the generic table) fills the table's columns. It
// panics on a table whose names are not plain SQL identifiers: that is a
// programming error.
func (b *Backend) NewStore(table Table, codec runtime.Codec, newFunc, newListFunc func() runtime.Object, resourcePrefix string, getAttrs storage.AttrFunc, opts ...StoreOption) storage.Interface {
	return b.newStore(table, codec, newFunc, newListFunc, resourcePrefix, getAttrs, opts...)
}

func (b *Backend) newStore(table Table, codec runtime.Codec, newFunc, newListFunc func() runtime.Object, resourcePrefix string, getAttrs storage.AttrFunc, opts ...StoreOption) *store {
	if err := table.validate(); err != nil {
		panic(fmt.Sprintf("postgres storage: %v", err))
	}
	s := &store{
		backend:        b,
		table:          table,
		stmts:          newTableStatements(table),
		codec:          codec,
		versioner:      storage.APIObjectVersioner{},
		transformer:    identityTransformer{},
		newFunc:        newFunc,
		newListFunc:    newListFunc,
		getAttrs:       getAttrs,
		pathPrefix:     "/",
		resourcePrefix: resourcePrefix,
		groupResource:  schema.GroupResource{Resource: table.Name},

		aggregateCorrupt: unsafeDeletionEnabled(),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// revisions returns the current and the compacted resourceVersion.
func (b *Backend) revisions(ctx context.Context) (current, compacted int64, err error) {
	err = b.pool.QueryRow(ctx, sqlRevisions).Scan(&current, &compacted)
	return current, compacted, err
}

// readiness fails when the tailer has not reached the database for a while.
func (b *Backend) readiness() error {
	last := time.Unix(b.lastPollUnix.Load(), 0)
	if since := time.Since(last); since > notReadyAfter {
		return fmt.Errorf("postgres storage: no successful read of the database for %v", since.Round(time.Second))
	}
	if b.ctx.Err() != nil {
		return errors.New("postgres storage: backend closed")
	}
	return nil
}
