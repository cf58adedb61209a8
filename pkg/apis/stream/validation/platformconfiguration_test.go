package validation

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

func TestValidatePricing(t *testing.T) {
	cases := []struct {
		name    string
		pricing stream.PricingConfiguration
		want    string // a field path in the error, "" for valid
	}{
		{"none", stream.PricingConfiguration{}, ""},
		{"every price", stream.PricingConfiguration{Currency: "EUR", CPUCoreHour: "0.035", MemoryGiBHour: "0.004",
			Templates: []stream.TemplatePrice{{Template: "firefox", SessionHour: "0.10"}, {Template: "gimp", SessionHour: "0"}}}, ""},
		{"whole number", stream.PricingConfiguration{CPUCoreHour: "2"}, ""},
		{"negative cpu price", stream.PricingConfiguration{CPUCoreHour: "-0.1"}, "spec.pricing.cpuCoreHour"},
		{"memory price with a unit", stream.PricingConfiguration{MemoryGiBHour: "1Gi"}, "spec.pricing.memoryGiBHour"},
		{"exponent", stream.PricingConfiguration{CPUCoreHour: "1e3"}, "spec.pricing.cpuCoreHour"},
		{"currency with a space", stream.PricingConfiguration{Currency: "US D"}, "spec.pricing.currency"},
		{"currency too long", stream.PricingConfiguration{Currency: strings.Repeat("X", 17)}, "spec.pricing.currency"},
		{"template price negative", stream.PricingConfiguration{Templates: []stream.TemplatePrice{{Template: "firefox", SessionHour: "-1"}}},
			"spec.pricing.templates[0].sessionHour"},
		{"template price missing", stream.PricingConfiguration{Templates: []stream.TemplatePrice{{Template: "firefox"}}},
			"spec.pricing.templates[0].sessionHour"},
		{"template name missing", stream.PricingConfiguration{Templates: []stream.TemplatePrice{{SessionHour: "1"}}},
			"spec.pricing.templates[0].template"},
		{"template name invalid", stream.PricingConfiguration{Templates: []stream.TemplatePrice{{Template: "Fire:fox", SessionHour: "1"}}},
			"spec.pricing.templates[0].template"},
		{"template twice", stream.PricingConfiguration{Templates: []stream.TemplatePrice{
			{Template: "firefox", SessionHour: "1"}, {Template: "firefox", SessionHour: "2"}}}, "spec.pricing.templates[1].template"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := &stream.PlatformConfiguration{ObjectMeta: metav1.ObjectMeta{Name: stream.PlatformConfigurationName},
				Spec: stream.PlatformConfigurationSpec{Pricing: tc.pricing}}
			errs := ValidatePlatformConfiguration(c)
			if tc.want == "" {
				if len(errs) != 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			if !strings.Contains(errs.ToAggregate().Error(), tc.want) {
				t.Fatalf("errors %v do not name %s", errs, tc.want)
			}
		})
	}
}
