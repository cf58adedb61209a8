// Package readguard lets admission read from a cache and still be exact.
//
// A request's admission may decide from a cached copy of a resource (the
// SessionQuotas a session create is checked against) instead of a
// consistent read from the database, by recording in the request's Guard
// the resourceVersion its copy reflects. The storage then writes the object
// only if no object of that resource was created, deleted or changed in its
// spec (its generation) after that resourceVersion, checked in the write's own
// transaction, after the lock that orders every write. If one was, the write
// is refused with a stale-read error and the request is admitted again from
// a consistent read. The check costs a statement in the write's existing
// round trip instead of a read round trip per request.
package readguard

import (
	"context"
	"errors"
	"fmt"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Guard is filled by admission and read by the storage of one request.
type Guard struct {
	// Resource is the resource whose cached copy admission read.
	Resource schema.GroupResource
	// Seen is the resourceVersion that copy reflects; 0 means admission
	// read consistently (or not at all) and the write is not guarded.
	Seen int64
	// Consistent asks admission to read from the database, not from a
	// cache: set when the request is admitted again after a stale read.
	Consistent bool
}

// Set records that admission decided from a copy of resource at seen.
func (g *Guard) Set(resource schema.GroupResource, seen int64) {
	g.Resource, g.Seen = resource, seen
}

type key struct{}

// With returns ctx carrying g.
func With(ctx context.Context, g *Guard) context.Context {
	return context.WithValue(ctx, key{}, g)
}

// From returns the request's Guard, nil if it has none.
func From(ctx context.Context) *Guard {
	g, _ := ctx.Value(key{}).(*Guard)
	return g
}

// causeStaleRead marks the error of a refused guarded write.
const causeStaleRead metav1.CauseType = "StaleRead"

// NewStaleError is the error of a write refused because the copy admission
// read was stale: 429 with a retry after a second, so that a client sees a
// request to retry should a second admission also be overtaken.
func NewStaleError(resource schema.GroupResource, seen int64) error {
	err := apierrors.NewTooManyRequests(fmt.Sprintf("%s changed while this request was admitted; retry", resource), 1)
	err.ErrStatus.Details.Causes = []metav1.StatusCause{{
		Type:    causeStaleRead,
		Message: fmt.Sprintf("read of %s at resourceVersion %d is stale", resource, seen),
		Field:   resource.String(),
	}}
	return err
}

// IsStale reports whether err refused a write for a stale read.
func IsStale(err error) bool {
	var status apierrors.APIStatus
	if !errors.As(err, &status) || status.Status().Details == nil {
		return false
	}
	for _, c := range status.Status().Details.Causes {
		if c.Type == causeStaleRead {
			return true
		}
	}
	return false
}
