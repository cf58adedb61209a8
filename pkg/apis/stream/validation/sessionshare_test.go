package validation

import (
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

func TestValidateSessionShare(t *testing.T) {
	past := metav1.NewTime(time.Now().Add(-time.Hour))
	for _, c := range []struct {
		name string
		spec stream.SessionShareSpec
		want []string // fields named by the errors; none: valid
	}{
		{"user view", stream.SessionShareSpec{Session: "demo", User: "bob", Role: stream.ShareRoleView}, nil},
		{"group control", stream.SessionShareSpec{Session: "demo", Group: "staff", Role: stream.ShareRoleControl}, nil},
		{"no session", stream.SessionShareSpec{User: "bob", Role: stream.ShareRoleView}, []string{"spec.session"}},
		{"nobody", stream.SessionShareSpec{Session: "demo", Role: stream.ShareRoleView}, []string{"spec.user"}},
		{"both", stream.SessionShareSpec{Session: "demo", User: "bob", Group: "staff", Role: stream.ShareRoleView}, []string{"spec.group"}},
		{"everyone", stream.SessionShareSpec{Session: "demo", Group: "system:authenticated", Role: stream.ShareRoleView}, []string{"spec.group"}},
		{"bad role", stream.SessionShareSpec{Session: "demo", User: "bob", Role: "edit"}, []string{"spec.role"}},
		{"expired", stream.SessionShareSpec{Session: "demo", User: "bob", Role: stream.ShareRoleView, ExpiresAt: &past}, []string{"spec.expiresAt"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			s := &stream.SessionShare{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "alice"}, Spec: c.spec}
			errs := ValidateSessionShare(s)
			if len(errs) != len(c.want) {
				t.Fatalf("errors %v, want one for each of %v", errs, c.want)
			}
			for i, f := range c.want {
				if !strings.HasPrefix(errs[i].Field, f) {
					t.Errorf("error %d names %s, want %s", i, errs[i].Field, f)
				}
			}
		})
	}
	// Who it is shared with is fixed; the role may change.
	old := &stream.SessionShare{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "alice", ResourceVersion: "1"},
		Spec: stream.SessionShareSpec{Session: "demo", User: "bob", Role: stream.ShareRoleView}}
	changed := old.DeepCopy()
	changed.Spec.Role = stream.ShareRoleControl
	if errs := ValidateSessionShareUpdate(changed, old); len(errs) != 0 {
		t.Errorf("role change refused: %v", errs)
	}
	changed.Spec.User = "carol"
	if errs := ValidateSessionShareUpdate(changed, old); len(errs) != 1 || errs[0].Field != "spec.user" {
		t.Errorf("user change: %v, want spec.user immutable", errs)
	}
}
