package postgres

import (
	"context"
	"fmt"
	"reflect"

	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/klog/v2"
)

// Delete removes key if the preconditions and validateDeletion accept the
// stored object, retrying on conflicts like etcd3's. out receives the deleted
// object with the resourceVersion of the deletion. With
// opts.ExpectTransformOrDecodeError (an unsafe delete, corrupt.go) it removes
// key only while its stored bytes cannot be read: validateDeletion sees no
// object, out is left alone, and a readable object is refused.
func (s *store) Delete(
	ctx context.Context, key string, out runtime.Object, preconditions *storage.Preconditions,
	validateDeletion storage.ValidateObjectFunc, cachedExistingObject runtime.Object, opts storage.DeleteOptions) (err error) {
	defer func() { err = apiError(ctx, err, "delete", key) }()
	preparedKey, err := s.prepareKey(key, false)
	if err != nil {
		return err
	}
	v, err := conversion.EnforcePtr(out)
	if err != nil {
		return fmt.Errorf("unable to convert output object to pointer: %v", err)
	}
	expectCorrupt := opts.ExpectTransformOrDecodeError && unsafeDeletionEnabled()
	if expectCorrupt && preconditions != nil {
		return storage.NewInvalidObjError(preparedKey, "preconditions cannot be checked on an object that cannot be read")
	}
	return s.conditionalDelete(ctx, preparedKey, out, v, preconditions, validateDeletion, cachedExistingObject, expectCorrupt)
}

func (s *store) conditionalDelete(
	ctx context.Context, key string, out runtime.Object, v reflect.Value, preconditions *storage.Preconditions,
	validateDeletion storage.ValidateObjectFunc, cachedExistingObject runtime.Object, expectCorrupt bool) error {
	st, err := s.startState(ctx, key, v, false, cachedExistingObject, expectCorrupt)
	if err != nil {
		return err
	}
	for {
		if preconditions != nil {
			if err := preconditions.Check(key, st.state.obj); err != nil {
				if err := st.recheck(err); err != nil {
					return err
				}
				continue
			}
		}
		if err := validateDeletion(ctx, st.state.obj); err != nil {
			if err := st.recheck(err); err != nil {
				return err
			}
			continue
		}

		op := s.deleteOp(key, st.state.rev)
		cutoff, guarded := reapCutoff(ctx)
		if guarded {
			if s.table.Name != leaseTable {
				return fmt.Errorf("a reap cutoff applies to %s only, not %s", leaseTable, s.table.Name)
			}
			op.sql, op.args = guardedDeleteSQL(s.table.Name, reapGuard), append(op.args, cutoff)
		}
		if err := s.backend.commit(ctx, s.withMark(op, true)...); err != nil {
			return err
		}
		if !op.applied && guarded {
			// Either the object changed (try again at its new version) or
			// its lease has beaten since the cutoff: then it stays.
			rev := st.state.rev
			if err := st.reread(); err != nil {
				return err
			}
			if st.state.rev == rev {
				return storage.NewResourceVersionConflictsError(key, rev)
			}
			continue
		}
		if !op.applied {
			klog.FromContext(ctx).V(4).Info("deletion conflicted, retrying", "key", key)
			if err := st.reread(); err != nil {
				return err
			}
			continue
		}
		if expectCorrupt {
			return nil
		}
		return s.decode(st.state.data, out, op.rv)
	}
}
