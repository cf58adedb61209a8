package catalogsource

import (
	"context"
	"strings"
	"testing"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/client-go/tools/cache"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	cataloglisters "github.com/streamspace/controlplane/pkg/generated/listers/catalog/v1alpha1"
)

// readers lets each user get the named catalog templates and nothing else.
func readers(allowed map[string][]string) authorizer.Authorizer {
	return authorizer.AuthorizerFunc(func(_ context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		for _, name := range allowed[a.GetUser().GetName()] {
			if a.GetVerb() == "get" && a.GetResource() == "catalogtemplates" && a.GetAPIGroup() == catalog.GroupName && a.GetName() == name {
				return authorizer.DecisionAllow, "", nil
			}
		}
		return authorizer.DecisionNoOpinion, "no RBAC policy matched", nil
	})
}

func newTestPlugin(t *testing.T) *Plugin {
	t.Helper()
	indexer := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{})
	if err := indexer.Add(&catalogv1alpha1.CatalogTemplate{
		ObjectMeta: metav1.ObjectMeta{Name: "community-firefox"},
		Spec: catalogv1alpha1.CatalogTemplateSpec{Repository: "community", Template: streamv1alpha1.TemplateSpec{
			DisplayName: "Firefox", BaseImage: "lscr.io/linuxserver/firefox:latest", AppType: streamv1alpha1.AppTypeDesktop,
			VNC: &streamv1alpha1.VNCConfig{Enabled: true, Port: 3000, Protocol: "websocket"},
		}},
	}); err != nil {
		t.Fatal(err)
	}
	return &Plugin{
		Handler:          admission.NewHandler(admission.Create, admission.Update),
		authorizer:       readers(map[string][]string{"alice": {"community-firefox", "community-missing"}}),
		catalogTemplates: cataloglisters.NewCatalogTemplateLister(indexer),
	}
}

func template(labels map[string]string, source string, image string) *stream.Template {
	t := &stream.Template{ObjectMeta: metav1.ObjectMeta{Name: "mine", Namespace: "alice", Labels: labels}}
	if source != "" {
		t.Spec.Source = &stream.TemplateSource{CatalogTemplate: source}
	}
	if image != "" {
		t.Spec.DisplayName, t.Spec.BaseImage = "Mine", image
		t.Spec.VNC = &stream.VNCConfig{Enabled: true, Port: 3000, Protocol: "websocket"}
	}
	return t
}

// installed is a Template as the install left it.
func installed() *stream.Template {
	return template(label("community-firefox"), "community-firefox", "lscr.io/linuxserver/firefox:latest")
}

func label(v string) map[string]string { return map[string]string{catalog.SourceLabel: v} }

func TestCatalogSource(t *testing.T) {
	withSourceChanged := installed()
	withSourceChanged.Spec.Source.CatalogTemplate = "community-chrome"
	withSourceRemoved := installed()
	withSourceRemoved.Spec.Source = nil
	relabelled := installed()
	relabelled.Labels[catalog.SourceLabel] = "community-chrome"
	unlabelled := installed()
	delete(unlabelled.Labels, catalog.SourceLabel)
	imageChanged := installed()
	imageChanged.Spec.BaseImage = "lscr.io/linuxserver/firefox:2"
	otherLabel := installed()
	otherLabel.Labels["team"] = "a"

	cases := []struct {
		name      string
		user      string
		op        admission.Operation
		obj, old  *stream.Template
		wantCode  int    // 0 = admitted
		wantError string // substring of the error
		wantImage string // after admission, when admitted
	}{
		{name: "install", user: "alice", op: admission.Create, obj: template(nil, "community-firefox", ""), wantImage: "lscr.io/linuxserver/firefox:latest"},
		{name: "install without get: 403", user: "carol", op: admission.Create, obj: template(nil, "community-firefox", ""), wantCode: 403,
			wantError: `spec.source.catalogTemplate: "carol" may not get catalogtemplates.catalog.stream.space "community-firefox"`},
		{name: "install of a missing catalog template: 422", user: "alice", op: admission.Create, obj: template(nil, "community-missing", ""), wantCode: 422,
			wantError: "spec.source.catalogTemplate: Not found"},
		{name: "install with a spec: 422", user: "alice", op: admission.Create, obj: template(nil, "community-firefox", "evil:1"), wantCode: 422,
			wantError: "the rest of spec must be empty"},
		{name: "install with the label set by the caller, even matching: 422", user: "alice", op: admission.Create,
			obj: template(label("community-firefox"), "community-firefox", ""), wantCode: 422, wantError: "metadata.labels[catalog.stream.space/source]: Forbidden"},
		{name: "install with a mismatching label: 422", user: "alice", op: admission.Create,
			obj: template(label("community-chrome"), "community-firefox", ""), wantCode: 422, wantError: "metadata.labels[catalog.stream.space/source]: Forbidden"},
		{name: "plain template: admitted", user: "alice", op: admission.Create, obj: template(nil, "", "nginx:1"), wantImage: "nginx:1"},
		{name: "plain template with the label: 422", user: "alice", op: admission.Create, obj: template(label("community-firefox"), "", "nginx:1"), wantCode: 422,
			wantError: "set by the server only when a template is installed with spec.source.catalogTemplate"},
		{name: "plain template with an empty label: 422", user: "alice", op: admission.Create, obj: template(label(""), "", "nginx:1"), wantCode: 422,
			wantError: "metadata.labels[catalog.stream.space/source]: Forbidden"},
		{name: "update of an installed template keeping label and source", user: "alice", op: admission.Update, obj: imageChanged, old: installed(),
			wantImage: "lscr.io/linuxserver/firefox:2"},
		{name: "other labels may change", user: "alice", op: admission.Update, obj: otherLabel, old: installed(), wantImage: "lscr.io/linuxserver/firefox:latest"},
		{name: "label added by update: 422", user: "alice", op: admission.Update, obj: template(label("community-firefox"), "", "nginx:1"),
			old: template(nil, "", "nginx:1"), wantCode: 422, wantError: "cannot be added, changed or removed"},
		{name: "label changed: 422", user: "alice", op: admission.Update, obj: relabelled, old: installed(), wantCode: 422, wantError: "cannot be added, changed or removed"},
		{name: "label removed from an installed template: 422", user: "alice", op: admission.Update, obj: unlabelled, old: installed(), wantCode: 422,
			wantError: "cannot be added, changed or removed"},
		{name: "a label without a source behind it may be removed", user: "alice", op: admission.Update, obj: template(nil, "", "nginx:1"),
			old: template(label("community-firefox"), "", "nginx:1"), wantImage: "nginx:1"},
		{name: "spec.source changed: 422", user: "alice", op: admission.Update, obj: withSourceChanged, old: installed(), wantCode: 422,
			wantError: "spec.source: Invalid value: \"catalogTemplate: community-chrome\": field is immutable"},
		{name: "spec.source removed: 422", user: "alice", op: admission.Update, obj: withSourceRemoved, old: installed(), wantCode: 422,
			wantError: "field is immutable"},
		{name: "spec.source added: 422", user: "alice", op: admission.Update, obj: template(nil, "community-firefox", "nginx:1"),
			old: template(nil, "", "nginx:1"), wantCode: 422, wantError: "field is immutable"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestPlugin(t)
			attrs := admission.NewAttributesRecord(tc.obj, asObject(tc.old), stream.Kind("Template").WithVersion("v1alpha1"), "alice", "mine",
				stream.Resource("templates").WithVersion("v1alpha1"), "", tc.op, nil, false, &user.DefaultInfo{Name: tc.user})
			err := p.Admit(context.Background(), attrs, nil)
			if err == nil {
				err = p.Validate(context.Background(), attrs, nil)
			}
			if tc.wantCode == 0 {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if tc.obj.Spec.BaseImage != tc.wantImage {
					t.Errorf("baseImage %q, want %q", tc.obj.Spec.BaseImage, tc.wantImage)
				}
				if src := tc.obj.Spec.Source; src != nil && tc.obj.Labels[catalog.SourceLabel] != src.CatalogTemplate {
					t.Errorf("installed without its label: %v", tc.obj.Labels)
				}
				return
			}
			var status apierrors.APIStatus
			if err == nil || !asStatus(err, &status) || int(status.Status().Code) != tc.wantCode || !strings.Contains(err.Error(), tc.wantError) {
				t.Fatalf("error %v, want %d with %q", err, tc.wantCode, tc.wantError)
			}
		})
	}
}

// A reinvoked chain (after a webhook changed the object) sees the spec the
// plugin filled: it must neither refuse it nor fill it again.
func TestCatalogSourceReinvocation(t *testing.T) {
	p := newTestPlugin(t)
	obj := template(nil, "community-firefox", "")
	attrs := admission.NewAttributesRecord(obj, nil, stream.Kind("Template").WithVersion("v1alpha1"), "alice", "mine",
		stream.Resource("templates").WithVersion("v1alpha1"), "", admission.Create, nil, false, &user.DefaultInfo{Name: "alice"})
	if err := p.Admit(context.Background(), attrs, nil); err != nil {
		t.Fatal(err)
	}
	attrs.GetReinvocationContext().SetIsReinvoke()
	if err := p.Admit(context.Background(), attrs, nil); err != nil {
		t.Fatalf("reinvocation refused the installed template: %v", err)
	}
	if err := p.Validate(context.Background(), attrs, nil); err != nil {
		t.Fatal(err)
	}
}

// asObject keeps a nil *Template a nil runtime.Object.
func asObject(t *stream.Template) runtime.Object {
	if t == nil {
		return nil
	}
	return t
}

func asStatus(err error, status *apierrors.APIStatus) bool {
	s, ok := err.(apierrors.APIStatus)
	*status = s
	return ok
}
