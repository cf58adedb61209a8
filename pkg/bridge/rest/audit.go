package rest

import (
	"net/http"
	"strconv"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"

	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
)

// auditEvent is an entry of the audit trail as the dashboard shows it.
type auditEvent struct {
	ID        string `json:"id"`
	Time      string `json:"time"`
	User      string `json:"user"`
	Verb      string `json:"verb"`
	Resource  string `json:"resource"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
	Code      int32  `json:"code"`
	SourceIPs string `json:"sourceIPs,omitempty"`
	UserAgent string `json:"userAgent,omitempty"`
}

// ListAuditEvents: GET /api/v1/audit?user=&verb=&resource=&namespace=&limit=&continue=,
// newest first, as the caller (RBAC lets administrators read the trail).
func (a *API) ListAuditEvents(w http.ResponseWriter, r *http.Request) {
	c := identity.FromRequest(r)
	q := r.URL.Query()
	set := fields.Set{}
	for _, p := range []string{"user", "verb", "resource", "namespace", "name"} {
		if v := strings.TrimSpace(q.Get(p)); v != "" {
			set[p] = v
		}
	}
	opts := metav1.ListOptions{FieldSelector: fields.SelectorFromSet(set).String(), Limit: 100, Continue: q.Get("continue")}
	if l := q.Get("limit"); l != "" {
		n, err := strconv.ParseInt(l, 10, 64)
		if err != nil || n < 1 || n > 1000 {
			httpjson.Error(w, http.StatusBadRequest, "limit: want a number from 1 to 1000")
			return
		}
		opts.Limit = n
	}
	list, err := c.Stream().StreamV1alpha1().AuditEvents().List(r.Context(), opts)
	if err != nil {
		httpjson.APIError(w, r, "list audit events", err)
		return
	}
	out := struct {
		Events   []auditEvent `json:"events"`
		Continue string       `json:"continue,omitempty"`
	}{Events: []auditEvent{}, Continue: list.Continue}
	for _, e := range list.Items {
		resource := e.Resource
		if e.Subresource != "" {
			resource += "/" + e.Subresource
		}
		out.Events = append(out.Events, auditEvent{ID: e.Name, Time: e.CreationTimestamp.UTC().Format("2006-01-02T15:04:05Z"), User: e.User, Verb: e.Verb,
			Resource: resource, Namespace: e.ObjectNamespace, Name: e.ObjectName, Code: e.Code, SourceIPs: e.SourceIPs, UserAgent: e.UserAgent})
	}
	httpjson.Write(w, http.StatusOK, out)
}
