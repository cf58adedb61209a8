package e2e

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/streamspace/controlplane/internal/devstack"
)

// recordedUser is the part of a User the tests read.
type recordedUser struct {
	Metadata struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Status struct {
		UID         string   `json:"uid"`
		Email       string   `json:"email"`
		DisplayName string   `json:"displayName"`
		Groups      []string `json:"groups"`
		Role        string   `json:"role"`
		FirstSeen   string   `json:"firstSeen"`
		LastSeen    string   `json:"lastSeen"`
		LastLogin   string   `json:"lastLogin"`
	} `json:"status"`
}

// TestUsersRecordedFromRequests: carol's request through her OIDC token
// records her as the User oidc:carol with the email, name and groups of her
// ID token; she may read her own User and no one else's, nor list them; an
// administrator lists them; nobody creates or patches a User; psql sees her
// in the users table under the old backend's columns.
func TestUsersRecordedFromRequests(t *testing.T) {
	ctx := context.Background()
	if _, err := oidcKubectl(t, "carol", "", "get", "sessions", "-n", "carol"); err != nil {
		t.Fatal(err)
	}

	// Recording is asynchronous: her User appears shortly after.
	var carol recordedUser
	eventually(t, 30*time.Second, "carol's User", func() (bool, error) {
		out, err := oidcKubectl(t, "carol", "", "get", "user", "oidc:carol", "-o", "json")
		if err != nil {
			return false, err
		}
		return true, json.Unmarshal([]byte(out), &carol)
	})
	s := carol.Status
	if carol.Metadata.Name != "oidc:carol" || s.Email != "carol@streamspace.dev" || s.DisplayName != "Carol Cooper" ||
		s.Role != "user" || s.UID == "" || !slices.Contains(s.Groups, devstack.UsersGroup) ||
		slices.Contains(s.Groups, "system:authenticated") || s.FirstSeen == "" || s.LastSeen == "" || s.LastLogin == "" {
		t.Errorf("carol's User = %+v", carol)
	}
	// Her uid is the one kube-apiserver authenticated (the sub claim).
	if uid, err := oidcKubectl(t, "carol", "", "auth", "whoami", "-o", "jsonpath={.status.userInfo.uid}"); err != nil || uid != s.UID {
		t.Errorf("carol's User has uid %q, whoami says %q (%v)", s.UID, uid, err)
	}

	// The table kubectl prints.
	out, err := oidcKubectl(t, "carol", "", "get", "user", "oidc:carol")
	if err != nil {
		t.Fatal(err)
	}
	header := strings.Fields(strings.SplitN(out, "\n", 2)[0])
	for _, column := range []string{"NAME", "DISPLAY-NAME", "EMAIL", "ROLE", "GROUPS", "LAST-SEEN", "AGE"} {
		if !slices.Contains(header, column) {
			t.Errorf("kubectl get user prints columns %v, want %s among them", header, column)
		}
	}
	if !strings.Contains(out, "carol@streamspace.dev") || !strings.Contains(out, devstack.UsersGroup) {
		t.Errorf("kubectl get user oidc:carol:\n%s", out)
	}

	// Nobody else's.
	if _, err := oidcKubectl(t, "carol", "", "get", "users"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("carol listing users: err = %v, want Forbidden", err)
	}
	if _, err := oidcKubectl(t, "carol", "", "get", "user", "oidc:bob"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("carol reading bob's User: err = %v, want Forbidden", err)
	}
	if _, err := oidcKubectl(t, "carol", "", "delete", "user", "oidc:carol"); err == nil || !strings.Contains(err.Error(), "Forbidden") {
		t.Errorf("carol deleting her User: err = %v, want Forbidden", err)
	}

	// Administrators list them: the cluster admin and dana (streamspace-admins,
	// bound to streamspace-admin), who is recorded with the admin role.
	if out := mustKubectl(t, "admin", "", "get", "users", "-o", "name"); !strings.Contains(out, "user.stream.space/oidc:carol") {
		t.Errorf("admin lists users:\n%s", out)
	}
	if out, err := oidcKubectl(t, "dana", "", "get", "users", "-o", "name"); err != nil || !strings.Contains(out, "user.stream.space/oidc:carol") {
		t.Errorf("dana lists users: %q (%v)", out, err)
	}
	eventually(t, 30*time.Second, "dana's User with role admin", func() (bool, error) {
		out, err := kubectl(t, "admin", "", "get", "user", "oidc:dana", "-o", "jsonpath={.status.role}")
		return out == "admin", err
	})
	// The controllers' ServiceAccounts and kube-apiserver's own identities are not recorded.
	for _, u := range strings.Fields(mustKubectl(t, "admin", "", "get", "users", "-o", "name")) {
		if strings.HasPrefix(u, "user.stream.space/system:") {
			t.Errorf("recorded a system identity: %s", u)
		}
	}

	// Nobody writes a User, not even the cluster admin.
	user := "apiVersion: stream.space/v1alpha1\nkind: User\nmetadata: {name: mallory}\nstatus: {role: admin}\n"
	if _, err := kubectl(t, "admin", user, "create", "-f", "-"); err == nil || !strings.Contains(err.Error(), "MethodNotAllowed") && !strings.Contains(err.Error(), "not allow") {
		t.Errorf("creating a User: err = %v, want MethodNotAllowed", err)
	}
	if _, err := kubectl(t, "admin", "", "patch", "user", "oidc:carol", "--type=merge", "-p", `{"status":{"role":"admin"}}`); err == nil ||
		!strings.Contains(err.Error(), "MethodNotAllowed") && !strings.Contains(err.Error(), "not allow") {
		t.Errorf("patching a User: err = %v, want MethodNotAllowed", err)
	}
	if role := mustKubectl(t, "admin", "", "get", "user", "oidc:carol", "-o", "jsonpath={.status.role}"); role != "user" {
		t.Errorf("carol's role is %q after the refused patch", role)
	}
	if _, err := kubectl(t, "admin", "", "get", "user", "mallory"); err == nil || !strings.Contains(err.Error(), "NotFound") {
		t.Errorf("the refused User exists: err = %v", err)
	}

	// psql: the users table with the old backend's columns.
	conn := stackDatabase(t)
	var id, email, role string
	var createdAt, lastLogin *time.Time
	err = conn.QueryRow(ctx, `SELECT id, email, role, created_at, last_login FROM users WHERE name = 'oidc:carol'`).
		Scan(&id, &email, &role, &createdAt, &lastLogin)
	if err != nil {
		t.Fatalf("query the users table: %v", err)
	}
	if id != s.UID || email != "carol@streamspace.dev" || role != "user" || createdAt == nil || lastLogin == nil {
		t.Errorf("users row of carol: id %q email %q role %q created_at %v last_login %v", id, email, role, createdAt, lastLogin)
	}
	if lastLogin != nil && (lastLogin.After(time.Now().Add(time.Minute)) || lastLogin.Before(time.Now().Add(-24*time.Hour))) {
		t.Errorf("carol's last_login %v is not her recent sign-in", lastLogin)
	}
}
