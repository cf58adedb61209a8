package postgres

import (
	"bytes"
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/klog/v2"
)

// GuaranteedUpdate applies tryUpdate to the current object until the write
// does not conflict, like etcd3's. An update that does not change the stored
// bytes writes nothing and keeps the resourceVersion.
func (s *store) GuaranteedUpdate(
	ctx context.Context, key string, destination runtime.Object, ignoreNotFound bool,
	preconditions *storage.Preconditions, tryUpdate storage.UpdateFunc, cachedExistingObject runtime.Object) (err error) {
	defer func() { err = apiError(ctx, err, "update", key) }()
	preparedKey, err := s.prepareKey(key, false)
	if err != nil {
		return err
	}
	v, err := conversion.EnforcePtr(destination)
	if err != nil {
		return fmt.Errorf("unable to convert output object to pointer: %v", err)
	}
	st, err := s.startState(ctx, preparedKey, v, ignoreNotFound, cachedExistingObject, false)
	if err != nil {
		return err
	}

	transformContext := authenticatedDataString(preparedKey)
	for {
		if err := preconditions.Check(preparedKey, st.state.obj); err != nil {
			// The suggested object may be stale: check against the stored one before failing.
			if st.current {
				return err
			}
			if err := st.reread(); err != nil {
				return err
			}
			continue
		}

		ret, err := s.updateState(st.state, tryUpdate)
		if err != nil {
			if err := st.recheck(err); err != nil {
				return err
			}
			continue
		}

		data, err := runtime.Encode(s.codec, ret)
		if err != nil {
			return err
		}
		if !st.state.stale && bytes.Equal(data, st.state.data) {
			// No change: confirm against the stored object, then return it unwritten.
			if !st.current {
				if err := st.reread(); err != nil {
					return err
				}
				if !bytes.Equal(data, st.state.data) {
					continue
				}
			}
			if !st.state.stale {
				return s.decode(st.state.data, destination, st.state.rev)
			}
		}

		stored, err := s.transformer.TransformToStorage(ctx, data, transformContext)
		if err != nil {
			return storage.NewInternalError(err)
		}
		r, err := s.rowFor(ret)
		if err != nil {
			return err
		}
		var op *writeOp
		if st.state.rev == 0 {
			op = s.insertOp(preparedKey, r, stored)
		} else {
			op = s.updateOp(preparedKey, st.state.rev, r, stored)
		}
		changed := s.table.MarkChanges && (st.state.rev == 0 || generationChanged(st.state.obj, ret))
		if err := s.backend.commit(ctx, s.withMark(op, changed)...); err != nil {
			return err
		}
		if !op.applied {
			klog.FromContext(ctx).V(4).Info("GuaranteedUpdate conflicted, retrying", "key", preparedKey)
			if err := st.reread(); err != nil {
				return err
			}
			continue
		}
		return s.decode(data, destination, op.rv)
	}
}

// generationChanged reports whether an update changes the object's
// metadata.generation (its spec), or cannot tell.
func generationChanged(old, updated runtime.Object) bool {
	o, err := meta.Accessor(old)
	if err != nil {
		return true
	}
	u, err := meta.Accessor(updated)
	if err != nil {
		return true
	}
	return o.GetGeneration() != u.GetGeneration()
}
