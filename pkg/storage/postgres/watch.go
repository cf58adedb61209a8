package postgres

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	utilflowcontrol "k8s.io/apiserver/pkg/util/flowcontrol"
	"k8s.io/klog/v2"
)

const (
	// subscriptionBuffer is how many changes a watcher may fall behind the
	// tailer before it is dropped and catches up from the history table.
	subscriptionBuffer = 256
	// resultBuffer is the watch.Interface channel size (etcd3 uses 100).
	resultBuffer = 100
	// tooLargeRetrySeconds is the Retry-After given with a resourceVersion from the future.
	tooLargeRetrySeconds = 1
)

var errWatchCompacted = apierrors.NewResourceExpired("The resourceVersion for the provided watch is too old.")

// Watch streams the changes under key after opts.ResourceVersion. It follows
// etcd3's semantics: RV "0" or unset (legacy) starts with the current state as
// ADDED events; SendInitialEvents (WatchList) does the same and ends the
// initial events with the k8s.io/initial-events-end bookmark when bookmarks
// are allowed; an RV below the compaction point ends with 410 Gone.
func (s *store) Watch(ctx context.Context, key string, opts storage.ListOptions) (w watch.Interface, err error) {
	defer func() { err = apiError(ctx, err, "watch", key) }()
	preparedKey, err := s.prepareKey(key, opts.Recursive)
	if err != nil {
		return nil, err
	}
	rev, err := s.versioner.ParseResourceVersion(opts.ResourceVersion)
	if err != nil {
		return nil, err
	}
	if opts.ProgressNotify && s.newFunc == nil {
		return nil, apierrors.NewInternalError(errors.New("progressNotify for watch is unsupported by the postgres storage because no newFunc was provided"))
	}
	startRV, err := s.startWatchResourceVersion(ctx, int64(rev), opts)
	if err != nil {
		return nil, err
	}
	forceInitialEvents := areInitialEventsRequired(int64(rev), opts)
	if startRV > 0 && !forceInitialEvents && startRV > s.backend.changes.Position() {
		// Ahead of the tailer: fine if the database has it (the tailer lags a
		// commit), an error if it is from the future.
		current, err := s.GetCurrentResourceVersion(ctx)
		if err != nil {
			return nil, err
		}
		if uint64(startRV) > current {
			return nil, storage.NewTooLargeResourceVersionError(uint64(startRV), current, tooLargeRetrySeconds)
		}
	}

	wc := &watchChan{
		store:            s,
		key:              preparedKey,
		recursive:        opts.Recursive,
		initialRev:       startRV,
		progressNotify:   opts.ProgressNotify,
		recordTimestamps: opts.RecordTimestamps,
		pred:             opts.Predicate,
		resultChan:       make(chan watch.Event, resultBuffer),
	}
	if wc.pred.Empty() {
		wc.pred = storage.Everything
	}
	wc.ctx, wc.cancel = context.WithCancel(ctx)
	watchers.WithLabelValues(s.table.Name).Inc()
	go wc.run(isInitialEventsEndBookmarkRequired(opts), forceInitialEvents)

	// The watch is established: let API priority and fairness release its seat.
	utilflowcontrol.WatchInitialized(ctx)
	return wc, nil
}

func (s *store) startWatchResourceVersion(ctx context.Context, rev int64, opts storage.ListOptions) (int64, error) {
	if rev > 0 {
		return rev, nil
	}
	if !utilfeature.DefaultFeatureGate.Enabled(features.WatchList) {
		return 0, nil
	}
	if opts.SendInitialEvents == nil || *opts.SendInitialEvents {
		return 0, nil // the initial events define the start
	}
	// sendInitialEvents=false with RV 0 or unset: from now on.
	current, err := s.GetCurrentResourceVersion(ctx)
	return int64(current), err
}

func isInitialEventsEndBookmarkRequired(opts storage.ListOptions) bool {
	if !utilfeature.DefaultFeatureGate.Enabled(features.WatchList) {
		return false
	}
	return opts.SendInitialEvents != nil && *opts.SendInitialEvents && opts.Predicate.AllowWatchBookmarks
}

func areInitialEventsRequired(rev int64, opts storage.ListOptions) bool {
	if opts.SendInitialEvents == nil && rev == 0 {
		return true // legacy watch from "0" or unset
	}
	if !utilfeature.DefaultFeatureGate.Enabled(features.WatchList) {
		return false
	}
	return opts.SendInitialEvents != nil && *opts.SendInitialEvents
}

// watchChan is one watch: a goroutine that sends initial events if asked,
// replays history after its resourceVersion and then follows the tailer.
type watchChan struct {
	store            *store
	key              string
	recursive        bool
	initialRev       int64
	progressNotify   bool
	recordTimestamps bool
	pred             storage.SelectionPredicate

	ctx        context.Context
	cancel     context.CancelFunc
	resultChan chan watch.Event
}

func (wc *watchChan) Stop() { wc.cancel() }

func (wc *watchChan) ResultChan() <-chan watch.Event { return wc.resultChan }

func (wc *watchChan) run(initialEventsEndBookmarkRequired, forceInitialEvents bool) {
	defer watchers.WithLabelValues(wc.store.table.Name).Dec()
	defer close(wc.resultChan)
	defer wc.cancel()

	if forceInitialEvents {
		if wc.initialRev > 0 {
			current, err := wc.store.GetCurrentResourceVersion(wc.ctx)
			if err != nil {
				wc.sendError(err)
				return
			}
			if uint64(wc.initialRev) > current {
				wc.sendError(storage.NewTooLargeResourceVersionError(uint64(wc.initialRev), current, tooLargeRetrySeconds))
				return
			}
		}
		if err := wc.sendInitialEvents(); err != nil {
			wc.sendError(err)
			return
		}
	}
	if initialEventsEndBookmarkRequired {
		bookmark, err := wc.bookmark(wc.initialRev, true)
		if err != nil {
			wc.sendError(err)
			return
		}
		if !wc.send(bookmark) {
			return
		}
	}
	wc.follow(wc.initialRev)
}

// sendInitialEvents sends the current state as ADDED events and moves the
// start of the watch to the snapshot they were read from.
func (wc *watchChan) sendInitialEvents() error {
	rev, err := wc.store.scanLatest(wc.ctx, wc.key, wc.recursive, func(r listRow) error {
		obj, err := wc.decode(r.key, r.data, r.rev)
		if err != nil {
			return err
		}
		if !wc.filter(obj) {
			return nil
		}
		if !wc.send(&watch.Event{Type: watch.Added, Object: obj}) {
			return wc.ctx.Err()
		}
		return nil
	})
	if err != nil {
		return err
	}
	wc.initialRev = rev
	return nil
}

// follow delivers every change after rv exactly once, in order: it subscribes
// to the tailer first, replays from the history table whatever the tailer had
// already passed, then takes the live stream, skipping what the replay
// covered. A watcher that falls behind the tailer is dropped by it and comes
// back here to catch up from the history table.
func (wc *watchChan) follow(last int64) {
	b := wc.store.backend
	for {
		sub, pos := b.changes.Subscribe(subscriptionBuffer, wc.accepts)
		if last < b.compactedRV.Load() {
			sub.Stop()
			wc.sendError(errWatchCompacted)
			return
		}
		if last < pos {
			var err error
			if last, err = wc.replay(last); err != nil {
				sub.Stop()
				wc.sendError(err)
				return
			}
		}
		resubscribe := false
		for !resubscribe {
			select {
			case <-wc.ctx.Done():
				sub.Stop()
				return
			case c, ok := <-sub.C:
				if !ok {
					if !sub.Lagged() {
						return // the backend is closing
					}
					resubscribe = true
					break
				}
				switch {
				case c.resync:
					sub.Stop()
					resubscribe = true
				case c.progress:
					if !wc.progressNotify {
						continue
					}
					event, err := wc.bookmark(max(c.rv, last), false)
					if err != nil {
						sub.Stop()
						wc.sendError(err)
						return
					}
					if !wc.send(event) {
						sub.Stop()
						return
					}
				case c.rv > last:
					if !wc.deliver(c) {
						sub.Stop()
						return
					}
					last = c.rv
				}
			}
		}
	}
}

// replay sends the history of this watch's keys after last and returns the
// resourceVersion it got to.
func (wc *watchChan) replay(last int64) (int64, error) {
	s := wc.store
	for {
		var (
			compacted int64
			changes   []change
			err       error
		)
		if wc.recursive {
			_, compacted, changes, err = s.backend.queryHistory(wc.ctx, sqlReplayHistory, last, tailBatch, s.table.Name, wc.key, prefixEnd(wc.key))
		} else {
			_, compacted, changes, err = s.backend.queryHistory(wc.ctx, sqlReplayKeyHistory, last, tailBatch, s.table.Name, wc.key)
		}
		if err != nil {
			return last, fmt.Errorf("replay history of %s: %w", wc.key, err)
		}
		if last < compacted {
			return last, errWatchCompacted
		}
		for _, c := range changes {
			if !wc.deliver(c) {
				return last, wc.ctx.Err()
			}
			last = c.rv
		}
		if len(changes) < tailBatch {
			return last, nil
		}
	}
}

// accepts is the subscription filter: this watch's changes and markers.
func (wc *watchChan) accepts(c change) bool {
	if c.progress {
		return wc.progressNotify
	}
	if c.resync {
		return true
	}
	if c.resource != wc.store.table.Name {
		return false
	}
	if wc.recursive {
		return strings.HasPrefix(c.key, wc.key)
	}
	return c.key == wc.key
}

// deliver turns a change into a watch event for this watcher, if it sees one.
// It returns false when the watch has ended.
func (wc *watchChan) deliver(c change) bool {
	event, err := wc.transform(c)
	if err != nil {
		klog.FromContext(wc.ctx).Error(err, "failed to prepare watch event", "key", c.key, "resourceVersion", c.rv)
		wc.sendError(err)
		return false
	}
	if event == nil {
		return true
	}
	return wc.send(event)
}

func (wc *watchChan) transform(c change) (*watch.Event, error) {
	var curObj, oldObj runtime.Object
	var err error
	if c.event != string(watch.Deleted) {
		if curObj, err = wc.decode(c.key, c.object, c.rv); err != nil {
			return nil, err
		}
	}
	acceptAll := wc.pred.Empty()
	if len(c.prevObject) > 0 && (c.event == string(watch.Deleted) || !acceptAll) {
		// The previous object carries the resourceVersion of this change, as in etcd3.
		if oldObj, err = wc.decode(c.key, c.prevObject, c.rv); err != nil {
			var corrupt *corruptObjectError
			if c.event == string(watch.Deleted) && errors.As(err, &corrupt) {
				return nil, &corruptObjectDeletedError{err: corrupt}
			}
			return nil, err
		}
	}
	var res *watch.Event
	switch c.event {
	case string(watch.Deleted):
		if oldObj == nil || !wc.filter(oldObj) {
			return nil, nil
		}
		res = &watch.Event{Type: watch.Deleted, Object: oldObj}
	case string(watch.Added):
		if !wc.filter(curObj) {
			return nil, nil
		}
		res = &watch.Event{Type: watch.Added, Object: curObj}
	default:
		if acceptAll {
			res = &watch.Event{Type: watch.Modified, Object: curObj}
			break
		}
		curPasses := wc.filter(curObj)
		oldPasses := oldObj != nil && wc.filter(oldObj)
		switch {
		case curPasses && oldPasses:
			res = &watch.Event{Type: watch.Modified, Object: curObj}
		case curPasses && !oldPasses:
			res = &watch.Event{Type: watch.Added, Object: curObj}
		case !curPasses && oldPasses:
			res = &watch.Event{Type: watch.Deleted, Object: oldObj}
		default:
			return nil, nil
		}
	}
	if wc.recordTimestamps {
		recorded := c.committedAt
		if recorded.IsZero() {
			recorded = time.Now()
		}
		res.Object = &timedWatchEvent{Object: res.Object, recordTime: recorded}
	}
	return res, nil
}

func (wc *watchChan) decode(key string, stored []byte, rev int64) (runtime.Object, error) {
	s := wc.store
	data, _, err := s.transformer.TransformFromStorage(wc.ctx, stored, authenticatedDataString(key))
	if err != nil {
		return nil, err
	}
	obj, err := runtime.Decode(s.codec, data)
	if err != nil {
		return nil, s.decodeFailed(err, rev)
	}
	if err := s.versioner.UpdateObject(obj, uint64(rev)); err != nil {
		return nil, fmt.Errorf("failure to version api object (%d) %#v: %v", rev, obj, err)
	}
	return obj, nil
}

func (wc *watchChan) filter(obj runtime.Object) bool {
	if wc.pred.Empty() {
		return true
	}
	matched, err := wc.pred.Matches(obj)
	return err == nil && matched
}

// bookmark is an empty object of the watched type carrying only rev (and the
// initial-events-end annotation when asked).
func (wc *watchChan) bookmark(rev int64, initialEventsEnd bool) (*watch.Event, error) {
	s := wc.store
	if s.newFunc == nil {
		return nil, errors.New("bookmarks need the store's newFunc")
	}
	obj := s.newFunc()
	if err := s.versioner.UpdateObject(obj, uint64(rev)); err != nil {
		return nil, fmt.Errorf("failed to propagate object resource version: %w", err)
	}
	if initialEventsEnd {
		if err := storage.AnnotateInitialEventsEndBookmark(obj); err != nil {
			return nil, fmt.Errorf("annotate initial events end bookmark of %s: %w", s.groupResource, err)
		}
	}
	return &watch.Event{Type: watch.Bookmark, Object: obj}, nil
}

func (wc *watchChan) send(event *watch.Event) bool {
	select {
	case wc.resultChan <- *event:
		return true
	case <-wc.ctx.Done():
		return false
	}
}

// sendError ends the watch with an error event (none for a cancelled watch).
func (wc *watchChan) sendError(err error) {
	defer wc.cancel()
	if errors.Is(err, context.Canceled) || wc.ctx.Err() != nil {
		return
	}
	var st metav1.Status
	var deletedCorrupt *corruptObjectDeletedError
	if errors.As(err, &deletedCorrupt) {
		st = *deletedCorrupt.status()
	} else {
		err = apiError(wc.ctx, err, "watch", wc.key)
		var status apierrors.APIStatus
		if !errors.As(err, &status) {
			status = apierrors.NewInternalError(err)
		}
		st = status.Status()
	}
	select {
	case wc.resultChan <- watch.Event{Type: watch.Error, Object: &st}:
	case <-wc.ctx.Done():
	}
}

// timedWatchEvent carries the commit time of a change for RecordTimestamps.
type timedWatchEvent struct {
	runtime.Object
	recordTime time.Time
}

var _ storage.WatchEventWithRecordTime = &timedWatchEvent{}

func (t *timedWatchEvent) GetObjectMeta() metav1.Object {
	m, _ := meta.Accessor(t.Object)
	return m
}

func (t *timedWatchEvent) DeepCopyObject() runtime.Object {
	return &timedWatchEvent{Object: t.Object.DeepCopyObject(), recordTime: t.recordTime}
}

func (t *timedWatchEvent) RecordTime() time.Time { return t.recordTime }

func (t *timedWatchEvent) Unwrap() runtime.Object { return t.Object }
