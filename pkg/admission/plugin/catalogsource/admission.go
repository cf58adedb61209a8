// Package catalogsource installs catalog templates: a Template created with
// only spec.source.catalogTemplate set gets the rest of its spec from that
// CatalogTemplate, and the label catalog.stream.space/source=<name>, in the
// same request. The caller must be allowed to "get" the CatalogTemplate.
//
// The label is what install counts are made of, so only this plugin sets
// it: a request that sets, changes or removes it is refused (422 on
// metadata.labels), and spec.source cannot change after creation. Hence a
// Template carries the label exactly when it was installed from the
// catalog, by someone allowed to read that CatalogTemplate.
package catalogsource

import (
	"context"
	"fmt"
	"io"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/apiserver/pkg/admission"
	genericadmissioninitializer "k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/authorization/authorizer"

	"github.com/streamspace/controlplane/pkg/admission/initializer"
	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
	cataloglisters "github.com/streamspace/controlplane/pkg/generated/listers/catalog/v1alpha1"
)

// PluginName is the name of the admission plugin.
const PluginName = "StreamSpaceCatalogSource"

// Register adds the plugin to the registry.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) {
		return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update)}, nil
	})
}

// Plugin fills a Template's spec from the CatalogTemplate it names.
type Plugin struct {
	*admission.Handler
	authorizer       authorizer.Authorizer
	catalogTemplates cataloglisters.CatalogTemplateLister
}

var (
	_ admission.MutationInterface   = &Plugin{}
	_ admission.ValidationInterface = &Plugin{}
	_                               = genericadmissioninitializer.WantsAuthorizer(&Plugin{})
	_                               = initializer.WantsInformers(&Plugin{})
)

// SetAuthorizer implements genericadmissioninitializer.WantsAuthorizer.
func (p *Plugin) SetAuthorizer(a authorizer.Authorizer) { p.authorizer = a }

// SetInformers implements initializer.WantsInformers.
func (p *Plugin) SetInformers(f externalversions.SharedInformerFactory) {
	informer := f.Catalog().V1alpha1().CatalogTemplates()
	p.catalogTemplates = informer.Lister()
	p.SetReadyFunc(informer.Informer().HasSynced)
}

// ValidateInitialization implements admission.InitializationValidator.
func (p *Plugin) ValidateInitialization() error {
	if p.authorizer == nil {
		return fmt.Errorf("%s needs an authorizer", PluginName)
	}
	if p.catalogTemplates == nil {
		return fmt.Errorf("%s needs an informer of catalog templates", PluginName)
	}
	return nil
}

// templateOf is the Template of a request on the main resource (not a subresource), or nil.
func templateOf(obj any, a admission.Attributes) *stream.Template {
	if a.GetSubresource() != "" || a.GetResource().GroupResource() != stream.Resource("templates") {
		return nil
	}
	t, _ := obj.(*stream.Template)
	return t
}

// Admit checks the caller may read the CatalogTemplate and copies its template into the spec.
func (p *Plugin) Admit(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	t := templateOf(a.GetObject(), a)
	if t == nil || a.GetOperation() != admission.Create || t.Spec.Source == nil || a.GetReinvocationContext().IsReinvoke() {
		// Updates are checked by Validate; a reinvocation would see the spec this plugin filled.
		return nil
	}
	sourcePath := field.NewPath("spec", "source", "catalogTemplate")
	name := t.Spec.Source.CatalogTemplate
	if name == "" {
		return invalid(a, field.Required(sourcePath, "the name of the CatalogTemplate to install"))
	}
	if value, ok := t.Labels[catalog.SourceLabel]; ok {
		return invalid(a, field.Forbidden(sourceLabelPath, fmt.Sprintf("is set by the server when a template is installed; remove it from the request (it says %q)", value)))
	}
	if !onlySource(t.Spec) {
		return invalid(a, field.Forbidden(field.NewPath("spec"), "when spec.source.catalogTemplate is set the rest of spec must be empty: it is copied from the CatalogTemplate"))
	}
	if err := p.authorizeGet(ctx, a, name); err != nil {
		return err
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request: the catalog is still loading"))
	}
	ct, err := p.catalogTemplates.Get(name)
	if apierrors.IsNotFound(err) {
		return invalid(a, field.NotFound(sourcePath, name))
	}
	if err != nil {
		return apierrors.NewInternalError(fmt.Errorf("read catalog template %s: %w", name, err))
	}
	var spec stream.TemplateSpec
	src := ct.Spec.Template.DeepCopy()
	if err := streamv1alpha1.Convert_v1alpha1_TemplateSpec_To_stream_TemplateSpec(src, &spec, nil); err != nil {
		return apierrors.NewInternalError(fmt.Errorf("convert catalog template %s: %w", name, err))
	}
	spec.Source = &stream.TemplateSource{CatalogTemplate: name}
	t.Spec = spec
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	t.Labels[catalog.SourceLabel] = name
	return nil
}

var (
	sourceLabelPath = field.NewPath("metadata", "labels").Key(catalog.SourceLabel)
	sourcePath      = field.NewPath("spec", "source")
)

// Validate keeps the source label true, after every mutation: on create it
// is there exactly when spec.source is, with its name; on update neither
// the label nor spec.source changes (removing a label that no spec.source
// stands behind, set before this rule existed, is allowed).
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	t := templateOf(a.GetObject(), a)
	if t == nil {
		return nil
	}
	label, labelled := t.Labels[catalog.SourceLabel]
	switch a.GetOperation() {
	case admission.Create:
		switch {
		case t.Spec.Source == nil && labelled:
			return invalid(a, field.Forbidden(sourceLabelPath, "is set by the server only when a template is installed with spec.source.catalogTemplate"))
		case t.Spec.Source != nil && label != t.Spec.Source.CatalogTemplate:
			return invalid(a, field.Invalid(sourceLabelPath, label, "must name the catalog template of spec.source.catalogTemplate"))
		}
	case admission.Update:
		old := templateOf(a.GetOldObject(), a)
		if old == nil {
			return nil
		}
		oldLabel, oldLabelled := old.Labels[catalog.SourceLabel]
		if (label != oldLabel || labelled != oldLabelled) && !(!labelled && old.Spec.Source == nil) {
			return invalid(a, field.Forbidden(sourceLabelPath, fmt.Sprintf("is set by the server when a template is installed and cannot be added, changed or removed (it is %q)", oldLabel)))
		}
		if !apiequality.Semantic.DeepEqual(t.Spec.Source, old.Spec.Source) {
			return invalid(a, field.Invalid(sourcePath, describeSource(t.Spec.Source), "field is immutable: it records where the template was installed from"))
		}
	}
	return nil
}

func describeSource(s *stream.TemplateSource) string {
	if s == nil {
		return "<none>"
	}
	return "catalogTemplate: " + s.CatalogTemplate
}

// onlySource tells whether spec holds nothing but the source and what
// defaulting adds to an empty spec.
func onlySource(spec stream.TemplateSpec) bool {
	spec.Source = nil
	if spec.AppType == stream.AppTypeDesktop {
		spec.AppType = ""
	}
	return apiequality.Semantic.DeepEqual(spec, stream.TemplateSpec{})
}

func (p *Plugin) authorizeGet(ctx context.Context, a admission.Attributes, name string) error {
	caller := a.GetUserInfo()
	if caller == nil {
		return admission.NewForbidden(a, fmt.Errorf("no user to check"))
	}
	decision, reason, err := p.authorizer.Authorize(ctx, authorizer.AttributesRecord{
		User:            caller,
		Verb:            "get",
		APIGroup:        catalog.GroupName,
		APIVersion:      "v1alpha1",
		Resource:        "catalogtemplates",
		Name:            name,
		ResourceRequest: true,
	})
	if decision == authorizer.DecisionAllow {
		return nil
	}
	msg := fmt.Sprintf("spec.source.catalogTemplate: %q may not get catalogtemplates.%s %q", caller.GetName(), catalog.GroupName, name)
	if reason != "" {
		msg += ": " + reason
	}
	if err != nil {
		msg += fmt.Sprintf(" (authorizer error: %v)", err)
	}
	return admission.NewForbidden(a, fmt.Errorf("%s", msg))
}

func invalid(a admission.Attributes, errs ...*field.Error) error {
	return apierrors.NewInvalid(a.GetKind().GroupKind(), a.GetName(), errs)
}
