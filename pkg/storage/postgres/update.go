package postgres

import (
	"bytes"
	"context"
	"fmt"

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
	getCurrentState := s.getCurrentState(ctx, preparedKey, v, ignoreNotFound)

	var origState *objState
	var origStateIsCurrent bool
	if cachedExistingObject != nil {
		origState, err = s.getStateFromObject(cachedExistingObject)
	} else {
		origState, err = getCurrentState()
		origStateIsCurrent = true
	}
	if err != nil {
		return err
	}

	transformContext := authenticatedDataString(preparedKey)
	for {
		if err := preconditions.Check(preparedKey, origState.obj); err != nil {
			// The suggested object may be stale: check against the stored one before failing.
			if origStateIsCurrent {
				return err
			}
			origState, err = getCurrentState()
			if err != nil {
				return err
			}
			origStateIsCurrent = true
			continue
		}

		ret, err := s.updateState(origState, tryUpdate)
		if err != nil {
			if origStateIsCurrent {
				return err
			}
			cachedRev := origState.rev
			cachedUpdateErr := err
			origState, err = getCurrentState()
			if err != nil {
				return err
			}
			origStateIsCurrent = true
			if cachedRev == origState.rev {
				return cachedUpdateErr
			}
			continue
		}

		data, err := runtime.Encode(s.codec, ret)
		if err != nil {
			return err
		}
		if !origState.stale && bytes.Equal(data, origState.data) {
			// No change: confirm against the stored object, then return it unwritten.
			if !origStateIsCurrent {
				origState, err = getCurrentState()
				if err != nil {
					return err
				}
				origStateIsCurrent = true
				if !bytes.Equal(data, origState.data) {
					continue
				}
			}
			if !origState.stale {
				return s.decode(origState.data, destination, origState.rev)
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
		if origState.rev == 0 {
			op = s.insertOp(preparedKey, r, stored)
		} else {
			op = s.updateOp(preparedKey, origState.rev, r, stored)
		}
		if err := s.backend.commit(ctx, op); err != nil {
			return err
		}
		if !op.applied {
			klog.FromContext(ctx).V(4).Info("GuaranteedUpdate conflicted, retrying", "key", preparedKey)
			origState, err = getCurrentState()
			if err != nil {
				return err
			}
			origStateIsCurrent = true
			continue
		}
		return s.decode(data, destination, op.rv)
	}
}
