package users

import (
	"fmt"
	"sync"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/component-base/metrics"
	"k8s.io/component-base/metrics/legacyregistry"
)

var (
	recordsDropped = metrics.NewCounter(&metrics.CounterOpts{
		Subsystem:      "streamspace_user_recorder",
		Name:           "dropped_total",
		Help:           "Callers not recorded because the recorder's queue was full.",
		StabilityLevel: metrics.ALPHA,
	})
	recordWrites = metrics.NewCounterVec(&metrics.CounterOpts{
		Subsystem:      "streamspace_user_recorder",
		Name:           "writes_total",
		Help:           "Writes of User records, by result (success, error).",
		StabilityLevel: metrics.ALPHA,
	}, []string{"result"})
	registerOnce sync.Once
)

func registerMetrics() {
	registerOnce.Do(func() { legacyregistry.MustRegister(recordsDropped, recordWrites) })
}

func errUnexpectedType(obj runtime.Object) error {
	return fmt.Errorf("the users storage holds a %T, not a User", obj)
}
