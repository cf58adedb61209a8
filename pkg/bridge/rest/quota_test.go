package rest

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	quota "github.com/streamspace/controlplane/pkg/sessionquota"
)

func sessionQuota(name string, subjects streamv1alpha1.QuotaSubjects, limits streamv1alpha1.QuotaLimits, usage ...streamv1alpha1.QuotaUsage) streamv1alpha1.SessionQuota {
	return streamv1alpha1.SessionQuota{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       streamv1alpha1.SessionQuotaSpec{Subjects: subjects, Limits: limits},
		Status:     streamv1alpha1.SessionQuotaStatus{Usage: usage},
	}
}

func quantity(s string) *resource.Quantity { return ptr.To(resource.MustParse(s)) }

func duration(d time.Duration) *metav1.Duration { return &metav1.Duration{Duration: d} }

func TestQuotaViewOfCarol(t *testing.T) {
	carol := quota.Person{User: "oidc:carol", Groups: []string{"staff", "system:authenticated"}}
	quotas := []streamv1alpha1.SessionQuota{
		// Listed out of order: the view sorts by name.
		sessionQuota("d-carol", streamv1alpha1.QuotaSubjects{Users: []string{"oidc:carol"}},
			streamv1alpha1.QuotaLimits{MaxRunningSessions: ptr.To[int32](1), CPU: quantity("2"), MaxSessionDuration: duration(90 * time.Minute)},
			streamv1alpha1.QuotaUsage{User: "oidc:carol", Sessions: 1, RunningSessions: 1, CPU: resource.MustParse("500m"), Memory: resource.MustParse("1Gi")}),
		sessionQuota("a-everyone", streamv1alpha1.QuotaSubjects{All: true},
			streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](5), CPU: quantity("4"), MaxIdleTimeout: duration(2 * time.Hour), HomeStorage: quantity("100Gi")},
			streamv1alpha1.QuotaUsage{User: "alice", Sessions: 4},
			streamv1alpha1.QuotaUsage{User: "oidc:carol", Sessions: 1, RunningSessions: 1, CPU: resource.MustParse("500m"), Memory: resource.MustParse("1Gi"), HomeStorage: resource.MustParse("10Gi")}),
		// A group quota that has not counted carol yet: zeros.
		sessionQuota("b-staff", streamv1alpha1.QuotaSubjects{Groups: []string{"staff"}},
			streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](2), Memory: quantity("4Gi"), MaxIdleTimeout: duration(time.Hour)}),
		sessionQuota("c-dave", streamv1alpha1.QuotaSubjects{Users: []string{"dave"}, Groups: []string{"ops"}},
			streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](1)}),
	}
	got := newQuotaView(carol, quotas)
	want := quotaView{
		User: "oidc:carol", Groups: []string{"staff", "system:authenticated"},
		Quotas: []quotaEntry{
			{Name: "a-everyone", Limits: quotaLimits{MaxSessions: ptr.To[int32](5), CPU: "4", HomeStorage: "100Gi", MaxIdleTimeout: "2h"},
				Usage: quotaUsage{Sessions: 1, RunningSessions: 1, CPU: "500m", Memory: "1Gi", HomeStorage: "10Gi"}},
			{Name: "b-staff", Limits: quotaLimits{MaxSessions: ptr.To[int32](2), Memory: "4Gi", MaxIdleTimeout: "1h"},
				Usage: quotaUsage{CPU: "0", Memory: "0", HomeStorage: "0"}},
			{Name: "d-carol", Limits: quotaLimits{MaxRunningSessions: ptr.To[int32](1), CPU: "2", MaxSessionDuration: "1h30m"},
				Usage: quotaUsage{Sessions: 1, RunningSessions: 1, CPU: "500m", Memory: "1Gi", HomeStorage: "0"}},
		},
		Effective: effectiveQuota{
			Limits: quotaLimits{MaxSessions: ptr.To[int32](2), MaxRunningSessions: ptr.To[int32](1), CPU: "2", Memory: "4Gi",
				HomeStorage: "100Gi", MaxIdleTimeout: "1h", MaxSessionDuration: "1h30m"},
			// Each usage is the one counted against the binding limit:
			// b-staff has not counted carol's session yet.
			Usage: quotaUsage{Sessions: 0, RunningSessions: 1, CPU: "500m", Memory: "0", HomeStorage: "10Gi"},
			From: map[string]string{"maxSessions": "b-staff", "maxRunningSessions": "d-carol", "cpu": "d-carol", "memory": "b-staff",
				"homeStorage": "a-everyone", "maxIdleTimeout": "b-staff", "maxSessionDuration": "d-carol"},
		},
	}
	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("carol's quota view:\n%s\nwant\n%s", g, w)
	}
}

func TestQuotaViewWhenNothingLimits(t *testing.T) {
	got := newQuotaView(quota.Person{User: "bob"}, []streamv1alpha1.SessionQuota{
		sessionQuota("alice-limits", streamv1alpha1.QuotaSubjects{Users: []string{"alice"}}, streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](2)}),
	})
	data, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"user":"bob","groups":[],"quotas":[],"effective":{"limits":{},` +
		`"usage":{"sessions":0,"runningSessions":0,"cpu":"0","memory":"0","homeStorage":"0"},"from":{}}}`
	if string(data) != want {
		t.Errorf("bob, whom no quota limits, gets\n%s\nwant\n%s", data, want)
	}
}

// Usage of a kind no quota limits is the highest any quota counts; the
// effective usage of a limited kind is the binding quota's, even when
// another counts more.
func TestQuotaViewEffectiveUsage(t *testing.T) {
	person := quota.Person{User: "alice"}
	got := newQuotaView(person, []streamv1alpha1.SessionQuota{
		sessionQuota("fresh", streamv1alpha1.QuotaSubjects{Users: []string{"alice"}}, streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](3)},
			streamv1alpha1.QuotaUsage{User: "alice", Sessions: 2, CPU: resource.MustParse("1")}),
		sessionQuota("stale", streamv1alpha1.QuotaSubjects{All: true}, streamv1alpha1.QuotaLimits{MaxSessions: ptr.To[int32](3)},
			streamv1alpha1.QuotaUsage{User: "alice", Sessions: 1, CPU: resource.MustParse("2")}),
	}).Effective
	if got.From["maxSessions"] != "fresh" || got.Usage.Sessions != 2 {
		t.Errorf("of two equal limits the first by name binds with its usage: from %q, %d sessions", got.From["maxSessions"], got.Usage.Sessions)
	}
	if got.Usage.CPU != "2" || got.Limits.CPU != "" {
		t.Errorf("unlimited cpu: usage %q limit %q, want the highest usage 2 and no limit", got.Usage.CPU, got.Limits.CPU)
	}
}

func TestDurationString(t *testing.T) {
	for d, want := range map[time.Duration]string{
		time.Hour:                               "1h",
		90 * time.Minute:                        "1h30m",
		2 * time.Minute:                         "2m",
		45 * time.Second:                        "45s",
		time.Hour + 30*time.Second:              "1h0m30s",
		8 * time.Hour:                           "8h",
		24*time.Hour + 5*time.Minute:            "24h5m",
		time.Minute + 500*time.Millisecond:      "1m0.5s",
		time.Hour + time.Minute + 1*time.Second: "1h1m1s",
	} {
		if got := durationString(duration(d)); got != want {
			t.Errorf("durationString(%s) = %q, want %q", d, got, want)
		}
	}
}
