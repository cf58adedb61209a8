// Package fuzzer fills stream.space objects with random values that survive
// defaulting, for the round-trip tests.
package fuzzer

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	runtimeserializer "k8s.io/apimachinery/pkg/runtime/serializer"
	"sigs.k8s.io/randfill"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// Funcs returns the fuzzer functions of the stream.space group.
var Funcs = func(codecs runtimeserializer.CodecFactory) []interface{} {
	return []interface{}{
		func(s *stream.SessionSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.State == "" {
				s.State = stream.SessionStateRunning
			}
			if s.PersistentHome == nil {
				s.PersistentHome = new(bool)
			}
			if s.IdleTimeout == nil {
				s.IdleTimeout = &metav1.Duration{Duration: 30 * time.Minute}
			}
			if s.MaxSessionDuration == nil {
				s.MaxSessionDuration = &metav1.Duration{Duration: 8 * time.Hour}
			}
			if s.Schedule != nil && s.Schedule.TimeZone == "" {
				s.Schedule.TimeZone = "UTC"
			}
		},
		func(s *stream.SessionPoolSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.MaxAge == nil {
				s.MaxAge = &metav1.Duration{Duration: 24 * time.Hour}
			}
		},
		func(s *stream.TemplateSpec, c randfill.Continue) {
			c.FillNoCustom(s)
			FillTemplateDefaults(s)
		},
		func(p *stream.TemplatePort, c randfill.Continue) {
			c.FillNoCustom(p)
			if p.Protocol == "" {
				p.Protocol = corev1.ProtocolTCP
			}
		},
		func(s *stream.ConnectionStatus, c randfill.Continue) {
			c.FillNoCustom(s)
			if s.State == "" {
				s.State = stream.ConnectionStateActive
			}
		},
	}
}

// FillTemplateDefaults sets what defaulting would, so a random template is
// already in its defaulted form.
func FillTemplateDefaults(s *stream.TemplateSpec) {
	if s.AppType == "" {
		s.AppType = stream.AppTypeDesktop
	}
	if v := s.VNC; v != nil && v.Enabled {
		if v.Port == 0 {
			v.Port = 3000
		}
		if v.Protocol == "" {
			v.Protocol = "websocket"
		}
	}
	if w := s.WebApp; w != nil && w.Enabled && w.Path == "" {
		w.Path = "/"
	}
	for i := range s.Ports {
		if s.Ports[i].Protocol == "" {
			s.Ports[i].Protocol = corev1.ProtocolTCP
		}
	}
}
