package feed

import (
	"encoding/json"
	"fmt"
	"testing"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/shares"
)

// A feed merges the sessions of its namespace watch with those shared with
// the caller: a shared session is announced once it is both granted and
// read, marked with the role and owner; a change of role is a
// modification; the same version arriving from both watches is not
// announced twice; losing the share deletes the session from the feed,
// unless the namespace watch has it too, which then only unmarks it.
func TestFeedMergesSharedSessions(t *testing.T) {
	client := testClient(100)
	defer client.close(1000, "")
	feed := newSessionFeed(client, "", "")
	feed.live = true
	inTeam := func(name, rv string) *streamv1alpha1.Session {
		s := session(name, rv)
		s.Namespace = "team"
		return s
	}
	view := shares.Grant{Role: streamv1alpha1.ShareRoleView, Owner: "alice"}
	control := shares.Grant{Role: streamv1alpha1.ShareRoleControl, Owner: "alice"}

	steps := []struct {
		what string
		do   func()
		want string // the change announced, "" for none
	}{
		{"own session", func() { feed.OnAdd(inTeam("mine", "3"), false) }, "added team/mine@3 role= owner="},
		{"granted, not read yet", func() { feed.setGrant("alice/a", view) }, ""},
		{"read", func() { feed.setShared("alice/a", session("a", "5"), nil) }, "added alice/a@5 role=view owner=alice"},
		{"role changed", func() { feed.setGrant("alice/a", control) }, "modified alice/a@5 role=control owner=alice"},
		{"same grant again", func() { feed.setGrant("alice/a", control) }, ""},
		{"session changed", func() { feed.setShared("alice/a", session("a", "6"), nil) }, "modified alice/a@6 role=control owner=alice"},
		{"revoked", func() { feed.dropShared("alice/a") }, "deleted alice/a@6 role=control owner=alice"},
		{"an event of the stopped watch", func() { feed.setShared("alice/a", session("a", "7"), nil) }, ""},
		// A session of the namespace the caller lists that is shared with
		// them as well.
		{"shared in the listed namespace", func() { feed.setGrant("team/mine", view) }, "modified team/mine@3 role=view owner=alice"},
		{"the same version from the shared watch", func() { feed.setShared("team/mine", inTeam("mine", "3"), nil) }, ""},
		{"newer from the shared watch", func() { feed.setShared("team/mine", inTeam("mine", "4"), nil) }, "modified team/mine@4 role=view owner=alice"},
		{"then from the namespace watch", func() { feed.OnUpdate(inTeam("mine", "3"), inTeam("mine", "4")) }, ""},
		{"revoked, still listed", func() { feed.dropShared("team/mine") }, "modified team/mine@4 role= owner="},
		{"deleted", func() { feed.OnDelete(inTeam("mine", "5")) }, "deleted team/mine@5 role= owner="},
	}
	for _, step := range steps {
		step.do()
		got := ""
		select {
		case m := <-client.queue:
			got = describeChange(t, m.data)
		default:
		}
		if got != step.want {
			t.Fatalf("%s: announced %q, want %q", step.what, got, step.want)
		}
	}
	feed.mu.Lock()
	defer feed.mu.Unlock()
	if snapshot := feed.snapshotLocked(); snapshot.Count != 0 {
		t.Errorf("the last snapshot holds %v, want nothing", snapshot.Sessions)
	}
}

func describeChange(t *testing.T, data []byte) string {
	t.Helper()
	var change sessionChange
	if err := json.Unmarshal(data, &change); err != nil {
		t.Fatal(err)
	}
	s := change.Session
	return fmt.Sprintf("%s %s/%s@%s role=%s owner=%s", change.Change, s.Namespace, s.Name, s.ResourceVersion, s.SharedRole, s.Owner)
}
