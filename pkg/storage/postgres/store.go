package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/value"

	"github.com/streamspace/controlplane/pkg/storage/readguard"
)

// store is the storage.Interface of one resource. Its methods live in the
// file named after the verb.
type store struct {
	backend        *Backend
	table          Table
	stmts          *tableStatements
	codec          runtime.Codec
	versioner      storage.Versioner
	transformer    value.Transformer
	newFunc        func() runtime.Object
	newListFunc    func() runtime.Object
	getAttrs       storage.AttrFunc
	pathPrefix     string
	resourcePrefix string
	groupResource  schema.GroupResource

	estimateSize atomic.Bool
	// listQueries counts the SELECTs that fetched list pages (tests check paging with it).
	listQueries atomic.Int64
	// observeListPage, when set (by tests), sees every list page read the way
	// etcd3 would have asked for it: the range start, the revision requested
	// (0 = latest) and the page limit.
	observeListPage func(ctx context.Context, rangeStart string, revision, limit int64)
	// noFieldPushDown makes lists page exactly as etcd3 does (tests that
	// compare page reads with etcd3's set it); field selectors are then only
	// matched in Go.
	noFieldPushDown bool
	// markCorruptDecodes makes a failed decode of a stored object a corrupt
	// object (WithCorruptObjectHandling).
	markCorruptDecodes bool
	// aggregateCorrupt makes a list skip and name corrupt objects instead of
	// failing at the first (AllowUnsafeMalformedObjectDeletion, read when
	// the store is made, as etcd3 does).
	aggregateCorrupt bool
}

var _ storage.Interface = (*store)(nil)

// authenticatedDataString binds a transformed value to its key, as etcd3 does.
type authenticatedDataString string

func (d authenticatedDataString) AuthenticatedData() []byte { return []byte(string(d)) }

var _ value.Context = authenticatedDataString("")

// objState is an object as read from the database (or suggested by the caller).
type objState struct {
	obj   runtime.Object
	meta  *storage.ResponseMeta
	rev   int64
	data  []byte
	stale bool
}

func (s *store) Versioner() storage.Versioner { return s.versioner }

func (s *store) ReadinessCheck() error { return s.backend.readiness() }

func (s *store) CompactRevision() int64 { return s.backend.compactedRV.Load() }

// RequestWatchProgress makes the tailer catch up with the database and then
// send a progress bookmark to the watchers that asked for progress notifications.
func (s *store) RequestWatchProgress(ctx context.Context) error {
	s.backend.requestProgress()
	return nil
}

func (s *store) GetCurrentResourceVersion(ctx context.Context) (rv uint64, err error) {
	defer func() { err = apiError(ctx, err, "get current resourceVersion", "") }()
	current, _, err := s.backend.revisions(ctx)
	if err != nil {
		return 0, fmt.Errorf("read current resourceVersion: %w", err)
	}
	if current == 0 {
		return 0, errors.New("the current resource version must be greater than 0")
	}
	return uint64(current), nil
}

// EnableResourceSizeEstimation makes Stats report the average stored size,
// which the database computes; the keys function is not needed.
func (s *store) EnableResourceSizeEstimation(getKeys storage.KeysFunc) error {
	if getKeys == nil {
		return errors.New("KeysFunc cannot be nil")
	}
	if !s.estimateSize.CompareAndSwap(false, true) {
		return errors.New("resourceSizeEstimator already enabled")
	}
	return nil
}

func (s *store) Stats(ctx context.Context) (stats storage.Stats, err error) {
	defer func() { err = apiError(ctx, err, "count", s.resourcePrefix) }()
	prefix, err := s.prepareKey(s.resourcePrefix, true)
	if err != nil {
		return storage.Stats{}, err
	}
	release, err := s.backend.acquireReadSlot(ctx)
	if err != nil {
		return storage.Stats{}, err
	}
	defer release()
	var count, size int64
	if err := s.backend.pool.QueryRow(ctx, s.stmts.stats, prefix, prefixEnd(prefix)).Scan(&count, &size); err != nil {
		return storage.Stats{}, fmt.Errorf("count %s: %w", s.groupResource, err)
	}
	stats = storage.Stats{ObjectCount: count}
	if s.estimateSize.Load() && count > 0 {
		stats.EstimatedAverageObjectSizeBytes = size / count
	}
	return stats, nil
}

// prepareKey validates key like etcd3 and prepends the path prefix.
func (s *store) prepareKey(key string, recursive bool) (string, error) {
	key, err := storage.PrepareKey(s.resourcePrefix, key, recursive)
	if err != nil {
		return "", err
	}
	startIndex := 0
	if key[0] == '/' {
		startIndex = 1
	}
	return s.pathPrefix + key[startIndex:], nil
}

// prefixEnd is the first key after every key that starts with prefix.
func prefixEnd(prefix string) string {
	end := []byte(prefix)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] < 0xff {
			end[i]++
			return string(end[:i+1])
		}
	}
	return ""
}

// row is what a write stores besides the object bytes.
type row struct {
	namespace, name, uid string
	labels               string // JSON
	columns              []any  // the table's Columns, in order
}

func (s *store) rowFor(obj runtime.Object) (row, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return row{}, fmt.Errorf("read object metadata: %w", err)
	}
	labels := accessor.GetLabels()
	if labels == nil {
		labels = map[string]string{}
	}
	labelsJSON, err := json.Marshal(labels)
	if err != nil {
		return row{}, fmt.Errorf("encode labels: %w", err)
	}
	r := row{
		namespace: accessor.GetNamespace(),
		name:      accessor.GetName(),
		uid:       string(accessor.GetUID()),
		labels:    string(labelsJSON),
		columns:   make([]any, len(s.table.Columns)),
	}
	var fieldSet map[string]string
	if s.getAttrs != nil && len(s.table.Columns) > 0 {
		_, fields, err := s.getAttrs(obj)
		if err != nil {
			return row{}, fmt.Errorf("read selectable fields: %w", err)
		}
		fieldSet = fields
	}
	for i, c := range s.table.Columns {
		r.columns[i] = fieldSet[c.Field]
	}
	return r, nil
}

func (s *store) insertOp(key string, r row, data []byte) *writeOp {
	args := append([]any{int64(0), key, r.namespace, r.name, r.uid, r.labels, data}, r.columns...)
	return &writeOp{resource: s.table.Name, operation: "create", sql: s.stmts.insert, args: args,
		event: string(watch.Added), key: key, object: data}
}

func (s *store) updateOp(key string, expectedRV int64, r row, data []byte) *writeOp {
	args := append([]any{int64(0), key, expectedRV, r.namespace, r.name, r.uid, r.labels, data}, r.columns...)
	return &writeOp{resource: s.table.Name, operation: "update", sql: s.stmts.update, args: args,
		event: string(watch.Modified), key: key, object: data}
}

func (s *store) deleteOp(key string, expectedRV int64) *writeOp {
	return &writeOp{resource: s.table.Name, operation: "delete", sql: s.stmts.delete, args: []any{int64(0), key, expectedRV},
		event: string(watch.Deleted), key: key}
}

// withMark returns op followed, when the table marks changes and changed is
// true, by the op that marks the change (sqlMarkChange).
func (s *store) withMark(op *writeOp, changed bool) []*writeOp {
	if !s.table.MarkChanges || !changed {
		return []*writeOp{op}
	}
	return []*writeOp{op, {resource: s.table.Name, operation: "mark", auxiliary: true, sql: sqlMarkChange, args: []any{int64(0), s.groupResource.String()}}}
}

// guardOp is the op that refuses the transaction when g's read is stale; nil
// when the request has no guarded read.
func guardOp(g *readguard.Guard) *writeOp {
	if g == nil || g.Seen == 0 {
		return nil
	}
	return &writeOp{resource: "change_marks", operation: "guard", auxiliary: true, sql: sqlReadGuard, args: []any{int64(0), g.Resource.String(), g.Seen}}
}

// readKey reads one key at the latest state, with the current resourceVersion
// of the database in the same snapshot. found is false when the key is absent.
func (s *store) readKey(ctx context.Context, key string) (current, rev int64, data []byte, found bool, err error) {
	var rv *int64
	err = s.backend.pool.QueryRow(ctx, s.stmts.get, key).Scan(&current, &rv, &data)
	if err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			err = errors.New("storage schema has no resource_version row")
		}
		return 0, 0, nil, false, fmt.Errorf("get %s: %w", key, err)
	}
	if rv == nil {
		return current, 0, nil, false, nil
	}
	return current, *rv, data, true, nil
}

func (s *store) decode(data []byte, objPtr runtime.Object, rev int64) error {
	if _, err := conversion.EnforcePtr(objPtr); err != nil {
		return fmt.Errorf("unable to convert output object to pointer: %v", err)
	}
	if _, _, err := s.codec.Decode(data, nil, objPtr); err != nil {
		return s.decodeFailed(err, rev)
	}
	if err := s.versioner.UpdateObject(objPtr, uint64(rev)); err != nil {
		s.backend.logger.Error(err, "failed to update object version")
	}
	return nil
}

// stateInHand is the object a conditional write works from: at first the
// cached object the caller suggested (which may be stale) or the stored one,
// after any retry the stored one. Like etcd3's store, a check that fails on a
// cached object is repeated on the stored object before the error counts.
type stateInHand struct {
	state   *objState
	current bool // state was read from the database, not suggested by the caller
	read    func() (*objState, error)
}

// startState returns the state to start from: the cached object when
// there is one, else the stored one. With expectCorrupt (an unsafe delete)
// it is always the stored one, which must be unreadable: its state has no
// object then, and a readable one is an error.
func (s *store) startState(ctx context.Context, key string, v reflect.Value, ignoreNotFound bool, cached runtime.Object, expectCorrupt bool) (*stateInHand, error) {
	st := &stateInHand{read: s.getCurrentState(ctx, key, v, ignoreNotFound, expectCorrupt)}
	var err error
	if cached != nil && !expectCorrupt {
		st.state, err = s.getStateFromObject(cached)
	} else {
		st.state, err = st.read()
		st.current = true
	}
	return st, err
}

// reread replaces the state with the stored one.
func (st *stateInHand) reread() error {
	state, err := st.read()
	if err != nil {
		return err
	}
	st.state, st.current = state, true
	return nil
}

// recheck handles a check that failed with err: err stands when the state
// was the stored one, or when the stored one is the same version; otherwise
// the state is now the stored one and recheck returns nil to try again.
func (st *stateInHand) recheck(err error) error {
	if st.current {
		return err
	}
	cachedRev := st.state.rev
	if readErr := st.reread(); readErr != nil {
		return readErr
	}
	if cachedRev == st.state.rev {
		return err
	}
	return nil
}

func (s *store) getCurrentState(ctx context.Context, key string, v reflect.Value, ignoreNotFound, expectCorrupt bool) func() (*objState, error) {
	return func() (*objState, error) {
		_, rev, data, found, err := s.readKey(ctx, key)
		if err != nil {
			return nil, err
		}
		return s.getState(ctx, rev, data, found, key, v, ignoreNotFound, expectCorrupt)
	}
}

func (s *store) getState(ctx context.Context, rev int64, stored []byte, found bool, key string, v reflect.Value, ignoreNotFound, expectCorrupt bool) (*objState, error) {
	state := &objState{meta: &storage.ResponseMeta{}}
	if u, ok := v.Addr().Interface().(runtime.Unstructured); ok {
		state.obj = u.NewEmptyInstance()
	} else {
		state.obj = reflect.New(v.Type()).Interface().(runtime.Object)
	}
	if !found {
		if !ignoreNotFound {
			return nil, storage.NewKeyNotFoundError(key, 0)
		}
		if err := runtime.SetZeroValue(state.obj); err != nil {
			return nil, err
		}
		return state, nil
	}
	state.rev = rev
	state.meta.ResourceVersion = uint64(rev)
	data, stale, err := s.transformer.TransformFromStorage(ctx, stored, authenticatedDataString(key))
	if err == nil {
		state.data, state.stale = data, stale
		err = s.decode(state.data, state.obj, state.rev)
	} else {
		err = storage.NewInternalError(err)
	}
	switch {
	case expectCorrupt && err != nil:
		// Nothing of the object can be known; the delete goes by its revision.
		state.obj, state.data = nil, nil
		return state, nil
	case expectCorrupt:
		return nil, storage.NewInvalidObjError(key, "unsafe deletion is not allowed because the object is decodable from storage")
	case err != nil:
		return nil, asCorruptObject(key, err)
	}
	return state, nil
}

func (s *store) getStateFromObject(obj runtime.Object) (*objState, error) {
	state := &objState{obj: obj, meta: &storage.ResponseMeta{}}
	rv, err := s.versioner.ObjectResourceVersion(obj)
	if err != nil {
		return nil, fmt.Errorf("couldn't get resource version: %v", err)
	}
	state.rev = int64(rv)
	state.meta.ResourceVersion = uint64(state.rev)
	// Compute the serialized form the way a write would, to detect no-op updates.
	if err := s.versioner.PrepareObjectForStorage(obj); err != nil {
		return nil, fmt.Errorf("PrepareObjectForStorage failed: %v", err)
	}
	state.data, err = runtime.Encode(s.codec, obj)
	if err != nil {
		return nil, err
	}
	if err := s.versioner.UpdateObject(state.obj, uint64(rv)); err != nil {
		s.backend.logger.Error(err, "failed to update object version")
	}
	return state, nil
}

func (s *store) updateState(st *objState, userUpdate storage.UpdateFunc) (runtime.Object, error) {
	ret, _, err := userUpdate(st.obj, *st.meta)
	if err != nil {
		return nil, err
	}
	if err := s.versioner.PrepareObjectForStorage(ret); err != nil {
		return nil, fmt.Errorf("PrepareObjectForStorage failed: %v", err)
	}
	return ret, nil
}

func (s *store) validateMinimumResourceVersion(minimumResourceVersion string, actualRevision uint64) error {
	if minimumResourceVersion == "" {
		return nil
	}
	minimumRV, err := s.versioner.ParseResourceVersion(minimumResourceVersion)
	if err != nil {
		return apierrors.NewBadRequest(fmt.Sprintf("invalid resource version: %v", err))
	}
	if minimumRV > actualRevision {
		return storage.NewTooLargeResourceVersionError(minimumRV, actualRevision, 0)
	}
	return nil
}

// identityTransformer stores objects as the codec encodes them.
type identityTransformer struct{}

func (identityTransformer) TransformFromStorage(_ context.Context, data []byte, _ value.Context) ([]byte, bool, error) {
	return data, false, nil
}

func (identityTransformer) TransformToStorage(_ context.Context, data []byte, _ value.Context) ([]byte, error) {
	return data, nil
}
