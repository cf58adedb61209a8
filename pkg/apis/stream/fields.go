package stream

import (
	"strconv"

	corev1 "k8s.io/api/core/v1"

	"github.com/streamspace/controlplane/pkg/apis/selectable"
)

// The fields each kind can be listed and watched by, besides metadata.name
// and metadata.namespace, with the SQL column that indexes each; and the
// recorded fields, kept in a column for SQL to read but not selectable.
var (
	SessionFields = selectable.Kind[*Session]{
		GroupKind: Kind("Session"), Resource: Resource("sessions"), Table: "sessions",
		Fields: []selectable.Field[*Session]{
			{Name: "spec.user", Column: "user_name", Value: func(s *Session) string { return s.Spec.User }},
			{Name: "spec.template", Column: "template", Value: func(s *Session) string { return s.Spec.Template }},
			{Name: "spec.state", Column: "state", Value: func(s *Session) string { return string(s.Spec.State) }},
			{Name: "status.phase", Column: "phase", Value: func(s *Session) string { return string(s.Status.Phase) }},
			// What the session's container requested, in millicores and
			// bytes, for the trigger that records usage (migration 00009).
			{Name: "status.resources.requests.cpu", Column: "cpu_millis", Type: selectable.BigInt, Recorded: true,
				Value: func(s *Session) string { return requested(s.Status.Resources, corev1.ResourceCPU, true) }},
			{Name: "status.resources.requests.memory", Column: "memory_bytes", Type: selectable.BigInt, Recorded: true,
				Value: func(s *Session) string { return requested(s.Status.Resources, corev1.ResourceMemory, false) }},
		},
	}
	ConnectionFields = selectable.Kind[*Connection]{
		GroupKind: Kind("Connection"), Resource: Resource("connections"), Table: "connections",
		Fields: []selectable.Field[*Connection]{
			{Name: "spec.session", Column: "session", Value: func(c *Connection) string { return c.Spec.Session }},
			{Name: "spec.user", Column: "user_name", Value: func(c *Connection) string { return c.Spec.User }},
			{Name: "status.state", Column: "state", Value: func(c *Connection) string { return string(c.Status.State) }},
			{Name: "spec.share", Column: "share", Value: func(c *Connection) string { return c.Spec.Share }},
		},
	}
	// UserFields keep the columns of the old backend's users table under
	// their old names (id, email, name, role, created_at, last_login): name
	// is the object's name, the username.
	UserFields = selectable.Kind[*User]{
		GroupKind: Kind("User"), Resource: Resource("users"), Table: "users",
		Fields: []selectable.Field[*User]{
			{Name: "status.uid", Column: "id", Value: func(u *User) string { return u.Status.UID }},
			{Name: "status.email", Column: "email", Value: func(u *User) string { return u.Status.Email }},
			{Name: "status.displayName", Column: "display_name", Value: func(u *User) string { return u.Status.DisplayName }},
			{Name: "status.role", Column: "role", Value: func(u *User) string { return string(u.Status.Role) }},
			{Name: "status.firstSeen", Column: "created_at", Type: selectable.Timestamp,
				Value: func(u *User) string { return selectable.TimeValue(u.Status.FirstSeen) }},
			{Name: "status.lastSeen", Column: "last_seen", Type: selectable.Timestamp,
				Value: func(u *User) string { return selectable.TimeValue(u.Status.LastSeen) }},
			{Name: "status.lastLogin", Column: "last_login", Type: selectable.Timestamp,
				Value: func(u *User) string { return selectable.TimeValue(u.Status.LastLogin) }},
		},
	}
	APIKeyFields = selectable.Kind[*APIKey]{
		GroupKind: Kind("APIKey"), Resource: Resource("apikeys"), Table: "api_keys",
		Fields: []selectable.Field[*APIKey]{
			{Name: "spec.user", Column: "user_name", Value: func(k *APIKey) string { return k.Spec.User }},
			{Name: "spec.expiresAt", Column: "expires_at", Type: selectable.Timestamp,
				Value: func(k *APIKey) string { return selectable.TimeValue(k.Spec.ExpiresAt) }},
		},
	}
	// PlatformConfigurationFields: none beyond the name, but a table of
	// its own, which the configuration view reads.
	PlatformConfigurationFields = selectable.Kind[*PlatformConfiguration]{
		GroupKind: Kind("PlatformConfiguration"), Resource: Resource("platformconfigurations"), Table: "platform_configurations",
	}
	// AuditEventFields are the field selectors of auditevents, each with
	// the column of the audit trail's table (audit_log) it filters; the
	// names are the old backend's filters, and metadata.name is the
	// event's id. AuditEvents are not objects in a resource table: their
	// registry reads audit_log itself (pkg/registry/stream/auditevent), so
	// they are not among SelectableKinds, whose tables the storage builds.
	AuditEventFields = selectable.Kind[*AuditEvent]{
		GroupKind: Kind("AuditEvent"), Resource: Resource("auditevents"), Table: "audit_log",
		Fields: []selectable.Field[*AuditEvent]{
			{Name: "metadata.name", Column: "id", Value: func(e *AuditEvent) string { return e.Name }},
			{Name: "user", Column: "user_id", Value: func(e *AuditEvent) string { return e.User }},
			{Name: "verb", Column: "action", Value: func(e *AuditEvent) string { return e.Verb }},
			{Name: "resource", Column: "resource_type", Value: func(e *AuditEvent) string { return e.Resource }},
			{Name: "namespace", Column: "namespace", Value: func(e *AuditEvent) string { return e.ObjectNamespace }},
			{Name: "name", Column: "resource_id", Value: func(e *AuditEvent) string { return e.ObjectName }},
			{Name: "code", Column: "response_code", Value: func(e *AuditEvent) string { return strconv.Itoa(int(e.Code)) }},
		},
	}
	// SessionShareFields: the connect subresource finds a session's shares
	// by spec.session, a person's shares are listed by spec.user.
	SessionShareFields = selectable.Kind[*SessionShare]{
		GroupKind: Kind("SessionShare"), Resource: Resource("sessionshares"), Table: "session_shares",
		Fields: []selectable.Field[*SessionShare]{
			{Name: "spec.session", Column: "session", Value: func(s *SessionShare) string { return s.Spec.Session }},
			{Name: "spec.user", Column: "user_name", Value: func(s *SessionShare) string { return s.Spec.User }},
			{Name: "spec.group", Column: "group_name", Value: func(s *SessionShare) string { return s.Spec.Group }},
		},
	}
	TemplateFields = selectable.Kind[*Template]{
		GroupKind: Kind("Template"), Resource: Resource("templates"), Table: "templates",
		Fields: []selectable.Field[*Template]{
			{Name: "spec.category", Column: "category", Value: func(t *Template) string { return t.Spec.Category }},
			{Name: "spec.appType", Column: "app_type", Value: func(t *Template) string { return string(t.Spec.AppType) }},
		},
	}
)

// UsageFieldSelectors are the field selectors of usages. Usages are
// computed, not stored (pkg/registry/stream/usage): the selectors choose
// what is added up, spec.period the period and spec.group the users whose
// User lists the group.
var UsageFieldSelectors = []string{"spec.period", "spec.user", "spec.template", "spec.group", "metadata.name", "metadata.namespace"}

// SelectableKinds are the kinds of the group that have selectable fields.
var SelectableKinds = []selectable.Declaration{
	SessionFields.Declaration(),
	ConnectionFields.Declaration(),
	TemplateFields.Declaration(),
	UserFields.Declaration(),
	APIKeyFields.Declaration(),
	PlatformConfigurationFields.Declaration(),
	SessionShareFields.Declaration(),
}

// requested is the request of resource in r, in millis or in units, as a
// decimal integer; a limit stands in for a missing request, as Kubernetes
// defaults a container's request to its limit. Empty when neither is set.
func requested(r ResourceRequirements, resource corev1.ResourceName, millis bool) string {
	q, ok := r.Requests[resource]
	if !ok {
		if q, ok = r.Limits[resource]; !ok {
			return ""
		}
	}
	if millis {
		return strconv.FormatInt(q.MilliValue(), 10)
	}
	return strconv.FormatInt(q.Value(), 10)
}
