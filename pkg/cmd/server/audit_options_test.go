package server

import (
	"testing"

	auditinternal "k8s.io/apiserver/pkg/apis/audit"
	"k8s.io/apiserver/pkg/audit/policy"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
)

// The built-in policy's decisions for the requests it singles out.
func TestDefaultAuditPolicy(t *testing.T) {
	alice := &user.DefaultInfo{Name: "oidc:alice", Groups: []string{"oidc:users", user.AllAuthenticated}}
	server := &user.DefaultInfo{Name: user.APIServerUser, Groups: []string{user.SystemPrivilegedGroup}}
	request := func(who user.Info, verb, resource, subresource string) authorizer.AttributesRecord {
		return authorizer.AttributesRecord{User: who, Verb: verb, APIGroup: "stream.space", APIVersion: "v1alpha1",
			Resource: resource, Subresource: subresource, Namespace: "alice", ResourceRequest: true}
	}
	evaluator := policy.NewPolicyRuleEvaluator(defaultPolicy)
	for _, tc := range []struct {
		name  string
		attrs authorizer.AttributesRecord
		want  auditinternal.Level
	}{
		{"a person's create, with its body", request(alice, "create", "sessions", ""), auditinternal.LevelRequest},
		{"a person's list", request(alice, "list", "sessions", ""), auditinternal.LevelMetadata},
		{"a heartbeat", request(alice, "create", "connections", "heartbeat"), auditinternal.LevelNone},
		{"admission's list of quotas through the loopback", request(server, "list", "sessionquotas", ""), auditinternal.LevelNone},
		{"the server's own read of a user", request(server, "get", "users", ""), auditinternal.LevelNone},
		{"a write by the server itself", request(server, "update", "users", "status"), auditinternal.LevelRequest},
	} {
		if got := evaluator.EvaluatePolicyRule(tc.attrs).Level; got != tc.want {
			t.Errorf("%s: level %s, want %s", tc.name, got, tc.want)
		}
	}
}
