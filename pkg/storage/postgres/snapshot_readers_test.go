package postgres

// The readers of the snapshot consistency test: paginated lists and WatchList streams, recorded for checking.

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/apiserver/pkg/apis/example"
	"k8s.io/apiserver/pkg/storage"
)

// isNotReadyYet tells the answers of a watch cache that is still initialising,
// which a client retries.
func isNotReadyYet(err error) bool {
	return apierrors.IsTooManyRequests(err) || apierrors.IsServiceUnavailable(err) || errors.Is(err, storage.ErrStorageNotReady)
}

// listPages reads a whole list, following continue tokens, and checks that
// every page names the same resourceVersion.
func listPages(ctx context.Context, s storage.Interface, what string, opts storage.ListOptions) (snapshotRead, error) {
	read := snapshotRead{what: what, items: map[string]podVersion{}}
	opts.Recursive = true
	if opts.Predicate.Label == nil {
		limit := opts.Predicate.Limit
		opts.Predicate = storage.Everything
		opts.Predicate.Limit = limit
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		list := &example.PodList{}
		err := s.GetList(ctx, "/pods/", opts, list)
		if err != nil && isNotReadyYet(err) && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		if err != nil {
			return read, fmt.Errorf("%s: %w", what, err)
		}
		rv, err := strconv.ParseInt(list.ResourceVersion, 10, 64)
		if err != nil {
			return read, fmt.Errorf("%s: list resourceVersion %q: %w", what, list.ResourceVersion, err)
		}
		if read.rv != 0 && rv != read.rv {
			return read, fmt.Errorf("%s: a page at resourceVersion %d after one at %d", what, rv, read.rv)
		}
		read.rv = rv
		for i := range list.Items {
			pod := &list.Items[i]
			version, err := versionOf(pod)
			if err != nil {
				return read, fmt.Errorf("%s: %w", what, err)
			}
			read.items[pod.Namespace+"/"+pod.Name] = version
		}
		if list.Continue == "" {
			return read, nil
		}
		opts.ResourceVersion, opts.ResourceVersionMatch = "", ""
		opts.Predicate.Continue = list.Continue
	}
}

func versionOf(obj runtime.Object) (podVersion, error) {
	accessor, err := meta.Accessor(obj)
	if err != nil {
		return podVersion{}, err
	}
	rv, err := strconv.ParseInt(accessor.GetResourceVersion(), 10, 64)
	if err != nil {
		return podVersion{}, fmt.Errorf("resourceVersion of %s: %w", accessor.GetName(), err)
	}
	return podVersion{rv: rv, gen: accessor.GetLabels()["gen"]}, nil
}

// readWatchList opens a WatchList stream (retrying while the cache is not
// ready), collects the initial events up to the initial-events-end bookmark
// and then every event and bookmark until the stream reaches finalRV.
func readWatchList(ctx context.Context, s storage.Interface, rv string, finalRV *atomic.Int64, into *watchListRead) {
	into.initial = snapshotRead{what: "WatchList initial events (resourceVersion " + strconv.Quote(rv) + ")", items: map[string]podVersion{}}
	pred := storage.Everything
	pred.AllowWatchBookmarks = true
	sendInitialEvents := true
	opts := storage.ListOptions{ResourceVersion: rv, Predicate: pred, Recursive: true, SendInitialEvents: &sendInitialEvents}
	if rv != "" {
		opts.ResourceVersionMatch = metav1.ResourceVersionMatchNotOlderThan
	}
	deadline := time.Now().Add(time.Minute)
	for {
		err := readWatchListOnce(ctx, s, opts, finalRV, into)
		if err != nil && isNotReadyYet(err) && into.initial.rv == 0 && time.Now().Before(deadline) {
			clear(into.initial.items)
			time.Sleep(20 * time.Millisecond)
			continue
		}
		into.err = err
		return
	}
}

func readWatchListOnce(ctx context.Context, s storage.Interface, opts storage.ListOptions, finalRV *atomic.Int64, into *watchListRead) error {
	w, err := s.Watch(ctx, "/pods/", opts)
	if err != nil {
		return err
	}
	defer w.Stop()
	timeout := time.NewTimer(time.Minute)
	defer timeout.Stop()
	last := int64(0)
	for last < finalRV.Load() {
		var event watch.Event
		var ok bool
		select {
		case event, ok = <-w.ResultChan():
		case <-timeout.C:
			return fmt.Errorf("the stream reached resourceVersion %d in a minute, the writes ended at %d", last, finalRV.Load())
		case <-time.After(100 * time.Millisecond):
			continue // look at finalRV again
		}
		if !ok {
			return fmt.Errorf("the stream ended at resourceVersion %d", last)
		}
		if event.Type == watch.Error {
			return apierrors.FromObject(event.Object)
		}
		version, err := versionOf(event.Object)
		if err != nil {
			return err
		}
		// (behind the Cacher, events carry a caching wrapper, not the Pod)
		accessor, err := meta.Accessor(event.Object)
		if err != nil {
			return err
		}
		key := accessor.GetNamespace() + "/" + accessor.GetName()
		if into.initial.rv == 0 {
			switch {
			case event.Type == watch.Added:
				into.initial.items[key] = version
			case event.Type == watch.Bookmark && isInitialEventsEnd(event.Object):
				into.initial.rv = version.rv
				last = version.rv
			case event.Type == watch.Bookmark:
			default:
				return fmt.Errorf("a %s event before the end of the initial events", event.Type)
			}
			continue
		}
		e := streamEvent{typ: event.Type, podVersion: version}
		if event.Type != watch.Bookmark {
			e.key = key
		}
		into.events = append(into.events, e)
		last = max(last, version.rv)
	}
	return nil
}

func isInitialEventsEnd(obj runtime.Object) bool {
	accessor, err := meta.Accessor(obj)
	return err == nil && accessor.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true"
}
