package rest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/klog/v2"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/shares"
	"github.com/streamspace/controlplane/pkg/bridge/view"
)

// The old session endpoints, as the calling user. Sessions are addressed by
// name in the namespace of the request (see namespaceFor).

type sessionList struct {
	Sessions []view.Session `json:"sessions"`
	Total    int            `json:"total"`
}

// ListSessions: GET /api/v1/sessions[?user=][&namespace=]: the sessions the
// caller may list in the namespace, then those shared with them, whatever
// their namespace (their owners'), marked with the caller's role and the
// owner. ?user= narrows both to one owner (a field selector on spec.user).
func (a *API) ListSessions(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	opts := metav1.ListOptions{}
	owner := r.URL.Query().Get("user")
	if owner != "" {
		opts.FieldSelector = fields.OneTermEqualSelector("spec.user", owner).String()
	}
	list, err := c.Stream().StreamV1alpha1().Sessions(ns).List(r.Context(), opts)
	if err != nil {
		httpjson.APIError(w, r, "list sessions", err)
		return
	}
	shared, err := a.sharedSessions(r, c)
	if err != nil {
		httpjson.APIError(w, r, "list the sessions shared with "+c.Username(), err)
		return
	}
	out := sessionList{Sessions: make([]view.Session, 0, len(list.Items)+len(shared))}
	listed := map[string]int{}
	for i := range list.Items {
		s := &list.Items[i]
		listed[s.Namespace+"/"+s.Name] = len(out.Sessions)
		out.Sessions = append(out.Sessions, view.NewSession(s))
	}
	for _, sh := range shared {
		if owner != "" && sh.Session.Spec.User != owner {
			continue
		}
		v := view.NewSharedSession(sh.Session, sh.Grant.Role, sh.Grant.Owner)
		// A session the caller may also list (a namespace they share
		// with its owner) is listed once, marked.
		if i, ok := listed[sh.Session.Namespace+"/"+sh.Session.Name]; ok {
			out.Sessions[i] = v
			continue
		}
		out.Sessions = append(out.Sessions, v)
	}
	out.Total = len(out.Sessions)
	httpjson.Write(w, http.StatusOK, out)
}

// sharedIndexWait bounds how long a request waits for the index of shares
// to be filled (only just after the bridge starts).
const sharedIndexWait = 2 * time.Second

// sharedSessions are the sessions shared with the caller that the request
// asks for, read as the caller (see package shares).
func (a *API) sharedSessions(r *http.Request, c *identity.Caller) ([]shares.Shared, error) {
	if !a.sharesReady(r, c) {
		return nil, nil
	}
	return shares.List(r.Context(), a.shares, shares.GranteeOf(c))
}

// sharesReady reports whether the index of shares can answer (waiting for
// it only just after the bridge starts).
func (a *API) sharesReady(r *http.Request, c *identity.Caller) bool {
	if a.shares == nil {
		return false
	}
	ctx, cancel := context.WithTimeout(r.Context(), sharedIndexWait)
	defer cancel()
	if !a.shares.Ready(ctx) {
		klog.FromContext(r.Context()).V(2).Info("the index of shares is not ready; answering with the caller's own sessions only", "user", c.Username())
		return false
	}
	return true
}

// GetSession: GET /api/v1/sessions/{id}, marked with the caller's role and
// its owner when it is shared with the caller.
func (a *API) GetSession(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	session, err := c.Stream().StreamV1alpha1().Sessions(ns).Get(r.Context(), r.PathValue("id"), metav1.GetOptions{})
	if err != nil {
		httpjson.APIError(w, r, "get session "+r.PathValue("id"), err)
		return
	}
	if session.Spec.User != c.Username() && a.sharesReady(r, c) {
		grant, shared, err := shares.ForSession(r.Context(), a.shares, shares.GranteeOf(c), session.Namespace, session.Name)
		if err != nil {
			httpjson.APIError(w, r, "read the shares of session "+session.Name, err)
			return
		}
		if shared {
			httpjson.Write(w, http.StatusOK, view.NewSharedSession(session, grant.Role, grant.Owner))
			return
		}
	}
	httpjson.Write(w, http.StatusOK, view.NewSession(session))
}

// createSessionRequest is the old POST /api/v1/sessions body.
type createSessionRequest struct {
	Name               string   `json:"name"`
	User               string   `json:"user"`
	Template           string   `json:"template"`
	State              string   `json:"state"`
	PersistentHome     *bool    `json:"persistentHome"`
	IdleTimeout        string   `json:"idleTimeout"`
	MaxSessionDuration string   `json:"maxSessionDuration"`
	Tags               []string `json:"tags"`
	// Resources is the old flat {memory, cpu} or {requests, limits}.
	Resources streamv1alpha1.ResourceRequirements `json:"resources"`
}

// CreateSession: POST /api/v1/sessions. "user" may be left out (it becomes
// the caller); naming someone else is the API's decision (the assign verb).
// The name is <user>-<template>-<8 hex> as before unless "name" is given.
func (a *API) CreateSession(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	var req createSessionRequest
	if !httpjson.DecodeBody(w, r, &req) {
		return
	}
	if req.Template == "" {
		httpjson.Error(w, http.StatusUnprocessableEntity, "template: Required value: name the Template to start from")
		return
	}
	session := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: req.Name},
		Spec: streamv1alpha1.SessionSpec{
			User: req.User, Template: req.Template, State: streamv1alpha1.SessionState(req.State),
			Resources: req.Resources, PersistentHome: req.PersistentHome, Tags: req.Tags,
		},
	}
	for _, d := range []struct {
		field, value string
		into         **metav1.Duration
	}{{"idleTimeout", req.IdleTimeout, &session.Spec.IdleTimeout}, {"maxSessionDuration", req.MaxSessionDuration, &session.Spec.MaxSessionDuration}} {
		if d.value == "" {
			continue
		}
		parsed, err := time.ParseDuration(d.value)
		if err != nil {
			httpjson.Error(w, http.StatusUnprocessableEntity, fmt.Sprintf("%s: Invalid value: %q: want a duration like 30m", d.field, d.value))
			return
		}
		*d.into = &metav1.Duration{Duration: parsed}
	}
	if session.Name == "" {
		owner := req.User
		if owner == "" {
			owner = c.Username()
		}
		session.Name = sessionName(owner, req.Template)
	}
	created, err := c.Stream().StreamV1alpha1().Sessions(ns).Create(r.Context(), session, metav1.CreateOptions{})
	if err != nil {
		httpjson.APIError(w, r, "create session", err)
		return
	}
	httpjson.Write(w, http.StatusCreated, view.NewSession(created))
}

// sessionName is the old <user>-<template>-<8 hex>, made a DNS label.
func sessionName(user, template string) string {
	suffix := make([]byte, 4)
	_, _ = rand.Read(suffix)
	base := dnsLabelPart(user) + "-" + dnsLabelPart(template)
	if max := validation.DNS1123LabelMaxLength - 9; len(base) > max {
		base = strings.TrimRight(base[:max], "-")
	}
	return base + "-" + hex.EncodeToString(suffix)
}

func dnsLabelPart(s string) string {
	part := nonAlphanumeric.ReplaceAllString(strings.ToLower(s), "-")
	if part = strings.Trim(part, "-"); part == "" {
		return "x"
	}
	return part
}

// PatchSession: PATCH /api/v1/sessions/{id} with {"state": "..."} (and
// optionally idleTimeout, maxSessionDuration, tags), as a merge patch of the spec.
func (a *API) PatchSession(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	var req struct {
		State              *string   `json:"state"`
		IdleTimeout        *string   `json:"idleTimeout"`
		MaxSessionDuration *string   `json:"maxSessionDuration"`
		Tags               *[]string `json:"tags"`
	}
	if !httpjson.DecodeBody(w, r, &req) {
		return
	}
	spec := map[string]any{}
	if req.State != nil {
		spec["state"] = *req.State
	}
	if req.IdleTimeout != nil {
		spec["idleTimeout"] = *req.IdleTimeout
	}
	if req.MaxSessionDuration != nil {
		spec["maxSessionDuration"] = *req.MaxSessionDuration
	}
	if req.Tags != nil {
		spec["tags"] = *req.Tags
	}
	if len(spec) == 0 {
		httpjson.Error(w, http.StatusBadRequest, "nothing to change: send {\"state\": \"running|hibernated|terminated\"}")
		return
	}
	patch, _ := json.Marshal(map[string]any{"spec": spec})
	patched, err := c.Stream().StreamV1alpha1().Sessions(ns).Patch(r.Context(), r.PathValue("id"), types.MergePatchType, patch, metav1.PatchOptions{})
	if err != nil {
		httpjson.APIError(w, r, "update session "+r.PathValue("id"), err)
		return
	}
	httpjson.Write(w, http.StatusOK, view.NewSession(patched))
}

// DeleteSession: DELETE /api/v1/sessions/{id}.
func (a *API) DeleteSession(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	name := r.PathValue("id")
	if err := c.Stream().StreamV1alpha1().Sessions(ns).Delete(r.Context(), name, metav1.DeleteOptions{}); err != nil {
		httpjson.APIError(w, r, "delete session "+name, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"message": "session " + name + " deleted", "name": name, "namespace": ns})
}

// connectResponse is the old connect answer, with the role the connection
// has (owner, or a share's control or view) when the API says.
type connectResponse struct {
	ConnectionID string `json:"connectionId"`
	SessionURL   string `json:"sessionUrl"`
	State        string `json:"state"`
	Message      string `json:"message"`
	Role         string `json:"role,omitempty"`
}

// ConnectSession: GET /api/v1/sessions/{id}/connect attaches the caller
// (spec.user comes from the token; ?user= of the old API is ignored): through
// the sessions/connect subresource when the API offers it, else by creating
// a Connection (the session controller wakes a hibernated session for it).
func (a *API) ConnectSession(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	name := r.PathValue("id")
	offered, err := a.features.has(c, "stream.space/v1alpha1", "sessions/connect")
	if err != nil {
		httpjson.APIError(w, r, "discover the stream.space API", err)
		return
	}
	if offered {
		// The API's connect creates the Connection and wakes a hibernated
		// session in one call, and answers in the old shape.
		body, _ := json.Marshal(map[string]string{"clientIP": a.trustedProxies.ClientIP(r), "userAgent": r.UserAgent()})
		result := c.Stream().StreamV1alpha1().RESTClient().Post().Namespace(ns).Resource("sessions").Name(name).
			SubResource("connect").Body(body).SetHeader("Content-Type", "application/json").Do(r.Context())
		// Error, unlike Raw, decodes the Status of a refusal, so the caller
		// reads the API's reason rather than "unknown".
		if err := result.Error(); err != nil {
			httpjson.APIError(w, r, "connect to session "+name, err)
			return
		}
		raw, err := result.Raw()
		if err != nil {
			httpjson.APIError(w, r, "connect to session "+name, err)
			return
		}
		var answer connectResponse
		if err := json.Unmarshal(raw, &answer); err != nil {
			httpjson.Error(w, http.StatusBadGateway, "connect to session "+name+": unexpected answer: "+err.Error())
			return
		}
		httpjson.Write(w, http.StatusOK, answer)
		return
	}
	session, err := c.Stream().StreamV1alpha1().Sessions(ns).Get(r.Context(), name, metav1.GetOptions{})
	if err != nil {
		httpjson.APIError(w, r, "get session "+name, err)
		return
	}
	conn, err := c.Stream().StreamV1alpha1().Connections(ns).Create(r.Context(), &streamv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "conn-"},
		Spec:       streamv1alpha1.ConnectionSpec{Session: name, ClientIP: a.trustedProxies.ClientIP(r), UserAgent: r.UserAgent()},
	}, metav1.CreateOptions{})
	if err != nil {
		httpjson.APIError(w, r, "connect to session "+name, err)
		return
	}
	state, message := string(session.Spec.State), "connected"
	if session.Spec.State == streamv1alpha1.SessionStateHibernated || session.Status.Phase == streamv1alpha1.SessionPhaseHibernated {
		message = "connected; the session is hibernated and starts now"
	}
	httpjson.Write(w, http.StatusOK, connectResponse{ConnectionID: conn.Name, SessionURL: session.Status.URL, State: state, Message: message})
}

// DisconnectSession: DELETE /api/v1/sessions/{id}/disconnect?connectionId=
// deletes the Connection, after checking it belongs to that session.
func (a *API) DisconnectSession(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	name, id := r.PathValue("id"), r.URL.Query().Get("connectionId")
	if id == "" {
		httpjson.Error(w, http.StatusBadRequest, "connectionId: Required value: pass ?connectionId= as returned by connect")
		return
	}
	connections := c.Stream().StreamV1alpha1().Connections(ns)
	conn, err := connections.Get(r.Context(), id, metav1.GetOptions{})
	if err != nil {
		httpjson.APIError(w, r, "get connection "+id, err)
		return
	}
	if conn.Spec.Session != name {
		httpjson.Error(w, http.StatusNotFound, fmt.Sprintf("connection %s belongs to session %s, not %s", id, conn.Spec.Session, name))
		return
	}
	uid := conn.UID
	if err := connections.Delete(r.Context(), id, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &uid}}); err != nil {
		httpjson.APIError(w, r, "disconnect "+id, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"message": "disconnected", "connectionId": id})
}

// HeartbeatSession: POST /api/v1/sessions/{id}/heartbeat?connectionId=.
// Users may not write Connection status, so the heartbeat needs the
// connections/heartbeat subresource (session controller); until the API
// offers it this answers 501.
func (a *API) HeartbeatSession(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	id := r.URL.Query().Get("connectionId")
	if id == "" {
		httpjson.Error(w, http.StatusBadRequest, "connectionId: Required value: pass ?connectionId= as returned by connect")
		return
	}
	offered, err := a.features.has(c, "stream.space/v1alpha1", "connections/heartbeat")
	if err != nil {
		httpjson.APIError(w, r, "discover the stream.space API", err)
		return
	}
	if !offered {
		httpjson.Error(w, http.StatusNotImplemented, "heartbeat: the API server does not offer the connections/heartbeat subresource of stream.space/v1alpha1 yet (it comes with the session controller); the connection stays until it is disconnected")
		return
	}
	result := c.Stream().StreamV1alpha1().RESTClient().Post().Namespace(ns).Resource("connections").Name(id).
		SubResource("heartbeat").Body([]byte("{}")).SetHeader("Content-Type", "application/json").Do(r.Context())
	if err := result.Error(); err != nil {
		httpjson.APIError(w, r, "heartbeat of connection "+id, err)
		return
	}
	httpjson.Write(w, http.StatusOK, map[string]string{"message": "heartbeat recorded", "connectionId": id, "session": r.PathValue("id")})
}

type connectionList struct {
	Connections []view.Connection `json:"connections"`
	Total       int               `json:"total"`
}

// ListSessionConnections: GET /api/v1/sessions/{id}/connections.
func (a *API) ListSessionConnections(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := identity.Scope(w, r)
	if !ok {
		return
	}
	list, err := c.Stream().StreamV1alpha1().Connections(ns).List(r.Context(), metav1.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.session", r.PathValue("id")).String(),
	})
	if err != nil {
		httpjson.APIError(w, r, "list connections of session "+r.PathValue("id"), err)
		return
	}
	out := connectionList{Connections: make([]view.Connection, 0, len(list.Items))}
	for i := range list.Items {
		out.Connections = append(out.Connections, view.NewConnection(&list.Items[i]))
	}
	out.Total = len(out.Connections)
	httpjson.Write(w, http.StatusOK, out)
}
