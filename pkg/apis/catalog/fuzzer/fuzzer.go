// Package fuzzer fills catalog.stream.space objects with random values that
// survive defaulting, for the round-trip tests.
package fuzzer

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	streamfuzzer "github.com/streamspace/controlplane/pkg/apis/stream/fuzzer"
)

// Funcs returns the fuzzer functions of the catalog.stream.space group.
var Funcs = func(codecs runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(s *catalog.TemplateRepositorySpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.Branch == "" {
				s.Branch = "main"
			}
			if s.SyncInterval == nil {
				s.SyncInterval = &metav1.Duration{Duration: time.Hour}
			}
			if s.Auth.Type == "" {
				s.Auth.Type = catalog.AuthTypeNone
			}
		},
		func(s *catalog.CatalogTemplateSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			streamfuzzer.FillTemplateDefaults(&s.Template)
		},
	}
}
