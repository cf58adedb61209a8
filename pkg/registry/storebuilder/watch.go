package storebuilder

import (
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
)

// MapWatch serves each event of w with its object passed through f, for
// storages that serve less than they store (a hash, other people's usage).
//
// Objects from the watch cache arrive wrapped in a runtime.CacheableObject
// that every watcher shares, with its serializations cached: a check of the
// event's type against T alone would never match and the stored object
// would be served whole. The wrapped object is unwrapped, and f must return
// a copy, never change its argument, which other watchers share.
func MapWatch[T runtime.Object](w watch.Interface, f func(T) T) watch.Interface {
	return watch.Filter(w, func(e watch.Event) (watch.Event, bool) {
		if e.Type == watch.Bookmark || e.Type == watch.Error {
			return e, true
		}
		obj := e.Object
		if cached, ok := obj.(runtime.CacheableObject); ok {
			obj = cached.GetObject()
		}
		if t, ok := obj.(T); ok {
			e.Object = f(t)
		}
		return e, true
	})
}
