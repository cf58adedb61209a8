package stream

import (
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SessionState is what the owner wants a session to be.
type SessionState string

const (
	SessionStateRunning    SessionState = "running"
	SessionStateHibernated SessionState = "hibernated"
	SessionStateTerminated SessionState = "terminated"
)

// SessionPhase is what a session observably is.
type SessionPhase string

const (
	SessionPhasePending    SessionPhase = "Pending"
	SessionPhaseRunning    SessionPhase = "Running"
	SessionPhaseHibernated SessionPhase = "Hibernated"
	SessionPhaseFailed     SessionPhase = "Failed"
	SessionPhaseTerminated SessionPhase = "Terminated"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Session is one user's running (or sleeping) containerised desktop or web app.
type Session struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   SessionSpec
	Status SessionStatus
}

// SessionSpec is the desired state of a session.
type SessionSpec struct {
	User               string
	Template           string
	State              SessionState
	Resources          ResourceRequirements
	PersistentHome     *bool
	IdleTimeout        *metav1.Duration
	MaxSessionDuration *metav1.Duration
	Tags               []string
	Schedule           *SessionSchedule
}

// SessionSchedule gives the times a session starts and stops.
type SessionSchedule struct {
	Start    string
	Stop     string
	TimeZone string
}

// SessionScheduleStatus is what the schedule does next and did last.
type SessionScheduleStatus struct {
	NextStart        *metav1.Time
	NextStop         *metav1.Time
	LastAction       *metav1.Time
	LastActionResult string
}

// ResourceRequirements are the compute resources of a session's container.
type ResourceRequirements struct {
	Requests corev1.ResourceList
	Limits   corev1.ResourceList
}

// SessionStatus is the observed state of a session.
type SessionStatus struct {
	Phase              SessionPhase
	URL                string
	PodName            string
	ActiveConnections  int32
	LastActivity       *metav1.Time
	LastConnection     *metav1.Time
	LastDisconnect     *metav1.Time
	HibernateAt        *metav1.Time
	Reason             string
	Message            string
	Conditions         []metav1.Condition
	ObservedGeneration int64
	// Resources are the requests and limits the session's container was
	// given: the session's, else its template's, else the platform's.
	Resources ResourceRequirements
	Schedule  *SessionScheduleStatus
	Pool      string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionList is a list of sessions.
type SessionList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []Session
}

// AppType says how a template is presented.
type AppType string

const (
	AppTypeDesktop AppType = "desktop"
	AppTypeWebApp  AppType = "webapp"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Template describes an application that sessions can be started from.
type Template struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   TemplateSpec
	Status TemplateStatus
}

// TemplateSpec is an application image and how to run and reach it.
type TemplateSpec struct {
	DisplayName      string
	Description      string
	Category         string
	Icon             string
	BaseImage        string
	DefaultResources ResourceRequirements
	Ports            []TemplatePort
	Env              []EnvVar
	VolumeMounts     []VolumeMount
	VNC              *VNCConfig
	Capabilities     []string
	Tags             []string
	AppType          AppType
	WebApp           *WebAppConfig
	// Source names the catalog template this one was installed from.
	Source *TemplateSource
}

// TemplateSource names where an installed template came from.
type TemplateSource struct {
	// CatalogTemplate is the name of a CatalogTemplate (catalog.stream.space).
	CatalogTemplate string
}

// TemplatePort is a port the application listens on.
type TemplatePort struct {
	Name          string
	ContainerPort int32
	Protocol      corev1.Protocol
}

// EnvVar is an environment variable of the application container.
type EnvVar struct {
	Name  string
	Value string
}

// VolumeMount mounts a session volume (the user's home) into the container.
type VolumeMount struct {
	Name      string
	MountPath string
	ReadOnly  bool
}

// VNCConfig describes the remote-desktop endpoint of a desktop application.
type VNCConfig struct {
	Enabled    bool
	Port       int32
	Protocol   string
	Encryption bool
}

// WebAppConfig describes the HTTP endpoint of a web application.
type WebAppConfig struct {
	Enabled     bool
	Port        int32
	Path        string
	HealthCheck string
}

// TemplateStatus is the validation result of a template.
type TemplateStatus struct {
	Valid              bool
	Message            string
	Conditions         []metav1.Condition
	ObservedGeneration int64
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// TemplateList is a list of templates.
type TemplateList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []Template
}

// ConnectionState is the liveness of a viewer.
type ConnectionState string

const (
	ConnectionStateActive       ConnectionState = "active"
	ConnectionStateStale        ConnectionState = "stale"
	ConnectionStateDisconnected ConnectionState = "disconnected"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Connection is one viewer attached to one session.
type Connection struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   ConnectionSpec
	Status ConnectionStatus
}

// ConnectionSpec names the session and the viewer.
type ConnectionSpec struct {
	Session   string
	User      string
	ClientIP  string
	UserAgent string
	Role      ConnectionRole
	Share     string
}

// ConnectionStatus tracks the viewer's liveness.
type ConnectionStatus struct {
	State         ConnectionState
	ConnectedAt   *metav1.Time
	LastHeartbeat *metav1.Time
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ConnectionList is a list of connections.
type ConnectionList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []Connection
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionConnectRequest is the body of POST sessions/{name}/connect: it
// attaches the caller to the session as a new Connection.
type SessionConnectRequest struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	ClientIP  string
	UserAgent string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionConnectResponse answers a connect with the new connection and
// where and in which state the session is.
type SessionConnectResponse struct {
	metav1.TypeMeta

	ConnectionID string
	SessionURL   string
	State        string
	Message      string
	Role         ConnectionRole
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ConnectionHeartbeat is the body of POST connections/{name}/heartbeat; it
// carries no object metadata (the path names the connection).
type ConnectionHeartbeat struct {
	metav1.TypeMeta
}

// UserRole is what a person may do in StreamSpace, as their groups say.
type UserRole string

const (
	UserRoleAdmin UserRole = "admin"
	UserRoleUser  UserRole = "user"
)

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// User is a person who has used the API, recorded by the API server from
// the identities of its callers. Its name is the Kubernetes username.
type User struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Status UserStatus
}

// UserStatus is what the API server last saw of the person.
type UserStatus struct {
	UID         string
	Email       string
	DisplayName string
	Groups      []string
	Role        UserRole
	FirstSeen   *metav1.Time
	LastSeen    *metav1.Time
	LastLogin   *metav1.Time
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// UserList is a list of users.
type UserList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []User
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// APIKey is a bearer token that acts as one person until it expires or is
// deleted. kube-apiserver authenticates it through streamspace-apiserver's
// token webhook.
type APIKey struct {
	metav1.TypeMeta
	metav1.ObjectMeta

	Spec   APIKeySpec
	Status APIKeyStatus
}

// APIKeySpec is whom the key acts as and until when.
type APIKeySpec struct {
	User        string
	UID         string
	Groups      []string
	ExpiresAt   *metav1.Time
	Description string
}

// APIKeyStatus carries the token once, in the create response, and the
// hash of the token, which is stored and never served.
type APIKeyStatus struct {
	Token     string
	TokenHash string
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// APIKeyList is a list of API keys.
type APIKeyList struct {
	metav1.TypeMeta
	metav1.ListMeta
	Items []APIKey
}
