package v1alpha1

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// SessionState is what the owner wants a session to be.
// +enum
type SessionState string

const (
	SessionStateRunning    SessionState = "running"
	SessionStateHibernated SessionState = "hibernated"
	SessionStateTerminated SessionState = "terminated"
)

// SessionPhase is what a session observably is.
// +enum
type SessionPhase string

const (
	SessionPhasePending    SessionPhase = "Pending"
	SessionPhaseRunning    SessionPhase = "Running"
	SessionPhaseHibernated SessionPhase = "Hibernated"
	SessionPhaseFailed     SessionPhase = "Failed"
	SessionPhaseTerminated SessionPhase = "Terminated"
)

// +genclient
// +genclient:method=Connect,verb=create,subresource=connect,input=github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1.SessionConnectRequest,result=github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1.SessionConnectResponse
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Session is one user's containerised desktop or web app, started from a Template.
// It runs while someone is connected and hibernates (scales to zero) when idle.
type Session struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// spec is the desired state of the session.
	// +optional
	Spec SessionSpec `json:"spec,omitempty"`
	// status is the observed state of the session, written by the controller.
	// +optional
	Status SessionStatus `json:"status,omitempty"`
}

// SessionSpec is the desired state of a session.
type SessionSpec struct {
	// user owns the session. It defaults to the authenticated caller; naming
	// another user requires the "impersonate-user" permission on sessions.
	// +optional
	User string `json:"user,omitempty"`
	// template is the name of the Template, in the session's namespace, the session starts from.
	Template string `json:"template"`
	// state is what the owner wants: running, hibernated (scaled to zero, home kept) or terminated.
	// Defaults to running.
	// +optional
	State SessionState `json:"state,omitempty"`
	// resources of the session's container; the template's defaultResources apply when empty.
	// The old flat form {cpu, memory} is accepted and becomes equal requests and limits.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty"`
	// persistentHome keeps the user's home directory on a PersistentVolumeClaim
	// named home-<user> across sessions. Defaults to true.
	// +optional
	PersistentHome *bool `json:"persistentHome,omitempty"`
	// idleTimeout is how long the session may run with no connection before it
	// hibernates, e.g. "30m". Defaults to 30m; "0s" never hibernates.
	// +optional
	IdleTimeout *metav1.Duration `json:"idleTimeout,omitempty"`
	// maxSessionDuration is how long the session may exist before it is
	// terminated, e.g. "8h". Defaults to 8h; "0s" means no limit.
	// +optional
	MaxSessionDuration *metav1.Duration `json:"maxSessionDuration,omitempty"`
	// tags are free-form labels for people.
	// +optional
	// +listType=atomic
	Tags []string `json:"tags,omitempty"`
}

// ResourceRequirements are compute resources in the Kubernetes form
// (requests and limits), or in the old flat form (cpu and memory).
type ResourceRequirements struct {
	// requests is the guaranteed amount of each resource.
	// +optional
	Requests corev1.ResourceList `json:"requests,omitempty"`
	// limits is the maximum amount of each resource.
	// +optional
	Limits corev1.ResourceList `json:"limits,omitempty"`
	// cpu is the old flat form: it sets both the request and the limit of cpu
	// where those are not given. It is not written back.
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty"`
	// memory is the old flat form: it sets both the request and the limit of
	// memory where those are not given. It is not written back.
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty"`
}

// SessionStatus is the observed state of a session.
type SessionStatus struct {
	// phase is Pending until the session's pod is ready, then Running;
	// Hibernated when scaled to zero, Terminated when its workload is removed,
	// Failed with a reason.
	// +optional
	Phase SessionPhase `json:"phase,omitempty"`
	// url where the session is reached.
	// +optional
	URL string `json:"url,omitempty"`
	// podName is the name of the session's pod.
	// +optional
	PodName string `json:"podName,omitempty"`
	// activeConnections is the number of live viewers.
	// +optional
	ActiveConnections int32 `json:"activeConnections,omitempty"`
	// lastActivity is the last time a viewer was seen.
	// +optional
	LastActivity *metav1.Time `json:"lastActivity,omitempty"`
	// lastConnection is when the last viewer connected.
	// +optional
	LastConnection *metav1.Time `json:"lastConnection,omitempty"`
	// lastDisconnect is when the last viewer went away.
	// +optional
	LastDisconnect *metav1.Time `json:"lastDisconnect,omitempty"`
	// hibernateAt is when the session will hibernate if nobody connects.
	// +optional
	HibernateAt *metav1.Time `json:"hibernateAt,omitempty"`
	// reason is a CamelCase word for the current phase, e.g. TemplateNotFound.
	// +optional
	Reason string `json:"reason,omitempty"`
	// message explains the current phase to a person.
	// +optional
	Message string `json:"message,omitempty"`
	// conditions: TemplateResolved, DeploymentReady, PVCBound, Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// observedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionList is a list of sessions.
type SessionList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Session `json:"items"`
}

// AppType says how a template is presented: a remote desktop or a web app.
// +enum
type AppType string

const (
	AppTypeDesktop AppType = "desktop"
	AppTypeWebApp  AppType = "webapp"
)

// +genclient
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Template describes an application that sessions start from.
type Template struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec TemplateSpec `json:"spec,omitempty"`
	// +optional
	Status TemplateStatus `json:"status,omitempty"`
}

// TemplateSpec is an application image and how to run and reach it.
type TemplateSpec struct {
	// displayName is the name shown to people.
	DisplayName string `json:"displayName"`
	// +optional
	Description string `json:"description,omitempty"`
	// category for display, e.g. "Web Browsers".
	// +optional
	Category string `json:"category,omitempty"`
	// icon is the URL of an image.
	// +optional
	Icon string `json:"icon,omitempty"`
	// baseImage is the container image of the application.
	BaseImage string `json:"baseImage"`
	// defaultResources apply to sessions that set none. The old flat form {cpu, memory} is accepted.
	// +optional
	DefaultResources ResourceRequirements `json:"defaultResources,omitempty"`
	// +optional
	// +listType=atomic
	Ports []TemplatePort `json:"ports,omitempty"`
	// +optional
	// +listType=atomic
	Env []EnvVar `json:"env,omitempty"`
	// +optional
	// +listType=atomic
	VolumeMounts []VolumeMount `json:"volumeMounts,omitempty"`
	// vnc is the remote-desktop endpoint of a desktop application.
	// +optional
	VNC *VNCConfig `json:"vnc,omitempty"`
	// kasmvnc is the old name of vnc, accepted on input and converted to vnc.
	// +optional
	KasmVNC *VNCConfig `json:"kasmvnc,omitempty"`
	// capabilities the application uses: Network, Audio, Clipboard, USB, Printing.
	// +optional
	// +listType=atomic
	Capabilities []string `json:"capabilities,omitempty"`
	// +optional
	// +listType=atomic
	Tags []string `json:"tags,omitempty"`
	// appType is desktop or webapp; when absent it is webapp if webapp.enabled, else desktop.
	// +optional
	AppType AppType `json:"appType,omitempty"`
	// webapp is the HTTP endpoint of a web application.
	// +optional
	WebApp *WebAppConfig `json:"webapp,omitempty"`
	// source installs the template from the catalog: a Template created with
	// only spec.source.catalogTemplate gets the rest of its spec from that
	// CatalogTemplate (the caller needs "get" on it). It is kept afterwards
	// to say where the template came from.
	// +optional
	Source *TemplateSource `json:"source,omitempty"`
}

// TemplateSource names where an installed template came from.
type TemplateSource struct {
	// catalogTemplate is the name of a CatalogTemplate (catalog.stream.space).
	CatalogTemplate string `json:"catalogTemplate"`
}

// TemplatePort is a port the application listens on.
type TemplatePort struct {
	// +optional
	Name          string `json:"name,omitempty"`
	ContainerPort int32  `json:"containerPort"`
	// protocol is TCP, UDP or SCTP. Defaults to TCP.
	// +optional
	Protocol corev1.Protocol `json:"protocol,omitempty"`
}

// EnvVar is an environment variable of the application container.
type EnvVar struct {
	Name string `json:"name"`
	// +optional
	Value string `json:"value,omitempty"`
}

// VolumeMount mounts a session volume into the container; "user-home" is the user's home.
type VolumeMount struct {
	Name      string `json:"name"`
	MountPath string `json:"mountPath"`
	// +optional
	ReadOnly bool `json:"readOnly,omitempty"`
}

// VNCConfig describes the remote-desktop endpoint of a desktop application.
type VNCConfig struct {
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// port the VNC server listens on. Defaults to 3000, where catalog images listen.
	// +optional
	Port int32 `json:"port,omitempty"`
	// protocol is rfb or websocket. Defaults to websocket.
	// +optional
	Protocol string `json:"protocol,omitempty"`
	// +optional
	Encryption bool `json:"encryption,omitempty"`
}

// WebAppConfig describes the HTTP endpoint of a web application.
type WebAppConfig struct {
	// +optional
	Enabled bool `json:"enabled,omitempty"`
	// +optional
	Port int32 `json:"port,omitempty"`
	// path of the application. Defaults to "/".
	// +optional
	Path string `json:"path,omitempty"`
	// healthCheck is an HTTP path that answers 200 when the app is ready.
	// +optional
	HealthCheck string `json:"healthCheck,omitempty"`
}

// TemplateStatus is the validation result of a template.
type TemplateStatus struct {
	// +optional
	Valid bool `json:"valid,omitempty"`
	// +optional
	Message string `json:"message,omitempty"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// TemplateList is a list of templates.
type TemplateList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Template `json:"items"`
}

// ConnectionState is the liveness of a viewer.
// +enum
type ConnectionState string

const (
	ConnectionStateActive       ConnectionState = "active"
	ConnectionStateStale        ConnectionState = "stale"
	ConnectionStateDisconnected ConnectionState = "disconnected"
)

// +genclient
// +genclient:method=Heartbeat,verb=create,subresource=heartbeat,input=github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1.ConnectionHeartbeat,result=github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1.Connection
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// Connection is one viewer attached to one session.
type Connection struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +optional
	Spec ConnectionSpec `json:"spec,omitempty"`
	// +optional
	Status ConnectionStatus `json:"status,omitempty"`
}

// ConnectionSpec names the session and the viewer.
type ConnectionSpec struct {
	// session is the name of the Session, in the same namespace.
	Session string `json:"session"`
	// user is the viewer. It is set from the authenticated caller.
	// +optional
	User string `json:"user,omitempty"`
	// +optional
	ClientIP string `json:"clientIP,omitempty"`
	// +optional
	UserAgent string `json:"userAgent,omitempty"`
}

// ConnectionStatus tracks the viewer's liveness.
type ConnectionStatus struct {
	// +optional
	State ConnectionState `json:"state,omitempty"`
	// +optional
	ConnectedAt *metav1.Time `json:"connectedAt,omitempty"`
	// +optional
	LastHeartbeat *metav1.Time `json:"lastHeartbeat,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ConnectionList is a list of connections.
type ConnectionList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []Connection `json:"items"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionConnectRequest is the body of POST sessions/{name}/connect. It
// attaches the caller (spec.user comes from the authenticated identity) to
// the session as a new Connection, and starts the session if it is
// hibernated. An empty body ({}) is fine.
type SessionConnectRequest struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// clientIP is the viewer's address, recorded on the Connection.
	// +optional
	ClientIP string `json:"clientIP,omitempty"`
	// userAgent is the viewer's browser, recorded on the Connection.
	// +optional
	UserAgent string `json:"userAgent,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionConnectResponse is the answer to a connect, in the old API's shape.
type SessionConnectResponse struct {
	metav1.TypeMeta `json:",inline"`

	// connectionId is the name of the new Connection: send heartbeats to it,
	// delete it to disconnect.
	ConnectionID string `json:"connectionId"`
	// sessionUrl is where the session is reached (status.url), when known.
	// +optional
	SessionURL string `json:"sessionUrl,omitempty"`
	// state is the session's phase, or "Starting" when this connect woke a
	// hibernated session.
	State string `json:"state"`
	// message explains the state to a person.
	// +optional
	Message string `json:"message,omitempty"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ConnectionHeartbeat is the body of POST connections/{name}/heartbeat
// (an empty object, {}): it marks the viewer alive.
type ConnectionHeartbeat struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty"`
}
