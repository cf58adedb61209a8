package session

import (
	"context"
	"testing"
	"time"

	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// shareList is a rest.Lister of fixed shares that checks the field
// selector connect asks with.
type shareList struct {
	t     *testing.T
	items []stream.SessionShare
}

func (l shareList) NewList() runtime.Object { return &stream.SessionShareList{} }

func (l shareList) List(_ context.Context, o *metainternalversion.ListOptions) (runtime.Object, error) {
	if o.FieldSelector == nil || o.FieldSelector.String() != "spec.session=desk" {
		l.t.Errorf("shares listed with field selector %v, want spec.session=desk", o.FieldSelector)
	}
	return &stream.SessionShareList{Items: l.items}, nil
}

func (l shareList) ConvertToTable(context.Context, runtime.Object, runtime.Object) (*metav1.Table, error) {
	return nil, nil
}

var _ rest.Lister = shareList{}

// The share a caller connects through: theirs or their group's, not
// expired, not being deleted; control over view.
func TestShareFor(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	past, future := metav1.NewTime(now.Add(-time.Minute)), metav1.NewTime(now.Add(time.Hour))
	share := func(name, u, g string, role stream.ShareRole, exp *metav1.Time, deleting bool) stream.SessionShare {
		s := stream.SessionShare{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec: stream.SessionShareSpec{Session: "desk", User: u, Group: g, Role: role, ExpiresAt: exp}}
		if deleting {
			s.DeletionTimestamp = &past
		}
		return s
	}
	shares := []stream.SessionShare{
		share("bob-view", "bob", "", stream.ShareRoleView, nil, false),
		share("staff-control", "", "staff", stream.ShareRoleControl, &future, false),
		share("carol-expired", "carol", "", stream.ShareRoleControl, &past, false),
		share("dave-revoking", "dave", "", stream.ShareRoleView, nil, true),
		share("erin-view", "erin", "", stream.ShareRoleView, nil, false),
		share("erin-control", "erin", "", stream.ShareRoleControl, nil, false),
	}
	r := &ConnectREST{shares: shareList{t: t, items: shares}, now: func() time.Time { return now }}
	for _, c := range []struct {
		caller string
		groups []string
		want   string
	}{
		{"bob", nil, "bob-view"},
		{"bob", []string{"staff"}, "staff-control"},
		{"frank", []string{"staff"}, "staff-control"},
		{"carol", nil, ""},
		{"dave", nil, ""},
		{"erin", nil, "erin-control"},
		{"mallory", []string{"visitors"}, ""},
	} {
		got, err := r.shareFor(context.Background(), "desk", &user.DefaultInfo{Name: c.caller, Groups: c.groups})
		if err != nil {
			t.Fatal(err)
		}
		name := ""
		if got != nil {
			name = got.Name
		}
		if name != c.want {
			t.Errorf("%s %v: share %q, want %q", c.caller, c.groups, name, c.want)
		}
	}
}
