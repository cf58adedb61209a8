package postgres

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/features"
	"k8s.io/apiserver/pkg/storage"
	"k8s.io/apiserver/pkg/storage/value"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
)

// Corrupt objects: stored bytes that cannot be transformed (an encryption key
// lost or rotated out too early) or decoded (bytes written around the API).
// With AllowUnsafeMalformedObjectDeletion (beta and on since Kubernetes 1.37)
// this storage behaves as etcd3's does for them:
//
//   - a GET of one answers 500 "corrupt object" with its key;
//   - a LIST returns the readable objects and an error with reason
//     StoreReadError that names every corrupt key (up to
//     maxCorruptObjects), instead of failing at the first one without
//     saying which;
//   - a DELETE with ignoreStoreReadErrorWithClusterBreakingPotential (verb
//     unsafe-delete-ignore-read-errors, checked by the generic delete
//     handler) removes one that cannot be read, and refuses one that can;
//   - a watch that sees such an object deleted ends with a StoreReadError
//     event, after which the watch cache lists again without it.
//
// Without the feature every read fails at the first unreadable object, as
// before.

// maxCorruptObjects caps the corrupt objects one LIST names; it stops reading
// at the next one. The same cap as etcd3's.
const maxCorruptObjects = 100

var errTooManyCorrupt = errors.New("too many errors, the list is truncated")

// corruptObjectError is a stored object that could not be read.
type corruptObjectError struct {
	err             error
	untransformable bool
	rev             int64
}

func (e *corruptObjectError) Error() string {
	what := "object not decodable"
	if e.untransformable {
		what = "data from the storage is not transformable"
	}
	return fmt.Sprintf("%s revision=%d: %v", what, e.rev, e.err)
}

func (e *corruptObjectError) Unwrap() error { return e.err }

func unsafeDeletionEnabled() bool {
	return utilfeature.DefaultFeatureGate.Enabled(features.AllowUnsafeMalformedObjectDeletion)
}

// WithCorruptObjectHandling makes every failure to transform or decode a
// stored object a corrupt object (the storage of a server with
// AllowUnsafeMalformedObjectDeletion). It must follow WithTransformer.
func WithCorruptObjectHandling() StoreOption {
	return func(s *store) {
		s.transformer = corruptMarkingTransformer{s.transformer}
		s.markCorruptDecodes = true
	}
}

// corruptMarkingTransformer marks every failure of the transformer it wraps
// as a corrupt object.
type corruptMarkingTransformer struct{ value.Transformer }

func (t corruptMarkingTransformer) TransformFromStorage(ctx context.Context, data []byte, dataCtx value.Context) ([]byte, bool, error) {
	out, stale, err := t.Transformer.TransformFromStorage(ctx, data, dataCtx)
	if err != nil {
		err = &corruptObjectError{err: err, untransformable: true}
	}
	return out, stale, err
}

// decodeFailed is the error of a failed decode of the object stored at rev.
func (s *store) decodeFailed(err error, rev int64) error {
	if s.markCorruptDecodes {
		return &corruptObjectError{err: err, rev: rev}
	}
	return err
}

// asCorruptObject returns err as storage's corrupt-object error of key when
// it is a corrupt object, else err.
func asCorruptObject(key string, err error) error {
	var corrupt *corruptObjectError
	if errors.As(err, &corrupt) {
		return storage.NewCorruptObjError(key, corrupt)
	}
	return err
}

// listItemErrors collects the errors of a list's items. Without
// aggregation the first error ends the list and is its error. With it,
// corrupt objects are skipped and named, up to maxCorruptObjects; any other
// error ends the list.
type listItemErrors struct {
	aggregate bool
	corrupt   []*storage.StorageError
	abort     error
}

// add records err of the item at key and reports whether the list must stop.
func (l *listItemErrors) add(key string, err error) bool {
	var corrupt *corruptObjectError
	if !l.aggregate || !errors.As(err, &corrupt) {
		l.abort = err
		return true
	}
	l.corrupt = append(l.corrupt, storage.NewCorruptObjError(key, corrupt))
	if len(l.corrupt) >= maxCorruptObjects {
		l.abort = errTooManyCorrupt
		return true
	}
	return false
}

// err is the list's error: nil, the error that ended it, or, when corrupt
// objects were skipped, a 500 with reason StoreReadError whose causes name
// each corrupt key (and the error that ended the list, if any).
func (l *listItemErrors) err(gr schema.GroupResource) error {
	if len(l.corrupt) == 0 {
		return l.abort
	}
	causes := make([]metav1.StatusCause, 0, len(l.corrupt)+1)
	for _, c := range l.corrupt {
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeUnexpectedServerResponse, Field: c.Key, Message: c.Error()})
	}
	switch {
	case errors.Is(l.abort, errTooManyCorrupt):
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeTooMany, Message: errTooManyCorrupt.Error()})
	case l.abort != nil:
		causes = append(causes, metav1.StatusCause{Type: metav1.CauseTypeUnexpectedServerResponse, Message: l.abort.Error()})
	}
	var msg strings.Builder
	fmt.Fprintf(&msg, "failed to read one or more %s from the storage: %v", gr, l.corrupt[0])
	if len(l.corrupt) > 1 {
		fmt.Fprintf(&msg, " (and %d more)", len(l.corrupt)-1)
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusInternalServerError,
		Reason:  metav1.StatusReasonStoreReadError,
		Details: &metav1.StatusDetails{Group: gr.Group, Kind: gr.Resource, Name: "list", Causes: causes},
		Message: msg.String(),
	}}
}

// corruptObjectDeletedError is a watch's DELETED event of an object whose
// stored bytes cannot be read: the event cannot carry the object.
type corruptObjectDeletedError struct{ err *corruptObjectError }

func (e *corruptObjectDeletedError) Error() string {
	return fmt.Sprintf("saw a DELETED event, but object data is corrupt - %v", e.err)
}

func (e *corruptObjectDeletedError) Unwrap() error { return e.err }

// status is the watch's error event for it: 500 with reason StoreReadError.
func (e *corruptObjectDeletedError) status() *metav1.Status {
	return &metav1.Status{Status: metav1.StatusFailure, Code: http.StatusInternalServerError,
		Reason: metav1.StatusReasonStoreReadError, Message: e.Error()}
}
