package rest

import (
	"net/http"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
)

// apiKey is an APIKey as the web UI shows it. Token is set only in the
// answer to the create, the one time the server returns it.
type apiKey struct {
	ID          string     `json:"id"`
	User        string     `json:"user"`
	Groups      []string   `json:"groups"`
	Description string     `json:"description,omitempty"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	CreatedAt   time.Time  `json:"createdAt"`
	Token       string     `json:"token,omitempty"`
}

func newAPIKey(k *streamv1alpha1.APIKey) apiKey {
	out := apiKey{ID: k.Name, User: k.Spec.User, Groups: k.Spec.Groups, Description: k.Spec.Description,
		CreatedAt: k.CreationTimestamp.UTC(), Token: k.Status.Token}
	if out.Groups == nil {
		out.Groups = []string{}
	}
	if k.Spec.ExpiresAt != nil {
		t := k.Spec.ExpiresAt.UTC()
		out.ExpiresAt = &t
	}
	return out
}

// ListAPIKeys: GET /api/v1/apikeys: the caller's keys (every key for an
// administrator), as the API server shows them to the caller.
func (a *API) ListAPIKeys(w http.ResponseWriter, r *http.Request) {
	c := identity.FromRequest(r)
	list, err := c.Stream().StreamV1alpha1().APIKeys().List(r.Context(), metav1.ListOptions{})
	if err != nil {
		httpjson.APIError(w, r, "list API keys", err)
		return
	}
	out := struct {
		APIKeys []apiKey `json:"apiKeys"`
		Total   int      `json:"total"`
	}{APIKeys: make([]apiKey, 0, len(list.Items))}
	for i := range list.Items {
		out.APIKeys = append(out.APIKeys, newAPIKey(&list.Items[i]))
	}
	out.Total = len(out.APIKeys)
	httpjson.Write(w, http.StatusOK, out)
}

// CreateAPIKey: POST /api/v1/apikeys with {name?, description?,
// expiresAt? (RFC 3339)}: mints a key for the caller and answers it with
// its token, which is never shown again. Without a name the server picks
// one ("key-xxxxx").
func (a *API) CreateAPIKey(w http.ResponseWriter, r *http.Request) {
	c := identity.FromRequest(r)
	var body struct {
		Name        string       `json:"name"`
		Description string       `json:"description"`
		ExpiresAt   *metav1.Time `json:"expiresAt"`
	}
	if !httpjson.DecodeBody(w, r, &body) {
		return
	}
	key := &streamv1alpha1.APIKey{
		ObjectMeta: metav1.ObjectMeta{Name: body.Name},
		Spec:       streamv1alpha1.APIKeySpec{Description: body.Description, ExpiresAt: body.ExpiresAt},
	}
	if key.Name == "" {
		key.GenerateName = "key-"
	}
	created, err := c.Stream().StreamV1alpha1().APIKeys().Create(r.Context(), key, metav1.CreateOptions{})
	if err != nil {
		httpjson.APIError(w, r, "create API key", err)
		return
	}
	httpjson.Write(w, http.StatusCreated, newAPIKey(created))
}

// DeleteAPIKey: DELETE /api/v1/apikeys/{id}: revokes a key (one's own; an
// administrator's may be anyone's).
func (a *API) DeleteAPIKey(w http.ResponseWriter, r *http.Request) {
	c := identity.FromRequest(r)
	name := r.PathValue("id")
	if err := c.Stream().StreamV1alpha1().APIKeys().Delete(r.Context(), name, metav1.DeleteOptions{}); err != nil {
		httpjson.APIError(w, r, "delete API key "+name, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"message": "API key " + name + " revoked", "id": name})
}
