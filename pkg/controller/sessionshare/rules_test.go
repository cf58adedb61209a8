package sessionshare

import (
	"slices"
	"testing"
)

// A share's Role names its session and itself: a grantee reads that one
// session and that one share (the bridge reads both as the grantee to show
// the session shared with them), never the namespace's other sessions or
// shares, and may not list shares at all.
func TestRulesNameTheSessionAndTheShare(t *testing.T) {
	for _, rule := range Rules("demo-bob", "demo") {
		for _, resource := range rule.Resources {
			var want []string
			switch resource {
			case "sessions", "sessions/connect":
				want = []string{"demo"}
			case "sessionshares":
				want = []string{"demo-bob"}
				if !slices.Equal(rule.Verbs, []string{"get"}) {
					t.Errorf("sessionshares verbs %v, want get only", rule.Verbs)
				}
			case "connections", "connections/heartbeat":
				// Connection names are generated; the owner rule keeps a
				// person to their own.
				continue
			default:
				t.Errorf("a share grants %s", resource)
				continue
			}
			if !slices.Equal(rule.ResourceNames, want) {
				t.Errorf("%s: resourceNames %v, want %v", resource, rule.ResourceNames, want)
			}
		}
	}
}
