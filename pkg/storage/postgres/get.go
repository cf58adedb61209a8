package postgres

import (
	"context"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage"
)

// Get reads the latest state of key. A ResourceVersion in opts is a minimum:
// newer than the database's current one is an error.
func (s *store) Get(ctx context.Context, key string, opts storage.GetOptions, out runtime.Object) (err error) {
	defer func() { err = apiError(ctx, err, "get", key) }()
	preparedKey, err := s.prepareKey(key, false)
	if err != nil {
		return err
	}
	current, rev, stored, found, err := s.readKey(ctx, preparedKey)
	if err != nil {
		return err
	}
	if err := s.validateMinimumResourceVersion(opts.ResourceVersion, uint64(current)); err != nil {
		return err
	}
	if !found {
		if opts.IgnoreNotFound {
			return runtime.SetZeroValue(out)
		}
		return storage.NewKeyNotFoundError(preparedKey, 0)
	}
	data, _, err := s.transformer.TransformFromStorage(ctx, stored, authenticatedDataString(preparedKey))
	if err != nil {
		return asCorruptObject(preparedKey, storage.NewInternalError(err))
	}
	return asCorruptObject(preparedKey, s.decode(data, out, rev))
}
