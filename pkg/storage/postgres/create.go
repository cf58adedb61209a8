package postgres

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage"

	"github.com/streamspace/controlplane/pkg/storage/readguard"
)

// Create stores obj at key unless the key exists. When the request's
// admission read a cached copy of another resource (readguard), the insert
// is made only if that copy is still current; otherwise Create returns
// readguard's stale-read error and stores nothing. ttl is ignored: expiring
// keys are an etcd lease feature this storage does not offer (docs/storage.md).
func (s *store) Create(ctx context.Context, key string, obj, out runtime.Object, ttl uint64) (err error) {
	defer func() { err = apiError(ctx, err, "create", key) }()
	preparedKey, err := s.prepareKey(key, false)
	if err != nil {
		return err
	}
	if version, err := s.versioner.ObjectResourceVersion(obj); err == nil && version != 0 {
		return storage.ErrResourceVersionSetOnCreate
	}
	if err := s.versioner.PrepareObjectForStorage(obj); err != nil {
		return fmt.Errorf("PrepareObjectForStorage failed: %v", err)
	}
	data, err := runtime.Encode(s.codec, obj)
	if err != nil {
		return err
	}
	stored, err := s.transformer.TransformToStorage(ctx, data, authenticatedDataString(preparedKey))
	if err != nil {
		return storage.NewInternalError(err)
	}
	r, err := s.rowFor(obj)
	if err != nil {
		return err
	}
	op := s.insertOp(preparedKey, r, stored)
	ops := s.withMark(op, true)
	guard := readguard.From(ctx)
	if g := guardOp(guard); g != nil {
		ops = append([]*writeOp{g}, ops...)
	}
	if err := s.backend.commit(ctx, ops...); err != nil {
		if isStaleRead(err) {
			staleReads.WithLabelValues(guard.Resource.String()).Inc()
			return readguard.NewStaleError(guard.Resource, guard.Seen)
		}
		return err
	}
	if !op.applied {
		return storage.NewKeyExistsError(preparedKey, 0)
	}
	if out != nil {
		return s.decode(data, out, op.rv)
	}
	return nil
}
