package storebuilder

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/client-go/tools/cache"
)

// watchCacheIndexes are the indexes the apiserver's watch cache keeps of a
// resource, built from its declared selectable fields: one per field the
// watch cache indexes (selectable.Field.WatchCacheIndexed).
type watchCacheIndexes struct {
	// fields are the indexed fields in declaration order, the predicate's
	// IndexFields.
	fields []string
	// indexers are the watch cache's indexes, named as
	// SelectionPredicate.MatcherIndex asks for them: "f:<field>".
	indexers cache.Indexers
	// trigger is the first indexed field: the watch cache takes one, and
	// wakes a watch requiring one value of it only for events whose object
	// or previous object holds that value. Nil when no field is indexed.
	trigger storage.IndexerFuncs
}

func (r Rules[T]) watchCacheIndexes() watchCacheIndexes {
	ix := watchCacheIndexes{indexers: cache.Indexers{}}
	for _, f := range r.Fields.Fields {
		if !f.WatchCacheIndexed() {
			continue
		}
		value := f.Value
		ix.fields = append(ix.fields, f.Name)
		// The watch cache indexes the objects it holds, which the storage
		// decoded into the internal type.
		ix.indexers[storage.FieldIndex(f.Name)] = func(obj any) ([]string, error) {
			o, ok := obj.(T)
			if !ok {
				var want T
				return nil, fmt.Errorf("index %s: got %T, want %T", f.Name, obj, want)
			}
			return []string{value(o)}, nil
		}
		if ix.trigger == nil {
			ix.trigger = storage.IndexerFuncs{f.Name: func(obj runtime.Object) string {
				if o, ok := obj.(T); ok {
					return value(o)
				}
				return ""
			}}
		}
	}
	return ix
}
