package rest

import (
	"encoding/json"
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/view"
)

// Repositories are cluster-scoped and addressed by name (the old API used
// numeric ids). Writing them needs the streamspace-admin role; other users
// get the API's 403.

// ListRepositories: GET /api/v1/repositories and GET /api/v1/catalog/repositories.
func (a *API) ListRepositories(w http.ResponseWriter, r *http.Request) {
	c := identity.FromRequest(r)
	list, err := c.Stream().CatalogV1alpha1().TemplateRepositories().List(r.Context(), metav1.ListOptions{})
	if err != nil {
		httpjson.APIError(w, r, "list repositories", err)
		return
	}
	out := struct {
		Repositories []view.Repository `json:"repositories"`
		Total        int               `json:"total"`
	}{Repositories: make([]view.Repository, 0, len(list.Items))}
	for i := range list.Items {
		out.Repositories = append(out.Repositories, view.NewRepository(&list.Items[i]))
	}
	out.Total = len(out.Repositories)
	httpjson.Write(w, http.StatusOK, out)
}

// AddRepository: POST /api/v1/repositories with the old body {name, url,
// branch, authType, authSecret}; authSecret names a Secret holding the
// credentials (never the credentials themselves).
func (a *API) AddRepository(w http.ResponseWriter, r *http.Request) {
	c := identity.FromRequest(r)
	var req struct {
		Name            string `json:"name"`
		URL             string `json:"url"`
		Branch          string `json:"branch"`
		Path            string `json:"path"`
		AuthType        string `json:"authType"`
		AuthSecret      string `json:"authSecret"`
		AuthSecretNS    string `json:"authSecretNamespace"`
		SyncIntervalStr string `json:"syncInterval"`
	}
	if !httpjson.DecodeBody(w, r, &req) {
		return
	}
	if req.Name == "" {
		httpjson.Error(w, http.StatusUnprocessableEntity, "name: Required value: name the repository")
		return
	}
	repo := &catalogv1alpha1.TemplateRepository{
		ObjectMeta: metav1.ObjectMeta{Name: req.Name},
		Spec: catalogv1alpha1.TemplateRepositorySpec{
			URL: req.URL, Branch: req.Branch, Path: req.Path,
			Auth: catalogv1alpha1.RepositoryAuth{Type: catalogv1alpha1.AuthType(req.AuthType)},
		},
	}
	if req.AuthSecret != "" {
		repo.Spec.Auth.SecretRef = &catalogv1alpha1.SecretReference{Name: req.AuthSecret, Namespace: req.AuthSecretNS}
	}
	if req.SyncIntervalStr != "" {
		d, err := time.ParseDuration(req.SyncIntervalStr)
		if err != nil {
			httpjson.Error(w, http.StatusUnprocessableEntity, "syncInterval: Invalid value: \""+req.SyncIntervalStr+"\": want a duration like 1h")
			return
		}
		repo.Spec.SyncInterval = &metav1.Duration{Duration: d}
	}
	created, err := c.Stream().CatalogV1alpha1().TemplateRepositories().Create(r.Context(), repo, metav1.CreateOptions{})
	if err != nil {
		httpjson.APIError(w, r, "add repository", err)
		return
	}
	httpjson.Write(w, http.StatusCreated, view.NewRepository(created))
}

// DeleteRepository: DELETE /api/v1/repositories/{id} and DELETE /api/v1/catalog/repositories/{id}.
func (a *API) DeleteRepository(w http.ResponseWriter, r *http.Request) {
	c := identity.FromRequest(r)
	name := r.PathValue("id")
	if err := c.Stream().CatalogV1alpha1().TemplateRepositories().Delete(r.Context(), name, metav1.DeleteOptions{}); err != nil {
		httpjson.APIError(w, r, "delete repository "+name, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"message": "repository " + name + " deleted", "name": name})
}

// SyncRepository: POST /api/v1/repositories/{id}/sync marks the repository
// (annotation catalog.SyncRequestedAnnotation); the catalog controller syncs it.
func (a *API) SyncRepository(w http.ResponseWriter, r *http.Request) {
	c := identity.FromRequest(r)
	name := r.PathValue("id")
	if err := requestSync(r, c, name); err != nil {
		httpjson.APIError(w, r, "request a sync of repository "+name, err)
		return
	}
	httpjson.Write(w, http.StatusAccepted, map[string]string{"message": "sync requested", "repository": name})
}

// SyncAllRepositories: POST /api/v1/catalog/sync marks every repository.
func (a *API) SyncAllRepositories(w http.ResponseWriter, r *http.Request) {
	c := identity.FromRequest(r)
	list, err := c.Stream().CatalogV1alpha1().TemplateRepositories().List(r.Context(), metav1.ListOptions{})
	if err != nil {
		httpjson.APIError(w, r, "list repositories", err)
		return
	}
	names := []string{}
	for _, repo := range list.Items {
		if err := requestSync(r, c, repo.Name); err != nil {
			httpjson.APIError(w, r, "request a sync of repository "+repo.Name, err)
			return
		}
		names = append(names, repo.Name)
	}
	httpjson.Write(w, http.StatusAccepted, map[string]any{"message": "sync requested", "repositories": names, "total": len(names)})
}

func requestSync(r *http.Request, c *identity.Caller, name string) error {
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{
		catalog.SyncRequestedAnnotation: time.Now().UTC().Format(time.RFC3339Nano),
	}}})
	_, err := c.Stream().CatalogV1alpha1().TemplateRepositories().Patch(r.Context(), name, types.MergePatchType, patch, metav1.PatchOptions{})
	return err
}
