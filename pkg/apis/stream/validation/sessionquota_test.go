package validation

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

func TestValidateSessionQuota(t *testing.T) {
	valid := func() *stream.SessionQuota {
		return &stream.SessionQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "alice-limits"},
			Spec: stream.SessionQuotaSpec{
				Subjects: stream.QuotaSubjects{Users: []string{"alice", "oidc:alice"}},
				Limits:   stream.QuotaLimits{MaxSessions: ptr.To[int32](2), CPU: ptr.To(resource.MustParse("4"))},
			},
		}
	}
	if errs := ValidateSessionQuota(valid()); len(errs) > 0 {
		t.Fatalf("valid quota: %v", errs)
	}
	for _, tc := range []struct {
		name   string
		mutate func(q *stream.SessionQuota)
		field  string
	}{
		{"no subject", func(q *stream.SessionQuota) { q.Spec.Subjects = stream.QuotaSubjects{} }, "spec.subjects"},
		{"all with users", func(q *stream.SessionQuota) { q.Spec.Subjects.All = true }, "spec.subjects.all"},
		{"duplicate user", func(q *stream.SessionQuota) { q.Spec.Subjects.Users = []string{"a", "a"} }, "spec.subjects.users[1]"},
		{"empty group", func(q *stream.SessionQuota) { q.Spec.Subjects.Groups = []string{""} }, "spec.subjects.groups[0]"},
		{"negative sessions", func(q *stream.SessionQuota) { q.Spec.Limits.MaxSessions = ptr.To[int32](-1) }, "spec.limits.maxSessions"},
		{"negative running", func(q *stream.SessionQuota) { q.Spec.Limits.MaxRunningSessions = ptr.To[int32](-1) }, "spec.limits.maxRunningSessions"},
		{"negative memory", func(q *stream.SessionQuota) { q.Spec.Limits.Memory = ptr.To(resource.MustParse("-1Gi")) }, "spec.limits.memory"},
		{"zero idle", func(q *stream.SessionQuota) { q.Spec.Limits.MaxIdleTimeout = &metav1.Duration{} }, "spec.limits.maxIdleTimeout"},
		{"negative duration", func(q *stream.SessionQuota) {
			q.Spec.Limits.MaxSessionDuration = &metav1.Duration{Duration: -time.Hour}
		}, "spec.limits.maxSessionDuration"},
	} {
		q := valid()
		tc.mutate(q)
		errs := ValidateSessionQuota(q)
		if len(errs) == 0 || !strings.Contains(errs.ToAggregate().Error(), tc.field) {
			t.Errorf("%s: want an error at %s, got %v", tc.name, tc.field, errs)
		}
	}
}
