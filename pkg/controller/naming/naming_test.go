package naming

import (
	"testing"

	"k8s.io/apimachinery/pkg/util/validation"
)

func TestNamesAreValidAndDistinct(t *testing.T) {
	long := "a-very-long-session-name-that-goes-on-and-on-well-past-sixty-three-characters"
	cases := []struct {
		in, wantLabel, wantValue string
	}{
		{"alice", "alice", "alice"},
		{"my-firefox", "my-firefox", "my-firefox"},
		{"Alice@Example.com", "", ""},
		{"alice@example.com", "", ""},
		{"1st.session", "", "1st.session"},
		{long, "", ""},
		{"-_.", "", ""},
	}
	seen := map[string]string{}
	for _, c := range cases {
		label, value := DNSLabel(c.in), LabelValue(c.in)
		if errs := validation.IsDNS1035Label(label); len(errs) > 0 {
			t.Errorf("DNSLabel(%q) = %q: %v", c.in, label, errs)
		}
		if errs := validation.IsValidLabelValue(value); len(errs) > 0 {
			t.Errorf("LabelValue(%q) = %q: %v", c.in, value, errs)
		}
		if c.wantLabel != "" && label != c.wantLabel {
			t.Errorf("DNSLabel(%q) = %q, want it unchanged", c.in, label)
		}
		if c.wantValue != "" && value != c.wantValue {
			t.Errorf("LabelValue(%q) = %q, want it unchanged", c.in, value)
		}
		if other, dup := seen[label]; dup {
			t.Errorf("DNSLabel(%q) = DNSLabel(%q) = %q", c.in, other, label)
		}
		seen[label] = c.in
		if DNSLabel(c.in) != label {
			t.Errorf("DNSLabel(%q) is not deterministic", c.in)
		}
	}
	if a, b := HomeClaimName("alice@example.com"), HomeClaimName("alice.example.com"); a == b {
		t.Errorf("two users share home claim %q", a)
	}
	if got := HomeClaimName("alice"); got != "home-alice" {
		t.Errorf("HomeClaimName(alice) = %q", got)
	}
}
