package v1alpha1

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// DefaultSyncInterval is how often a repository is synced when it says nothing.
const DefaultSyncInterval = time.Hour

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_TemplateRepositorySpec fills branch, interval and auth type.
func SetDefaults_TemplateRepositorySpec(obj *TemplateRepositorySpec) {
	if obj.Branch == "" {
		obj.Branch = "main"
	}
	if obj.SyncInterval == nil {
		obj.SyncInterval = &metav1.Duration{Duration: DefaultSyncInterval}
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
