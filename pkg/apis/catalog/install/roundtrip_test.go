package install

import (
	"testing"

	"k8s.io/apimachinery/pkg/api/apitesting/roundtrip"

	catalogfuzzer "github.com/streamspace/controlplane/pkg/apis/catalog/fuzzer"
)

// Every catalog.stream.space type survives internal → v1alpha1 → internal
// through JSON and through protobuf. (RoundTripTestForAPIGroup skips protobuf.)
func TestRoundTripTypes(t *testing.T) {
	roundtrip.RoundTripProtobufTestForAPIGroup(t, Install, catalogfuzzer.Funcs)
}
