package v1alpha1

import (
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/apis/selectable"
)

func addFieldLabelConversions(scheme *runtime.Scheme) error {
	return selectable.AddFieldLabelConversions(scheme, SchemeGroupVersion, catalog.SelectableKinds)
}
