package rest

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/view"
)

type templateList struct {
	Templates []view.Template `json:"templates"`
	Total     int             `json:"total"`
}

// ListTemplates: GET /api/v1/templates[?category=]. Categories match
// whatever their spelling, word-wise: "Browsers", "web-browsers" and
// "Web Browsers" all find "Web Browsers".
func (a *API) ListTemplates(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	list, err := c.Stream().StreamV1alpha1().Templates(ns).List(r.Context(), metav1.ListOptions{})
	if err != nil {
		httpjson.APIError(w, r, "list templates", err)
		return
	}
	category := r.URL.Query().Get("category")
	out := templateList{Templates: []view.Template{}}
	for i := range list.Items {
		t := &list.Items[i]
		if !categoryMatches(t.Spec.Category, category) {
			continue
		}
		out.Templates = append(out.Templates, view.NewInstalledTemplate(t))
	}
	out.Total = len(out.Templates)
	httpjson.Write(w, http.StatusOK, out)
}

// GetTemplate: GET /api/v1/templates/{id}.
func (a *API) GetTemplate(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	t, err := c.Stream().StreamV1alpha1().Templates(ns).Get(r.Context(), r.PathValue("id"), metav1.GetOptions{})
	if err != nil {
		httpjson.APIError(w, r, "get template "+r.PathValue("id"), err)
		return
	}
	httpjson.Write(w, http.StatusOK, view.NewInstalledTemplate(t))
}

// CreateTemplate: POST /api/v1/templates with either a Template manifest
// ({apiVersion, kind, metadata, spec}) or the old flat body ({name,
// displayName, baseImage, ...}). Validation errors come back as 422 naming
// the field.
func (a *API) CreateTemplate(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	var raw map[string]json.RawMessage
	if !httpjson.DecodeBody(w, r, &raw) {
		return
	}
	template := &streamv1alpha1.Template{}
	body, _ := json.Marshal(raw)
	var err error
	if _, manifest := raw["spec"]; manifest {
		err = json.Unmarshal(body, template)
	} else {
		var flat struct {
			Name string `json:"name"`
		}
		if err = json.Unmarshal(body, &flat); err == nil {
			template.Name = flat.Name
			err = json.Unmarshal(body, &template.Spec)
		}
	}
	if err != nil {
		httpjson.Error(w, http.StatusBadRequest, "the request body is not a Template: "+err.Error())
		return
	}
	if template.Name == "" {
		httpjson.Error(w, http.StatusUnprocessableEntity, "metadata.name: Required value: give the template a name (\"name\" or metadata.name)")
		return
	}
	template.Namespace, template.ResourceVersion, template.UID = "", "", ""
	created, err := c.Stream().StreamV1alpha1().Templates(ns).Create(r.Context(), template, metav1.CreateOptions{})
	if err != nil {
		httpjson.APIError(w, r, "create template", err)
		return
	}
	httpjson.Write(w, http.StatusCreated, view.NewInstalledTemplate(created))
}

// DeleteTemplate: DELETE /api/v1/templates/{id}.
func (a *API) DeleteTemplate(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	name := r.PathValue("id")
	if err := c.Stream().StreamV1alpha1().Templates(ns).Delete(r.Context(), name, metav1.DeleteOptions{}); err != nil {
		httpjson.APIError(w, r, "delete template "+name, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"message": "template " + name + " deleted", "name": name, "namespace": ns})
}

// ListCatalogTemplates: GET /api/v1/catalog/templates[?category=][&tag=].
func (a *API) ListCatalogTemplates(w http.ResponseWriter, r *http.Request) {
	c := identity.FromRequest(r)
	list, err := c.Stream().CatalogV1alpha1().CatalogTemplates().List(r.Context(), metav1.ListOptions{})
	if err != nil {
		httpjson.APIError(w, r, "list catalog templates", err)
		return
	}
	category, tag := r.URL.Query().Get("category"), strings.TrimSpace(r.URL.Query().Get("tag"))
	out := struct {
		Templates []view.CatalogTemplate `json:"templates"`
		Total     int                    `json:"total"`
	}{Templates: []view.CatalogTemplate{}}
	for i := range list.Items {
		t := &list.Items[i]
		if !categoryMatches(t.Spec.Category, category) && !categoryMatches(t.Spec.Template.Category, category) {
			continue
		}
		if tag != "" && !hasTag(t.Spec.Template.Tags, tag) {
			continue
		}
		out.Templates = append(out.Templates, view.NewCatalogTemplate(t))
	}
	out.Total = len(out.Templates)
	httpjson.Write(w, http.StatusOK, out)
}

// InstallCatalogTemplate: POST /api/v1/catalog/templates/{id}/install creates
// a Template in the caller's namespace from the catalog entry, as the caller
// (RBAC: create templates there, get the catalogtemplate), the way kubectl
// does: a Template with only spec.source.catalogTemplate, which the
// StreamSpaceCatalogSource admission plugin fills from the entry and labels,
// so the entry's install count counts it. The name is the catalog entry's
// unless the optional body says {"name": "..."}.
func (a *API) InstallCatalogTemplate(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	var req struct {
		Name string `json:"name"`
	}
	if r.ContentLength > 0 && !httpjson.DecodeBody(w, r, &req) {
		return
	}
	// Read first so that an unknown entry is a 404 (the API would answer 422
	// on spec.source.catalogTemplate).
	entry, err := c.Stream().CatalogV1alpha1().CatalogTemplates().Get(r.Context(), r.PathValue("id"), metav1.GetOptions{})
	if err != nil {
		httpjson.APIError(w, r, "get catalog template "+r.PathValue("id"), err)
		return
	}
	name := req.Name
	if name == "" {
		name = entry.Name
	}
	template := &streamv1alpha1.Template{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       streamv1alpha1.TemplateSpec{Source: &streamv1alpha1.TemplateSource{CatalogTemplate: entry.Name}},
	}
	created, err := c.Stream().StreamV1alpha1().Templates(ns).Create(r.Context(), template, metav1.CreateOptions{FieldManager: "streamspace-bridge"})
	if err != nil {
		httpjson.APIError(w, r, "install catalog template "+entry.Name, err)
		return
	}
	httpjson.Write(w, http.StatusCreated, map[string]any{"message": "template installed", "template": view.NewInstalledTemplate(created)})
}

var nonAlphanumeric = regexp.MustCompile(`[^a-z0-9]+`)

// normaliseCategory makes "Web Browsers", "web-browsers" and "web_browsers" equal.
func normaliseCategory(c string) string {
	return strings.Trim(nonAlphanumeric.ReplaceAllString(strings.ToLower(c), "-"), "-")
}

// categoryMatches compares normalised categories word-wise, so the old
// ?category=Browsers finds "Web Browsers".
func categoryMatches(category, query string) bool {
	c, q := normaliseCategory(category), normaliseCategory(query)
	return q == "" || c == q || strings.HasPrefix(c, q+"-") || strings.HasSuffix(c, "-"+q) || strings.Contains(c, "-"+q+"-")
}

func hasTag(tags []string, want string) bool {
	for _, t := range tags {
		if strings.EqualFold(t, want) {
			return true
		}
	}
	return false
}
