package v1alpha1

import (
	"time"

	"k8s.io/apimachinery/pkg/runtime"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// DefaultSyncInterval is how often a repository is synced when neither it
// nor the platform configuration says.
const DefaultSyncInterval = time.Hour

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_TemplateRepositorySpec fills branch and auth type. The sync
// interval stays unset when not given: the platform configuration's
// catalog.syncInterval applies then, so an administrator changes it for
// every such repository at once.
func SetDefaults_TemplateRepositorySpec(obj *TemplateRepositorySpec) {
	if obj.Branch == "" {
		obj.Branch = "main"
	}
	if obj.Auth.Type == "" {
		obj.Auth.Type = AuthTypeNone
	}
}

// SetDefaults_CatalogTemplateSpec applies the template defaults to the embedded template.
func SetDefaults_CatalogTemplateSpec(obj *CatalogTemplateSpec) {
	streamv1alpha1.SetDefaults_TemplateSpec(&obj.Template)
	for i := range obj.Template.Ports {
		streamv1alpha1.SetDefaults_TemplatePort(&obj.Template.Ports[i])
	}
}
