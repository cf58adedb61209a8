// Package install registers the catalog.stream.space API group in a scheme.
package install

import (
	"k8s.io/apimachinery/pkg/runtime"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
)

// Install registers the internal and v1alpha1 versions, v1alpha1 preferred.
func Install(scheme *runtime.Scheme) {
	utilruntime.Must(catalog.AddToScheme(scheme))
	utilruntime.Must(v1alpha1.AddToScheme(scheme))
	utilruntime.Must(scheme.SetVersionPriority(v1alpha1.SchemeGroupVersion))
}
