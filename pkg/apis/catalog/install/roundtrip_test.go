package install

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/roundtrip"

	catalogfuzzer "github.com/streamspace/controlplane/pkg/apis/catalog/fuzzer"
)

// Every catalog.stream.space type survives internal → v1alpha1 → internal.
func TestRoundTripTypes(t *testing.T) {
	roundtrip.RoundTripTestForAPIGroup(t, Install, catalogfuzzer.Funcs)
}
