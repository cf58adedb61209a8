package postgres

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/registry/generic"
	"k8s.io/apiserver/pkg/storage"
	cacherstorage "k8s.io/apiserver/pkg/storage/cacher"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	"k8s.io/apiserver/pkg/storage/storagebackend/factory"
	"k8s.io/client-go/tools/cache"
)

// StorageDecorator builds the storage of each registry (genericregistry.Store)
// on this backend, in the table of its resource (ObjectsTable for resources
// not in tables). With enableWatchCache the store is wrapped in the
// apiserver's own watch cache exactly as genericregistry.StorageWithCacher
// does, without going through the etcd-only storage factory.
func (b *Backend) StorageDecorator(tables map[schema.GroupResource]Table, enableWatchCache bool) generic.StorageDecorator {
	return func(
		config *storagebackend.ConfigForResource,
		resourcePrefix string,
		keyFunc func(obj runtime.Object) (string, error),
		newFunc func() runtime.Object,
		newListFunc func() runtime.Object,
		getAttrsFunc storage.AttrFunc,
		triggerFuncs storage.IndexerFuncs,
		indexers *cache.Indexers) (storage.Interface, factory.DestroyFunc, error) {

		table, ok := tables[config.GroupResource]
		if !ok {
			table = ObjectsTable
		}
		opts := []StoreOption{WithTransformer(config.Transformer), WithGroupResource(config.GroupResource), WithPathPrefix(config.Prefix)}
		if unsafeDeletionEnabled() {
			opts = append(opts, WithCorruptObjectHandling())
		}
		s := b.newStore(table, config.Codec, newFunc, newListFunc, resourcePrefix, getAttrsFunc, opts...)
		b.logger.V(2).Info("postgres storage for resource", "resource", config.GroupResource, "table", table.Name, "watchCache", enableWatchCache)
		if !enableWatchCache {
			return s, func() {}, nil
		}
		announceWatchProgressSupport()

		cacher, err := cacherstorage.NewCacherFromConfig(cacherstorage.Config{
			Storage:             s,
			Versioner:           storage.APIObjectVersioner{},
			GroupResource:       config.GroupResource,
			EventsHistoryWindow: config.EventsHistoryWindow,
			ResourcePrefix:      resourcePrefix,
			KeyFunc:             keyFunc,
			NewFunc:             newFunc,
			NewListFunc:         newListFunc,
			GetAttrsFunc:        getAttrsFunc,
			IndexerFuncs:        triggerFuncs,
			Indexers:            indexers,
			Codec:               config.Codec,
		})
		if err != nil {
			return nil, func() {}, err
		}
		delegator := cacherstorage.NewCacheDelegator(cacher, s)
		var once sync.Once
		destroy := func() {
			once.Do(func() {
				delegator.Stop()
				cacher.Stop()
			})
		}
		return delegator, destroy, nil
	}
}
