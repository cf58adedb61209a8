package postgres

import (
	"context"
	"fmt"
	"reflect"
	"strings"

	"github.com/jackc/pgx/v5"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
)

// maxLimit caps a list page read from the database, as etcd3's does.
const maxLimit = 10000

const (
	expiredList     = "The resourceVersion for the provided list is too old."
	continueExpired = "The provided continue parameter is too old " +
		"to display a consistent list result. You can start a new list without " +
		"the continue parameter."
	inconsistentContinue = "The provided continue parameter is too old " +
		"to display a consistent list result. You can start a new list without " +
		"the continue parameter, or use the continue token in this response to " +
		"retrieve the remainder of the results. Continuing with the provided " +
		"token results in an inconsistent list - objects that were created, " +
		"modified, or deleted between the time the first chunk was returned " +
		"and now may show up in the list."
)

// listRow is one stored object of a list page.
type listRow struct {
	key  string
	rev  int64
	data []byte
}

// GetList lists the objects under key (or key itself when not recursive). All
// pages of one call are read in one REPEATABLE READ snapshot; an exact or
// continued resourceVersion older than the latest state is answered from
// history, which must not be compacted past it.
func (s *store) GetList(ctx context.Context, key string, opts storage.ListOptions, listObj runtime.Object) (err error) {
	defer func() { err = apiError(ctx, err, "list", key) }()
	keyPrefix, err := s.prepareKey(key, opts.Recursive)
	if err != nil {
		return err
	}
	listPtr, err := meta.GetItemsPtr(listObj)
	if err != nil {
		return err
	}
	v, err := conversion.EnforcePtr(listPtr)
	if err != nil || v.Kind() != reflect.Slice {
		return fmt.Errorf("need ptr to slice: %v", err)
	}
	limit := opts.Predicate.Limit
	paging := limit > 0
	newItemFunc := getNewItemFunc(listObj, v)

	withRev, continueKey, err := storage.ValidateListOptions(keyPrefix, s.versioner, opts)
	if err != nil {
		return err
	}
	requestedRev := withRev

	release, err := s.backend.acquireReadSlot(ctx)
	if err != nil {
		return err
	}
	defer release()
	if withRev == 0 && !paging && continueKey == "" {
		return s.getLatestList(ctx, keyPrefix, opts, listObj, v, newItemFunc)
	}
	tx, err := s.backend.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return fmt.Errorf("list %s: %w", s.groupResource, err)
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only

	var current, compacted int64
	if err := tx.QueryRow(ctx, sqlRevisions).Scan(&current, &compacted); err != nil {
		return fmt.Errorf("list %s: %w", s.groupResource, err)
	}
	var readAt int64 // 0: the latest state of the snapshot
	switch {
	case withRev == 0:
		if err := s.validateMinimumResourceVersion(opts.ResourceVersion, uint64(current)); err != nil {
			return err
		}
		withRev = current
	case withRev > current:
		return storage.NewTooLargeResourceVersionError(uint64(withRev), uint64(current), 0)
	case withRev < compacted:
		return compactedListError(len(opts.Predicate.Continue) > 0, continueKey, keyPrefix)
	case withRev < current:
		readAt = withRev
	}

	q := listQuery{table: s.table.Name, atRV: readAt, columnEquals: s.pushDownFields(opts.Predicate)}
	if opts.Recursive {
		q.fromKey, q.toKey = keyPrefix, prefixEnd(keyPrefix)
		if continueKey != "" {
			q.fromKey = continueKey
		}
		// Keys cannot hold NUL, so ">= k\x00..." is "> k" (continue keys end in \x00).
		if i := strings.IndexByte(q.fromKey, 0); i >= 0 {
			q.fromKey, q.fromStrict = q.fromKey[:i], true
		}
	} else {
		q.exactKey = keyPrefix
	}

	itemErrs := listItemErrors{aggregate: s.aggregateCorrupt}
	var (
		lastKey    string
		hasMore    bool
		count      int64
		firstChunk = true
		chunkLimit = limit
		// the revision an etcd3 page read would name: the requested one, then the snapshot's
		pageRevision = requestedRev
	)
	for {
		q.limit = 0
		if paging {
			q.limit = chunkLimit + 1 // one more tells whether more remain
		}
		if s.observeListPage != nil {
			s.observeListPage(ctx, q.rangeStart(), pageRevision, max(q.limit-1, 0))
		}
		pageRevision = withRev
		rows, err := s.queryList(ctx, tx, q)
		if err != nil {
			return err
		}
		chunkHasMore := paging && int64(len(rows)) > chunkLimit
		if chunkHasMore {
			rows = rows[:chunkLimit]
		}
		if firstChunk && chunkHasMore && opts.Predicate.Empty() {
			// remainingItemCount: everything from this page's start on.
			cq := q
			cq.count, cq.limit = true, 0
			if count, err = s.countList(ctx, tx, cq); err != nil {
				return err
			}
		}
		firstChunk = false

		limitReached := false
		for _, r := range rows {
			if paging && int64(v.Len()) >= limit {
				limitReached = true
				break
			}
			lastKey = r.key
			if err := s.appendListItem(ctx, r, opts.Predicate, newItemFunc, v); err != nil && itemErrs.add(r.key, err) {
				return itemErrs.err(s.groupResource)
			}
		}
		hasMore = chunkHasMore || limitReached
		if !hasMore && len(q.columnEquals) > 0 && paging && int64(v.Len()) >= limit {
			// SQL skipped the rows the pushed-down selectors reject. Like etcd3,
			// which cannot know that the rest would not match, offer a
			// continue token when any key follows.
			if hasMore, err = s.anyKeyAfter(ctx, tx, q, lastKey); err != nil {
				return err
			}
		}
		if limitReached || !chunkHasMore || (paging && int64(v.Len()) >= limit) {
			break
		}
		// The page was thinned by the selectors: read on, in bigger chunks.
		q.fromKey, q.fromStrict = lastKey, true
		if chunkLimit < maxLimit {
			chunkLimit = min(chunkLimit*2, maxLimit)
		}
	}

	if err := itemErrs.err(s.groupResource); err != nil {
		return err
	}
	return s.finishList(listObj, v, opts, keyPrefix, lastKey, withRev, count, hasMore)
}

// finishList sets a list's resourceVersion, continue token and remaining
// item count, as etcd3 does (an empty list has an empty, not nil, slice).
func (s *store) finishList(listObj runtime.Object, v reflect.Value, opts storage.ListOptions, keyPrefix, lastKey string, rev, count int64, hasMore bool) error {
	continueValue, remainingItemCount, err := storage.PrepareContinueToken(lastKey, keyPrefix, rev, count, hasMore, opts)
	if err != nil {
		return err
	}
	if v.IsNil() {
		v.Set(reflect.MakeSlice(v.Type(), 0, 0))
	}
	if err := s.versioner.UpdateList(listObj, uint64(rev), continueValue, remainingItemCount); err != nil {
		return err
	}
	if utilfeature.DefaultFeatureGate.Enabled(features.ShardedListAndWatch) {
		opts.Predicate.SetShardInfoOnList(listObj)
	}
	return nil
}

// getLatestList answers an unpaged list of the latest state (the list
// that reaches the database most often: consistent lists of a resource
// without a watch cache, as session-quota admission makes on every create,
// and the watch cache's own initial lists) in one round trip: the snapshot's
// begin, the revisions, the rows and the commit go to Postgres as one
// pipeline, where GetList's general path waits for an answer to each of the
// four. The snapshot is the same REPEATABLE READ one, so the list's
// resourceVersion is that of exactly the rows returned.
func (s *store) getLatestList(ctx context.Context, keyPrefix string, opts storage.ListOptions, listObj runtime.Object, v reflect.Value, newItemFunc func() runtime.Object) error {
	q := listQuery{table: s.table.Name, columnEquals: s.pushDownFields(opts.Predicate)}
	if opts.Recursive {
		q.fromKey, q.toKey = keyPrefix, prefixEnd(keyPrefix)
	} else {
		q.exactKey = keyPrefix
	}
	if s.observeListPage != nil {
		s.observeListPage(ctx, q.rangeStart(), 0, 0)
	}
	s.listQueries.Add(1)
	var (
		current, compacted int64
		rows               []listRow
	)
	b := &pgx.Batch{}
	b.Queue("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
	b.Queue(sqlRevisions).QueryRow(func(row pgx.Row) error { return row.Scan(&current, &compacted) })
	sql, args := q.sql()
	b.Queue(sql, args...).Query(func(r pgx.Rows) error {
		for r.Next() {
			var row listRow
			if err := r.Scan(&row.key, &row.rev, &row.data); err != nil {
				return err
			}
			rows = append(rows, row)
		}
		return r.Err()
	})
	b.Queue("COMMIT")
	// A failed statement leaves the connection in an aborted transaction;
	// the pool closes such a connection instead of reusing it.
	if err := s.backend.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("list %s: %w", s.groupResource, err)
	}
	if err := s.validateMinimumResourceVersion(opts.ResourceVersion, uint64(current)); err != nil {
		return err
	}
	var lastKey string
	itemErrs := listItemErrors{aggregate: s.aggregateCorrupt}
	for _, r := range rows {
		lastKey = r.key
		if err := s.appendListItem(ctx, r, opts.Predicate, newItemFunc, v); err != nil && itemErrs.add(r.key, err) {
			break
		}
	}
	if err := itemErrs.err(s.groupResource); err != nil {
		return err
	}
	return s.finishList(listObj, v, opts, keyPrefix, lastKey, current, 0, false)
}

func (s *store) queryList(ctx context.Context, tx pgx.Tx, q listQuery) ([]listRow, error) {
	s.listQueries.Add(1)
	sql, args := q.sql()
	rows, err := tx.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", s.groupResource, err)
	}
	defer rows.Close()
	var out []listRow
	for rows.Next() {
		var r listRow
		if err := rows.Scan(&r.key, &r.rev, &r.data); err != nil {
			return nil, fmt.Errorf("list %s: %w", s.groupResource, err)
		}
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list %s: %w", s.groupResource, err)
	}
	return out, nil
}

// anyKeyAfter reports whether q, without its pushed-down selectors, has a key after key.
func (s *store) anyKeyAfter(ctx context.Context, tx pgx.Tx, q listQuery, key string) (bool, error) {
	q.fromKey, q.fromStrict, q.columnEquals, q.limit = key, true, nil, 1
	rows, err := s.queryList(ctx, tx, q)
	return len(rows) > 0, err
}

func (s *store) countList(ctx context.Context, tx pgx.Tx, q listQuery) (int64, error) {
	sql, args := q.sql()
	var n int64
	if err := tx.QueryRow(ctx, sql, args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count %s: %w", s.groupResource, err)
	}
	return n, nil
}

func (s *store) appendListItem(ctx context.Context, r listRow, pred storage.SelectionPredicate, newItemFunc func() runtime.Object, v reflect.Value) error {
	data, _, err := s.transformer.TransformFromStorage(ctx, r.data, authenticatedDataString(r.key))
	if err != nil {
		return storage.NewInternalError(fmt.Errorf("unable to transform key %q: %w", r.key, err))
	}
	select {
	case <-ctx.Done():
		return storage.NewTimeoutError(r.key, "request did not complete within requested timeout")
	default:
	}
	obj, _, err := s.codec.Decode(data, nil, newItemFunc())
	if err != nil {
		return s.decodeFailed(err, r.rev)
	}
	if err := s.versioner.UpdateObject(obj, uint64(r.rev)); err != nil {
		return fmt.Errorf("set resourceVersion of %q: %w", r.key, err)
	}
	if matched, err := pred.Matches(obj); err == nil && matched {
		v.Set(reflect.Append(v, reflect.ValueOf(obj).Elem()))
	}
	return nil
}

// pushDownFields returns the equality field selectors that a table column
// answers. They only narrow what SQL returns: every object is still matched
// against the whole predicate in Go.
func (s *store) pushDownFields(pred storage.SelectionPredicate) map[string]string {
	if pred.Field == nil || pred.Field.Empty() || s.noFieldPushDown {
		return nil
	}
	var out map[string]string
	for _, req := range pred.Field.Requirements() {
		if req.Operator != selection.Equals && req.Operator != selection.DoubleEquals {
			continue
		}
		col, ok := s.table.columnForField(req.Field)
		if !ok {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		if prev, dup := out[col]; dup && prev != req.Value {
			// Contradictory selectors: let Go reject everything.
			continue
		}
		out[col] = req.Value
	}
	return out
}

// compactedListError is etcd3's answer to a read below the compaction point.
func compactedListError(paging bool, continueKey, keyPrefix string) error {
	if !paging {
		return apierrors.NewResourceExpired(expiredList)
	}
	newToken, err := storage.EncodeContinue(continueKey, keyPrefix, -1)
	if err != nil {
		utilruntime.HandleError(err)
		return apierrors.NewResourceExpired(continueExpired)
	}
	statusError := apierrors.NewResourceExpired(inconsistentContinue)
	statusError.ErrStatus.ListMeta.Continue = newToken
	return statusError
}

func getNewItemFunc(listObj runtime.Object, v reflect.Value) func() runtime.Object {
	// For unstructured lists with a target group/version, preserve the group/version in the instantiated list items.
	if unstructuredList, isUnstructured := listObj.(*unstructured.UnstructuredList); isUnstructured {
		if apiVersion := unstructuredList.GetAPIVersion(); len(apiVersion) > 0 {
			return func() runtime.Object {
				return &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": apiVersion}}
			}
		}
	}
	elem := v.Type().Elem()
	return func() runtime.Object {
		return reflect.New(elem).Interface().(runtime.Object)
	}
}

// scanLatest reads, in one snapshot, the latest state of every object under
// keyPrefix (or of the key), calling each in key order, and returns the
// snapshot's resourceVersion. Watches use it to send initial events.
func (s *store) scanLatest(ctx context.Context, keyPrefix string, recursive bool, each func(listRow) error) (int64, error) {
	release, err := s.backend.acquireReadSlot(ctx)
	if err != nil {
		return 0, err
	}
	defer release()
	tx, err := s.backend.pool.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return 0, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck // read-only
	var current, compacted int64
	if err := tx.QueryRow(ctx, sqlRevisions).Scan(&current, &compacted); err != nil {
		return 0, err
	}
	q := listQuery{table: s.table.Name, limit: maxLimit}
	if recursive {
		q.fromKey, q.toKey = keyPrefix, prefixEnd(keyPrefix)
	} else {
		q.exactKey = keyPrefix
	}
	for {
		rows, err := s.queryList(ctx, tx, q)
		if err != nil {
			return 0, err
		}
		for _, r := range rows {
			if err := each(r); err != nil {
				return 0, err
			}
		}
		if int64(len(rows)) < q.limit || !recursive {
			return current, nil
		}
		q.fromKey, q.fromStrict = rows[len(rows)-1].key, true
	}
}
