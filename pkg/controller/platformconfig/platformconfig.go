// Package platformconfig gives controllers the platform's settings: the
// PlatformConfiguration named "cluster", read from an informer, over the
// controller's own flags for what it leaves unset. Controllers ask for a
// setting each time they reconcile and requeue their objects when the
// configuration changes, so an administrator's change applies within
// seconds, without a restart.
package platformconfig

import (
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
)

// Source reads the configuration. Create it with New in a controller's
// constructor (it requests the informer from the factory). A nil Source
// has no configuration: every setting is its flag.
type Source struct {
	lister   streamlisters.PlatformConfigurationLister
	informer cache.SharedIndexInformer
}

// New requests the PlatformConfiguration informer of f.
func New(f streaminformers.SharedInformerFactory) *Source {
	inf := f.Stream().V1alpha1().PlatformConfigurations()
	return &Source{lister: inf.Lister(), informer: inf.Informer()}
}

// HasSynced reports whether the configuration has been read.
func (s *Source) HasSynced() bool { return s.informer.HasSynced() }

// OnChange calls changed whenever the configuration is created, changed or
// deleted (not on the informer's periodic resyncs).
func (s *Source) OnChange(changed func()) error {
	_, err := s.informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(any) { changed() },
		UpdateFunc: func(oldObj, newObj any) {
			o, ok1 := oldObj.(*streamv1alpha1.PlatformConfiguration)
			n, ok2 := newObj.(*streamv1alpha1.PlatformConfiguration)
			if !ok1 || !ok2 || o.ResourceVersion != n.ResourceVersion {
				changed()
			}
		},
		DeleteFunc: func(any) { changed() },
	})
	if err != nil {
		return fmt.Errorf("watch the platform configuration: %w", err)
	}
	return nil
}

// RequeueOnChange enqueues every object list returns whenever the
// configuration is created, changed or deleted: for a controller whose
// objects all depend on a setting (a timeout, the ingress domain), so that
// each is reconciled under the new one. list is a lister's List.
func RequeueOnChange[T any](s *Source, list func(labels.Selector) ([]T, error), enqueue func(T)) error {
	return s.OnChange(func() {
		objs, err := list(labels.Everything())
		if err != nil {
			// A lister's List fails only on a selector it cannot match.
			utilruntime.HandleError(fmt.Errorf("requeue after a platform configuration change: %w", err))
			return
		}
		for _, obj := range objs {
			enqueue(obj)
		}
	})
}

// Spec is the configuration's spec, empty when there is none.
func (s *Source) Spec() streamv1alpha1.PlatformConfigurationSpec {
	if s == nil {
		return streamv1alpha1.PlatformConfigurationSpec{}
	}
	c, err := s.lister.Get(streamv1alpha1.PlatformConfigurationName)
	if err != nil {
		if !apierrors.IsNotFound(err) {
			// A lister answers only NotFound; anything else is a bug.
			panic(err)
		}
		return streamv1alpha1.PlatformConfigurationSpec{}
	}
	return c.Spec
}

// DefaultIdleTimeout of sessions without their own, else flag.
func (s *Source) DefaultIdleTimeout(flag time.Duration) time.Duration {
	return duration(s.Spec().Sessions.DefaultIdleTimeout, flag)
}

// AutoHibernation: whether idle sessions hibernate (default on).
func (s *Source) AutoHibernation() bool {
	a := s.Spec().Sessions.AutoHibernation
	return a == nil || *a
}

// StaleConnectionTimeout, else flag.
func (s *Source) StaleConnectionTimeout(flag time.Duration) time.Duration {
	return duration(s.Spec().Sessions.StaleConnectionTimeout, flag)
}

// DefaultResources of sessions whose spec and template name none (nil:
// none configured).
func (s *Source) DefaultResources() *streamv1alpha1.ResourceRequirements {
	return s.Spec().Sessions.DefaultResources
}

// Ingress is the ingress domain and class, each else its flag.
func (s *Source) Ingress(domainFlag, classFlag string) (domain, class string) {
	in := s.Spec().Ingress
	return orElse(in.Domain, domainFlag), orElse(in.ClassName, classFlag)
}

// Home is the size and storage class of new home claims, each else its flag.
func (s *Source) Home(sizeFlag resource.Quantity, classFlag string) (resource.Quantity, string) {
	h := s.Spec().Home
	size := sizeFlag
	if h.VolumeSize != nil {
		size = *h.VolumeSize
	}
	return size, orElse(h.StorageClassName, classFlag)
}

// SyncInterval of repositories without their own, else flag.
func (s *Source) SyncInterval(flag time.Duration) time.Duration {
	return duration(s.Spec().Catalog.SyncInterval, flag)
}

func duration(d *metav1.Duration, flag time.Duration) time.Duration {
	if d == nil {
		return flag
	}
	return d.Duration
}

func orElse(v, flag string) string {
	if v != "" {
		return v
	}
	return flag
}
