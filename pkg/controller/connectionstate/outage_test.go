package connectionstate

import (
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// TestUnreachable: errors of an API that cannot answer start the outage
// grace; answers about the connection itself do not.
func TestUnreachable(t *testing.T) {
	gr := schema.GroupResource{Group: "stream.space", Resource: "connections"}
	cases := []struct {
		name string
		err  error
		want bool
	}{
		{"503 while the server shuts down", apierrors.NewServiceUnavailable("the server is currently unable to handle the request"), true},
		{"timeout", apierrors.NewServerTimeout(gr, "delete", 1), true},
		{"500", apierrors.NewInternalError(errors.New("boom")), true},
		{"429", apierrors.NewTooManyRequests("slow down", 1), true},
		{"connection refused", fmt.Errorf("delete: %w", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}), true},
		{"unexpected EOF", io.ErrUnexpectedEOF, true},
		{"already deleted", apierrors.NewNotFound(gr, "c"), false},
		{"a heartbeat came in", apierrors.NewConflict(gr, "c", errors.New("modified")), false},
		{"forbidden", apierrors.NewForbidden(gr, "c", errors.New("no")), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := unreachable(c.err); got != c.want {
				t.Errorf("unreachable(%v) = %v, want %v", c.err, got, c.want)
			}
		})
	}
}
