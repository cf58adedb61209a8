// Package view builds the JSON shapes of the old REST API (reference.md)
// from API objects; the REST API and the WebSocket feeds answer in them.
package view

import (
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/gitcatalog/giturl"
)

// Session is a Session in the old shape.
type Session struct {
	Name              string            `json:"name"`
	Namespace         string            `json:"namespace"`
	User              string            `json:"user"`
	Template          string            `json:"template"`
	State             string            `json:"state"`
	Status            sessionStatusView `json:"status"`
	ActiveConnections int32             `json:"activeConnections"`
	Resources         flatResources     `json:"resources"`
	CreatedAt         string            `json:"createdAt"`
	// Beyond the old shape: what the API offers and a UI can use.
	IdleTimeout        string   `json:"idleTimeout,omitempty"`
	MaxSessionDuration string   `json:"maxSessionDuration,omitempty"`
	PersistentHome     *bool    `json:"persistentHome,omitempty"`
	Tags               []string `json:"tags,omitempty"`
	ResourceVersion    string   `json:"resourceVersion"`
	// SharedRole and Owner are set on a session someone shared with the
	// caller: the caller's role in it (view or control) and who shared it.
	SharedRole string `json:"sharedRole,omitempty"`
	Owner      string `json:"owner,omitempty"`
}

type sessionStatusView struct {
	Phase       string `json:"phase"`
	PodName     string `json:"podName"`
	URL         string `json:"url"`
	Message     string `json:"message,omitempty"`
	HibernateAt string `json:"hibernateAt,omitempty"`
}

type flatResources struct {
	Memory string `json:"memory,omitempty"`
	CPU    string `json:"cpu,omitempty"`
}

// NewSession is s in the old shape.
func NewSession(s *streamv1alpha1.Session) Session {
	v := Session{
		Name: s.Name, Namespace: s.Namespace, User: s.Spec.User, Template: s.Spec.Template,
		State: string(s.Spec.State),
		Status: sessionStatusView{
			Phase: string(s.Status.Phase), PodName: s.Status.PodName, URL: s.Status.URL,
			Message: s.Status.Message, HibernateAt: formatTime(s.Status.HibernateAt),
		},
		ActiveConnections: s.Status.ActiveConnections,
		Resources:         flatten(s.Spec.Resources),
		CreatedAt:         s.CreationTimestamp.UTC().Format(time.RFC3339),
		PersistentHome:    s.Spec.PersistentHome,
		Tags:              s.Spec.Tags,
		ResourceVersion:   s.ResourceVersion,
	}
	if s.Spec.IdleTimeout != nil {
		v.IdleTimeout = s.Spec.IdleTimeout.Duration.String()
	}
	if s.Spec.MaxSessionDuration != nil {
		v.MaxSessionDuration = s.Spec.MaxSessionDuration.Duration.String()
	}
	return v
}

// NewSharedSession is s, shared with the caller as role by owner, in the
// old shape.
func NewSharedSession(s *streamv1alpha1.Session, role streamv1alpha1.ShareRole, owner string) Session {
	v := NewSession(s)
	v.SharedRole, v.Owner = string(role), owner
	if v.Owner == "" {
		v.Owner = s.Spec.User
	}
	return v
}

// flatten gives the old {memory, cpu}: the requests, else the limits, else the flat fields.
func flatten(r streamv1alpha1.ResourceRequirements) flatResources {
	pick := func(name corev1.ResourceName, flat *resource.Quantity) string {
		for _, list := range []corev1.ResourceList{r.Requests, r.Limits} {
			if q, ok := list[name]; ok {
				return q.String()
			}
		}
		if flat != nil {
			return flat.String()
		}
		return ""
	}
	return flatResources{Memory: pick(corev1.ResourceMemory, r.Memory), CPU: pick(corev1.ResourceCPU, r.CPU)}
}

func formatTime(t *metav1.Time) string {
	if t == nil {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Connection is a Connection in the old shape.
type Connection struct {
	ID            string `json:"id"`
	SessionID     string `json:"sessionId"`
	Namespace     string `json:"namespace"`
	User          string `json:"user"`
	ClientIP      string `json:"clientIP,omitempty"`
	UserAgent     string `json:"userAgent,omitempty"`
	State         string `json:"state"`
	ConnectedAt   string `json:"connectedAt,omitempty"`
	LastHeartbeat string `json:"lastHeartbeat,omitempty"`
}

// NewConnection is c in the old shape.
func NewConnection(c *streamv1alpha1.Connection) Connection {
	return Connection{
		ID: c.Name, SessionID: c.Spec.Session, Namespace: c.Namespace, User: c.Spec.User,
		ClientIP: c.Spec.ClientIP, UserAgent: c.Spec.UserAgent, State: string(c.Status.State),
		ConnectedAt: formatTime(c.Status.ConnectedAt), LastHeartbeat: formatTime(c.Status.LastHeartbeat),
	}
}

// Template is a Template, or a catalog entry's template, in the old shape.
type Template struct {
	Name             string                        `json:"name"`
	Namespace        string                        `json:"namespace,omitempty"`
	DisplayName      string                        `json:"displayName"`
	Description      string                        `json:"description,omitempty"`
	Category         string                        `json:"category,omitempty"`
	Icon             string                        `json:"icon,omitempty"`
	BaseImage        string                        `json:"baseImage"`
	AppType          string                        `json:"appType,omitempty"`
	DefaultResources flatResources                 `json:"defaultResources"`
	Ports            []streamv1alpha1.TemplatePort `json:"ports,omitempty"`
	Capabilities     []string                      `json:"capabilities,omitempty"`
	Tags             []string                      `json:"tags,omitempty"`
	Valid            bool                          `json:"valid"`
	Message          string                        `json:"message,omitempty"`
	CreatedAt        string                        `json:"createdAt,omitempty"`
}

func newTemplate(name, namespace string, spec streamv1alpha1.TemplateSpec) Template {
	return Template{
		Name: name, Namespace: namespace, DisplayName: spec.DisplayName, Description: spec.Description,
		Category: spec.Category, Icon: spec.Icon, BaseImage: spec.BaseImage, AppType: string(spec.AppType),
		DefaultResources: flatten(spec.DefaultResources), Ports: spec.Ports, Capabilities: spec.Capabilities, Tags: spec.Tags,
	}
}

// NewInstalledTemplate is t in the old shape, with its validation status.
func NewInstalledTemplate(t *streamv1alpha1.Template) Template {
	v := newTemplate(t.Name, t.Namespace, t.Spec)
	v.Valid, v.Message = t.Status.Valid, t.Status.Message
	v.CreatedAt = t.CreationTimestamp.UTC().Format(time.RFC3339)
	return v
}

// CatalogTemplate is a catalog entry in the old shape.
type CatalogTemplate struct {
	ID string `json:"id"`
	Template
	Repository   string `json:"repository"`
	Path         string `json:"path,omitempty"`
	InstallCount int64  `json:"installCount"`
}

// NewCatalogTemplate is c in the old shape.
func NewCatalogTemplate(c *catalogv1alpha1.CatalogTemplate) CatalogTemplate {
	v := CatalogTemplate{ID: c.Name, Template: newTemplate(c.Name, "", c.Spec.Template),
		Repository: c.Spec.Repository, Path: c.Spec.Path, InstallCount: c.Status.InstallCount}
	v.Valid = true // the sync only offers templates that parsed and validated
	return v
}

// Repository is a TemplateRepository in the old REST shape; its URL is
// redacted like everywhere else it is shown.
type Repository struct {
	ID            string `json:"id"`
	Name          string `json:"name"`
	URL           string `json:"url"`
	Branch        string `json:"branch"`
	Path          string `json:"path,omitempty"`
	AuthType      string `json:"authType"`
	AuthSecret    string `json:"authSecret,omitempty"`
	SyncInterval  string `json:"syncInterval,omitempty"`
	Status        string `json:"status"`
	LastSync      string `json:"lastSync,omitempty"`
	LastCommit    string `json:"lastCommit,omitempty"`
	TemplateCount int32  `json:"templateCount"`
	ErrorMessage  string `json:"errorMessage,omitempty"`
}

// NewRepository is r in the old shape.
func NewRepository(r *catalogv1alpha1.TemplateRepository) Repository {
	v := Repository{
		ID: r.Name, Name: r.Name, URL: giturl.Redact(r.Spec.URL), Branch: r.Spec.Branch, Path: r.Spec.Path,
		AuthType: string(r.Spec.Auth.Type), Status: strings.ToLower(string(r.Status.Phase)),
		LastSync: formatTime(r.Status.LastSyncTime), LastCommit: r.Status.LastSyncedCommit,
		TemplateCount: r.Status.TemplateCount, ErrorMessage: r.Status.ErrorMessage,
	}
	if v.AuthType == "" {
		v.AuthType = string(catalogv1alpha1.AuthTypeNone)
	}
	if r.Spec.Auth.SecretRef != nil {
		v.AuthSecret = r.Spec.Auth.SecretRef.Name
	}
	if r.Spec.SyncInterval != nil {
		v.SyncInterval = r.Spec.SyncInterval.Duration.String()
	}
	if v.Status == "" {
		v.Status = "pending"
	}
	return v
}
