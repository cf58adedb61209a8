// Package repositorycredentials lets a TemplateRepository name only
// credentials its author could read: the repository controller sends the
// Secret in spec.auth.secretRef to spec.url with its own rights, so without
// this check anyone allowed to create a repository could have any Secret the
// controller reads sent to a host of their choosing.
package repositorycredentials

import (
	"context"
	"fmt"
	"io"

	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
)

// PluginName is the name of the admission plugin.
const PluginName = "StreamSpaceRepositoryCredentials"

// Register adds the plugin to the registry.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) {
		return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update), secretNamespace: catalog.DefaultCredentialsNamespace}, nil
	})
}

// Plugin asks the authorizer whether the requester may get the Secret a
// TemplateRepository names.
type Plugin struct {
	*admission.Handler
	authorizer authorizer.Authorizer
	// secretNamespace is where a secretRef without a namespace points (the
	// repository controller's --secret-namespace).
	secretNamespace string
}

var (
	_ admission.ValidationInterface = &Plugin{}
	_                               = initializer.WantsAuthorizer(&Plugin{})
)

// SetAuthorizer implements initializer.WantsAuthorizer.
func (p *Plugin) SetAuthorizer(a authorizer.Authorizer) { p.authorizer = a }

// ValidateInitialization implements admission.InitializationValidator.
func (p *Plugin) ValidateInitialization() error {
	if p.authorizer == nil {
		return fmt.Errorf("%s needs an authorizer", PluginName)
	}
	return nil
}

// Validate refuses, with 403, a repository whose Secret the requester may
// not get. It asks on create and on every update that changes where the
// credentials go (spec.url) or which they are (auth type or secretRef);
// other updates (the sync annotation, status) are not the author's choice of
// credentials and pass.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetSubresource() != "" || a.GetResource().GroupResource() != catalog.Resource("templaterepositories") {
		return nil
	}
	repo, ok := a.GetObject().(*catalog.TemplateRepository)
	if !ok {
		return nil
	}
	namespace, name, uses := p.secretOf(repo)
	if !uses {
		return nil
	}
	if a.GetOperation() == admission.Update {
		if old, ok := a.GetOldObject().(*catalog.TemplateRepository); ok && old.Spec.URL == repo.Spec.URL && old.Spec.Auth.Type == repo.Spec.Auth.Type {
			if oldNamespace, oldName, oldUses := p.secretOf(old); oldUses && oldNamespace == namespace && oldName == name {
				return nil
			}
		}
	}
	caller := a.GetUserInfo()
	if caller == nil {
		return admission.NewForbidden(a, fmt.Errorf("spec.auth.secretRef: an anonymous request may not name Secret %s/%s", namespace, name))
	}
	decision, reason, err := p.authorizer.Authorize(ctx, authorizer.AttributesRecord{
		User:            caller,
		Verb:            "get",
		Namespace:       namespace,
		APIGroup:        "",
		APIVersion:      "v1",
		Resource:        "secrets",
		Name:            name,
		ResourceRequest: true,
	})
	if decision == authorizer.DecisionAllow {
		return nil
	}
	msg := fmt.Sprintf("spec.auth.secretRef: %q may not use Secret %s/%s for a repository: that needs the right to get it (the controller sends it to spec.url)",
		caller.GetName(), namespace, name)
	if reason != "" {
		msg += ": " + reason
	}
	if err != nil {
		msg += fmt.Sprintf(" (authorizer error: %v)", err)
	}
	return admission.NewForbidden(a, fmt.Errorf("%s", msg))
}

// secretOf is the Secret a repository's credentials come from, if any.
func (p *Plugin) secretOf(repo *catalog.TemplateRepository) (namespace, name string, uses bool) {
	auth := repo.Spec.Auth
	if auth.Type == "" || auth.Type == catalog.AuthTypeNone || auth.SecretRef == nil || auth.SecretRef.Name == "" {
		return "", "", false
	}
	namespace = auth.SecretRef.Namespace
	if namespace == "" {
		namespace = p.secretNamespace
	}
	return namespace, auth.SecretRef.Name, true
}
