package rest

import (
	"reflect"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

func TestUsageViewSumsPerTemplate(t *testing.T) {
	measured := metav1.NewTime(time.Date(2026, 12, 5, 10, 0, 0, 0, time.UTC))
	usage := func(user, template string, sessions int64, hours, cost string) streamv1alpha1.Usage {
		return streamv1alpha1.Usage{
			Spec: streamv1alpha1.UsageSpec{User: user, Template: template, Period: "2026-12"},
			Status: streamv1alpha1.UsageStatus{Sessions: sessions, SessionHours: hours, CPUCoreHours: "0.5000", MemoryGiBHours: "1.0000",
				Cost: cost, Currency: "EUR", MeasuredAt: measured},
		}
	}
	view := newUsageView("team", []streamv1alpha1.Usage{
		usage("alice", "gimp", 1, "0.2500", "0.0100"),
		usage("alice", "firefox", 2, "1.5001", "0.2625"),
		usage("bob", "firefox", 1, "0.0001", "0.0000"),
	})
	if view.Namespace != "team" || view.Period != "2026-12" || view.Currency != "EUR" || view.MeasuredAt != "2026-12-05T10:00:00Z" || len(view.Usages) != 3 {
		t.Errorf("view %+v", view)
	}
	want := []templateUsage{{Template: "firefox", Sessions: 3, Hours: "1.5002", Cost: "0.2625"}, {Template: "gimp", Sessions: 1, Hours: "0.2500", Cost: "0.0100"}}
	if !reflect.DeepEqual(view.Templates, want) {
		t.Errorf("per template %+v, want %+v", view.Templates, want)
	}
	if total := (templateUsage{Sessions: 4, Hours: "1.7502", Cost: "0.2725"}); view.Total != total {
		t.Errorf("total %+v, want %+v", view.Total, total)
	}
	empty := newUsageView("team", nil)
	if empty.Usages == nil || empty.Templates == nil || empty.Total.Hours != "0.0000" {
		t.Errorf("empty view %+v: want empty lists and zero totals", empty)
	}
}
