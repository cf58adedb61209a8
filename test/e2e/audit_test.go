package e2e

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// auditRow is what the test reads of audit_log.
type auditRow struct {
	action, resourceType, namespace, resourceID, userAgent, ipAddress string
	code                                                              int
	changes                                                           *string
}

// The audit trail in Postgres: alice's create, patch and delete of a
// session through kubectl and her list through the bridge land in audit_log
// through the apiserver's audit pipeline, under the old column names, with
// the request body of the create as JSON.
func TestAuditTrailInPostgres(t *testing.T) {
	name := uniqueName("audited")
	mustKubectl(t, "alice", sessionYAML(name, "firefox"), "create", "-n", "alice", "-f", "-")
	mustKubectl(t, "alice", "", "patch", "session", name, "-n", "alice", "--type=merge", "-p", `{"spec":{"state":"hibernated"}}`)
	if status, body := bridgeCall(t, "alice", http.MethodGet, "/api/v1/sessions?namespace=alice", ""); status != http.StatusOK {
		t.Fatalf("bridge list as alice: %d %s", status, body)
	}
	mustKubectl(t, "alice", "", "delete", "session", name, "-n", "alice", "--wait=false")

	ctx := context.Background()
	conn := stackDatabase(t)
	var rows []auditRow
	eventually(t, time.Minute, "alice's writes in audit_log", func() (bool, error) {
		r, err := conn.Query(ctx, `SELECT action, resource_type, namespace, resource_id, user_agent, ip_address, response_code, changes::text
			FROM audit_log WHERE user_id = 'alice' AND resource_id = $1 ORDER BY id`, name)
		if err != nil {
			return false, err
		}
		rows, err = pgx.CollectRows(r, func(row pgx.CollectableRow) (auditRow, error) {
			var a auditRow
			err := row.Scan(&a.action, &a.resourceType, &a.namespace, &a.resourceID, &a.userAgent, &a.ipAddress, &a.code, &a.changes)
			return a, err
		})
		var actions []string
		for _, a := range rows {
			actions = append(actions, a.action)
		}
		return slices.Contains(actions, "create") && slices.Contains(actions, "patch") && slices.Contains(actions, "delete"), err
	})
	for _, a := range rows {
		if a.resourceType != "sessions" || a.namespace != "alice" || a.ipAddress == "" || !strings.HasPrefix(a.userAgent, "kubectl") {
			t.Errorf("audit row %+v: want resource_type sessions, namespace alice, an IP and kubectl's user agent", a)
		}
		switch a.action {
		case "create":
			if a.code != http.StatusCreated || a.changes == nil || !strings.Contains(*a.changes, `"template": "firefox"`) {
				t.Errorf("the create's row: code %d, changes %v; want 201 and the body naming the template", a.code, deref(a.changes))
			}
		case "patch":
			if a.changes == nil || !strings.Contains(*a.changes, `"hibernated"`) {
				t.Errorf("the patch's row has changes %v, want the patch", deref(a.changes))
			}
		}
	}
	// The bridge's list, made as alice.
	eventually(t, time.Minute, "alice's list through the bridge in audit_log", func() (bool, error) {
		var n int
		err := conn.QueryRow(ctx, `SELECT count(*) FROM audit_log WHERE user_id = 'alice' AND action = 'list' AND resource_type = 'sessions'
			AND user_agent LIKE 'streamspace-bridge%' AND changes IS NULL`).Scan(&n)
		return n > 0, err
	})
}

// The audit trail through the API: admins read it with field selectors and
// pages, each event once; bob may not read it; an unknown field is refused.
func TestAuditEventsThroughTheAPI(t *testing.T) {
	name := uniqueName("audited-api")
	mustKubectl(t, "alice", sessionYAML(name, "firefox"), "create", "-n", "alice", "-f", "-")
	mustKubectl(t, "alice", "", "delete", "session", name, "-n", "alice", "--wait=false")
	// Two more of alice's writes (sessions are written at Request level), so the pages below have at least four
	// events of hers to hold whatever ran before.
	other := uniqueName("audited-api")
	mustKubectl(t, "alice", sessionYAML(other, "firefox"), "create", "-n", "alice", "-f", "-")
	mustKubectl(t, "alice", "", "delete", "session", other, "-n", "alice", "--wait=false")
	selector := "user=alice,resource=sessions,name=" + name
	eventually(t, time.Minute, "alice's create and delete as auditevents", func() (bool, error) {
		out, err := kubectl(t, "admin", "", "get", "auditevents", "--field-selector", selector, "-o", "jsonpath={.items[*].verb}")
		return strings.Contains(out, "create") && strings.Contains(out, "delete"), err
	})
	out := mustKubectl(t, "admin", "", "get", "auditevents", "--field-selector", selector)
	for _, want := range []string{"TIME", "USER", "VERB", "alice", "create", "delete", "sessions", name, "201"} {
		if !strings.Contains(out, want) {
			t.Errorf("kubectl get auditevents lacks %q:\n%s", want, out)
		}
	}
	if _, err := kubectl(t, "bob", "", "get", "auditevents", "--field-selector", "user=alice"); err == nil || !strings.Contains(err.Error(), "forbidden") {
		t.Errorf("bob reading alice's audit events: %v, want forbidden", err)
	}
	if _, err := kubectl(t, "admin", "", "get", "auditevents", "--field-selector", "spec.secret=x"); err == nil || !strings.Contains(err.Error(), "field label not supported") {
		t.Errorf("an unknown field selector: %v, want refused", err)
	}

	// Pages of two, newest first, each event once.
	ss, _ := clients(t, "admin")
	ctx := context.Background()
	seen := map[string]bool{}
	opts := metav1.ListOptions{FieldSelector: "user=alice", Limit: 2}
	for page := 0; page < 3; page++ {
		list, err := ss.StreamV1alpha1().AuditEvents().List(ctx, opts)
		if err != nil {
			t.Fatal(err)
		}
		if len(list.Items) > 2 {
			t.Fatalf("a page of limit 2 holds %d events", len(list.Items))
		}
		for _, e := range list.Items {
			if seen[e.Name] {
				t.Errorf("event %s on two pages", e.Name)
			}
			seen[e.Name] = true
			if e.User != "alice" {
				t.Errorf("event %s of %q in alice's list", e.Name, e.User)
			}
		}
		if list.Continue == "" {
			break
		}
		opts.Continue = list.Continue
	}
	if len(seen) < 4 {
		t.Errorf("three pages of two held %d events of alice, want at least 4", len(seen))
	}
}

func deref(s *string) string {
	if s == nil {
		return "<NULL>"
	}
	return *s
}
