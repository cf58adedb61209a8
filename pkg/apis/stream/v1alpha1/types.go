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
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// spec is the desired state of the session.
	// +optional
	Spec SessionSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// status is the observed state of the session, written by the controller.
	// +optional
	Status SessionStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// SessionSpec is the desired state of a session.
type SessionSpec struct {
	// user owns the session. It defaults to the authenticated caller; naming
	// another user requires the "impersonate-user" permission on sessions.
	// +optional
	User string `json:"user,omitempty" protobuf:"bytes,1,opt,name=user"`
	// template is the name of the Template, in the session's namespace, the session starts from.
	Template string `json:"template" protobuf:"bytes,2,opt,name=template"`
	// state is what the owner wants: running, hibernated (scaled to zero, home kept) or terminated.
	// Defaults to running.
	// +optional
	State SessionState `json:"state,omitempty" protobuf:"bytes,3,opt,name=state,casttype=SessionState"`
	// resources of the session's container; the template's defaultResources apply when empty.
	// The old flat form {cpu, memory} is accepted and becomes equal requests and limits.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty" protobuf:"bytes,4,opt,name=resources"`
	// persistentHome keeps the user's home directory on a PersistentVolumeClaim
	// named home-<user> across sessions. Defaults to true.
	// +optional
	PersistentHome *bool `json:"persistentHome,omitempty" protobuf:"varint,5,opt,name=persistentHome"`
	// idleTimeout is how long the session may run with no connection before it
	// hibernates, e.g. "30m". Defaults to 30m; "0s" never hibernates.
	// +optional
	IdleTimeout *metav1.Duration `json:"idleTimeout,omitempty" protobuf:"bytes,6,opt,name=idleTimeout"`
	// maxSessionDuration is how long the session may exist before it is
	// terminated, e.g. "8h". Defaults to 8h, and to no limit for a session
	// with a schedule; "0s" means no limit.
	// +optional
	MaxSessionDuration *metav1.Duration `json:"maxSessionDuration,omitempty" protobuf:"bytes,7,opt,name=maxSessionDuration"`
	// tags are free-form labels for people.
	// +optional
	// +listType=atomic
	Tags []string `json:"tags,omitempty" protobuf:"bytes,8,rep,name=tags"`
	// schedule starts and stops the session at set times, e.g. weekdays
	// 08:00 to 18:00 in Europe/Berlin: at a start time the controller sets
	// state to running (if the owner's quota allows), at a stop time to
	// hibernated. Between those times the owner may change state freely;
	// the schedule acts again at its next time.
	// +optional
	Schedule *SessionSchedule `json:"schedule,omitempty" protobuf:"bytes,9,opt,name=schedule"`
}

// SessionSchedule gives the times a session starts and stops, as cron
// expressions read in a time zone.
type SessionSchedule struct {
	// start is a cron expression (minute hour day-of-month month
	// day-of-week, or @daily, @weekly, ...) of the times the session is set
	// running, e.g. "0 8 * * 1-5".
	// +optional
	Start string `json:"start,omitempty" protobuf:"bytes,1,opt,name=start"`
	// stop is a cron expression of the times the session is hibernated,
	// e.g. "0 18 * * 1-5".
	// +optional
	Stop string `json:"stop,omitempty" protobuf:"bytes,2,opt,name=stop"`
	// timeZone is the IANA time zone the expressions are read in, e.g.
	// "Europe/Berlin". Defaults to UTC. Times follow the zone's daylight
	// saving changes: 08:00 is 08:00 local time in winter and in summer.
	// +optional
	TimeZone string `json:"timeZone,omitempty" protobuf:"bytes,3,opt,name=timeZone"`
}

// SessionScheduleStatus is what the schedule does next and did last.
type SessionScheduleStatus struct {
	// nextStart is the next time the schedule sets the session running.
	// +optional
	NextStart *metav1.Time `json:"nextStart,omitempty" protobuf:"bytes,1,opt,name=nextStart"`
	// nextStop is the next time the schedule hibernates the session.
	// +optional
	NextStop *metav1.Time `json:"nextStop,omitempty" protobuf:"bytes,2,opt,name=nextStop"`
	// lastAction is the scheduled time the controller last acted on (the
	// latest start or stop time that has passed), so that a restarted
	// controller acts on a time it missed, once.
	// +optional
	LastAction *metav1.Time `json:"lastAction,omitempty" protobuf:"bytes,3,opt,name=lastAction"`
	// lastActionResult says what the last action did: Started, Stopped,
	// Unchanged (the session already was in that state), Refused (the
	// owner's quota forbade starting it; an Event says why) or
	// SessionTerminated (a terminated session is not started again).
	// +optional
	LastActionResult string `json:"lastActionResult,omitempty" protobuf:"bytes,4,opt,name=lastActionResult"`
}

// ResourceRequirements are compute resources in the Kubernetes form
// (requests and limits), or in the old flat form (cpu and memory).
type ResourceRequirements struct {
	// requests is the guaranteed amount of each resource.
	// +optional
	Requests corev1.ResourceList `json:"requests,omitempty" protobuf:"bytes,1,rep,name=requests,casttype=k8s.io/api/core/v1.ResourceList,castkey=k8s.io/api/core/v1.ResourceName"`
	// limits is the maximum amount of each resource.
	// +optional
	Limits corev1.ResourceList `json:"limits,omitempty" protobuf:"bytes,2,rep,name=limits,casttype=k8s.io/api/core/v1.ResourceList,castkey=k8s.io/api/core/v1.ResourceName"`
	// cpu is the old flat form: it sets both the request and the limit of cpu
	// where those are not given. It is not written back.
	// +optional
	CPU *resource.Quantity `json:"cpu,omitempty" protobuf:"bytes,3,opt,name=cpu"`
	// memory is the old flat form: it sets both the request and the limit of
	// memory where those are not given. It is not written back.
	// +optional
	Memory *resource.Quantity `json:"memory,omitempty" protobuf:"bytes,4,opt,name=memory"`
}

// SessionStatus is the observed state of a session.
type SessionStatus struct {
	// phase is Pending until the session's pod is ready, then Running;
	// Hibernated when scaled to zero, Terminated when its workload is removed,
	// Failed with a reason.
	// +optional
	Phase SessionPhase `json:"phase,omitempty" protobuf:"bytes,1,opt,name=phase,casttype=SessionPhase"`
	// url where the session is reached.
	// +optional
	URL string `json:"url,omitempty" protobuf:"bytes,2,opt,name=url"`
	// podName is the name of the session's pod.
	// +optional
	PodName string `json:"podName,omitempty" protobuf:"bytes,3,opt,name=podName"`
	// activeConnections is the number of live viewers.
	// +optional
	ActiveConnections int32 `json:"activeConnections,omitempty" protobuf:"varint,4,opt,name=activeConnections"`
	// lastActivity is the last time a viewer was seen.
	// +optional
	LastActivity *metav1.Time `json:"lastActivity,omitempty" protobuf:"bytes,5,opt,name=lastActivity"`
	// lastConnection is when the last viewer connected.
	// +optional
	LastConnection *metav1.Time `json:"lastConnection,omitempty" protobuf:"bytes,6,opt,name=lastConnection"`
	// lastDisconnect is when the last viewer went away.
	// +optional
	LastDisconnect *metav1.Time `json:"lastDisconnect,omitempty" protobuf:"bytes,7,opt,name=lastDisconnect"`
	// hibernateAt is when the session will hibernate if nobody connects.
	// +optional
	HibernateAt *metav1.Time `json:"hibernateAt,omitempty" protobuf:"bytes,8,opt,name=hibernateAt"`
	// reason is a CamelCase word for the current phase, e.g. TemplateNotFound.
	// +optional
	Reason string `json:"reason,omitempty" protobuf:"bytes,9,opt,name=reason"`
	// message explains the current phase to a person.
	// +optional
	Message string `json:"message,omitempty" protobuf:"bytes,10,opt,name=message"`
	// conditions: TemplateResolved, DeploymentReady, PVCBound, Ready.
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" protobuf:"bytes,11,rep,name=conditions"`
	// observedGeneration is the generation of the spec the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,12,opt,name=observedGeneration"`
	// resources are the requests and limits the session's container was
	// given: the session's spec.resources, else its template's
	// defaultResources, else the platform configuration's. Usage records
	// the requests (a limit stands in for a missing request) while the
	// session is Running.
	// +optional
	Resources ResourceRequirements `json:"resources,omitempty" protobuf:"bytes,13,opt,name=resources"`
	// schedule is what spec.schedule does next; set by the controller.
	// +optional
	Schedule *SessionScheduleStatus `json:"schedule,omitempty" protobuf:"bytes,14,opt,name=schedule"`
	// pool is the SessionPool whose warm workload the session claimed when
	// it last started, empty after a cold start.
	// +optional
	Pool string `json:"pool,omitempty" protobuf:"bytes,15,opt,name=pool"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionList is a list of sessions.
type SessionList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []Session `json:"items" protobuf:"bytes,2,rep,name=items"`
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
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// +optional
	Spec TemplateSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// +optional
	Status TemplateStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// TemplateSpec is an application image and how to run and reach it.
type TemplateSpec struct {
	// displayName is the name shown to people.
	DisplayName string `json:"displayName" protobuf:"bytes,1,opt,name=displayName"`
	// +optional
	Description string `json:"description,omitempty" protobuf:"bytes,2,opt,name=description"`
	// category for display, e.g. "Web Browsers".
	// +optional
	Category string `json:"category,omitempty" protobuf:"bytes,3,opt,name=category"`
	// icon is the URL of an image.
	// +optional
	Icon string `json:"icon,omitempty" protobuf:"bytes,4,opt,name=icon"`
	// baseImage is the container image of the application.
	BaseImage string `json:"baseImage" protobuf:"bytes,5,opt,name=baseImage"`
	// defaultResources apply to sessions that set none. The old flat form {cpu, memory} is accepted.
	// +optional
	DefaultResources ResourceRequirements `json:"defaultResources,omitempty" protobuf:"bytes,6,opt,name=defaultResources"`
	// +optional
	// +listType=atomic
	Ports []TemplatePort `json:"ports,omitempty" protobuf:"bytes,7,rep,name=ports"`
	// +optional
	// +listType=atomic
	Env []EnvVar `json:"env,omitempty" protobuf:"bytes,8,rep,name=env"`
	// +optional
	// +listType=atomic
	VolumeMounts []VolumeMount `json:"volumeMounts,omitempty" protobuf:"bytes,9,rep,name=volumeMounts"`
	// vnc is the remote-desktop endpoint of a desktop application.
	// +optional
	VNC *VNCConfig `json:"vnc,omitempty" protobuf:"bytes,10,opt,name=vnc"`
	// kasmvnc is the old name of vnc, accepted on input and converted to vnc.
	// +optional
	KasmVNC *VNCConfig `json:"kasmvnc,omitempty" protobuf:"bytes,11,opt,name=kasmvnc"`
	// capabilities the application uses: Network, Audio, Clipboard, USB, Printing.
	// +optional
	// +listType=atomic
	Capabilities []string `json:"capabilities,omitempty" protobuf:"bytes,12,rep,name=capabilities"`
	// +optional
	// +listType=atomic
	Tags []string `json:"tags,omitempty" protobuf:"bytes,13,rep,name=tags"`
	// appType is desktop or webapp; when absent it is webapp if webapp.enabled, else desktop.
	// +optional
	AppType AppType `json:"appType,omitempty" protobuf:"bytes,14,opt,name=appType,casttype=AppType"`
	// webapp is the HTTP endpoint of a web application.
	// +optional
	WebApp *WebAppConfig `json:"webapp,omitempty" protobuf:"bytes,15,opt,name=webapp"`
	// source installs the template from the catalog: a Template created with
	// only spec.source.catalogTemplate gets the rest of its spec from that
	// CatalogTemplate (the caller needs "get" on it). It is kept afterwards
	// to say where the template came from.
	// +optional
	Source *TemplateSource `json:"source,omitempty" protobuf:"bytes,16,opt,name=source"`
}

// TemplateSource names where an installed template came from.
type TemplateSource struct {
	// catalogTemplate is the name of a CatalogTemplate (catalog.stream.space).
	CatalogTemplate string `json:"catalogTemplate" protobuf:"bytes,1,opt,name=catalogTemplate"`
}

// TemplatePort is a port the application listens on.
type TemplatePort struct {
	// +optional
	Name          string `json:"name,omitempty" protobuf:"bytes,1,opt,name=name"`
	ContainerPort int32  `json:"containerPort" protobuf:"varint,2,opt,name=containerPort"`
	// protocol is TCP, UDP or SCTP. Defaults to TCP.
	// +optional
	Protocol corev1.Protocol `json:"protocol,omitempty" protobuf:"bytes,3,opt,name=protocol,casttype=k8s.io/api/core/v1.Protocol"`
}

// EnvVar is an environment variable of the application container.
type EnvVar struct {
	Name string `json:"name" protobuf:"bytes,1,opt,name=name"`
	// +optional
	Value string `json:"value,omitempty" protobuf:"bytes,2,opt,name=value"`
}

// VolumeMount mounts a session volume into the container; "user-home" is the user's home.
type VolumeMount struct {
	Name      string `json:"name" protobuf:"bytes,1,opt,name=name"`
	MountPath string `json:"mountPath" protobuf:"bytes,2,opt,name=mountPath"`
	// +optional
	ReadOnly bool `json:"readOnly,omitempty" protobuf:"varint,3,opt,name=readOnly"`
}

// VNCConfig describes the remote-desktop endpoint of a desktop application.
type VNCConfig struct {
	// +optional
	Enabled bool `json:"enabled,omitempty" protobuf:"varint,1,opt,name=enabled"`
	// port the VNC server listens on. Defaults to 3000, where catalog images listen.
	// +optional
	Port int32 `json:"port,omitempty" protobuf:"varint,2,opt,name=port"`
	// protocol is rfb or websocket. Defaults to websocket.
	// +optional
	Protocol string `json:"protocol,omitempty" protobuf:"bytes,3,opt,name=protocol"`
	// +optional
	Encryption bool `json:"encryption,omitempty" protobuf:"varint,4,opt,name=encryption"`
}

// WebAppConfig describes the HTTP endpoint of a web application.
type WebAppConfig struct {
	// +optional
	Enabled bool `json:"enabled,omitempty" protobuf:"varint,1,opt,name=enabled"`
	// +optional
	Port int32 `json:"port,omitempty" protobuf:"varint,2,opt,name=port"`
	// path of the application. Defaults to "/".
	// +optional
	Path string `json:"path,omitempty" protobuf:"bytes,3,opt,name=path"`
	// healthCheck is an HTTP path that answers 200 when the app is ready.
	// +optional
	HealthCheck string `json:"healthCheck,omitempty" protobuf:"bytes,4,opt,name=healthCheck"`
}

// TemplateStatus is the validation result of a template.
type TemplateStatus struct {
	// +optional
	Valid bool `json:"valid,omitempty" protobuf:"varint,1,opt,name=valid"`
	// +optional
	Message string `json:"message,omitempty" protobuf:"bytes,2,opt,name=message"`
	// +optional
	// +listType=map
	// +listMapKey=type
	Conditions []metav1.Condition `json:"conditions,omitempty" protobuf:"bytes,3,rep,name=conditions"`
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty" protobuf:"varint,4,opt,name=observedGeneration"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// TemplateList is a list of templates.
type TemplateList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []Template `json:"items" protobuf:"bytes,2,rep,name=items"`
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
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// +optional
	Spec ConnectionSpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// +optional
	Status ConnectionStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// ConnectionSpec names the session and the viewer.
type ConnectionSpec struct {
	// session is the name of the Session, in the same namespace.
	Session string `json:"session" protobuf:"bytes,1,opt,name=session"`
	// user is the viewer. It is set from the authenticated caller.
	// +optional
	User string `json:"user,omitempty" protobuf:"bytes,2,opt,name=user"`
	// +optional
	ClientIP string `json:"clientIP,omitempty" protobuf:"bytes,3,opt,name=clientIP"`
	// +optional
	UserAgent string `json:"userAgent,omitempty" protobuf:"bytes,4,opt,name=userAgent"`
	// role is what the viewer may do: owner, control or view (the role of
	// the SessionShare the connection was opened through). Set by the
	// server when the connection is opened.
	// +optional
	Role ConnectionRole `json:"role,omitempty" protobuf:"bytes,5,opt,name=role,casttype=ConnectionRole"`
	// share is the SessionShare the connection was opened through, if any;
	// revoking that share closes the connection.
	// +optional
	Share string `json:"share,omitempty" protobuf:"bytes,6,opt,name=share"`
}

// ConnectionStatus tracks the viewer's liveness.
type ConnectionStatus struct {
	// +optional
	State ConnectionState `json:"state,omitempty" protobuf:"bytes,1,opt,name=state,casttype=ConnectionState"`
	// +optional
	ConnectedAt *metav1.Time `json:"connectedAt,omitempty" protobuf:"bytes,2,opt,name=connectedAt"`
	// +optional
	LastHeartbeat *metav1.Time `json:"lastHeartbeat,omitempty" protobuf:"bytes,3,opt,name=lastHeartbeat"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ConnectionList is a list of connections.
type ConnectionList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []Connection `json:"items" protobuf:"bytes,2,rep,name=items"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionConnectRequest is the body of POST sessions/{name}/connect. It
// attaches the caller (spec.user comes from the authenticated identity) to
// the session as a new Connection, and starts the session if it is
// hibernated. An empty body ({}) is fine.
type SessionConnectRequest struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// clientIP is the viewer's address, recorded on the Connection.
	// +optional
	ClientIP string `json:"clientIP,omitempty" protobuf:"bytes,2,opt,name=clientIP"`
	// userAgent is the viewer's browser, recorded on the Connection.
	// +optional
	UserAgent string `json:"userAgent,omitempty" protobuf:"bytes,3,opt,name=userAgent"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// SessionConnectResponse is the answer to a connect, in the old API's shape.
type SessionConnectResponse struct {
	metav1.TypeMeta `json:",inline"`

	// connectionId is the name of the new Connection: send heartbeats to it,
	// delete it to disconnect.
	ConnectionID string `json:"connectionId" protobuf:"bytes,1,opt,name=connectionId"`
	// sessionUrl is where the session is reached (status.url), when known.
	// +optional
	SessionURL string `json:"sessionUrl,omitempty" protobuf:"bytes,2,opt,name=sessionUrl"`
	// state is the session's phase, or "Starting" when this connect woke a
	// hibernated session.
	State string `json:"state" protobuf:"bytes,3,opt,name=state"`
	// message explains the state to a person.
	// +optional
	Message string `json:"message,omitempty" protobuf:"bytes,4,opt,name=message"`
	// role is what the caller may do in the session: owner, control or
	// view. The streaming gateway sends a view connection no input.
	// +optional
	Role ConnectionRole `json:"role,omitempty" protobuf:"bytes,5,opt,name=role,casttype=ConnectionRole"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// ConnectionHeartbeat is the body of POST connections/{name}/heartbeat
// (an empty object, {}): it marks the viewer alive. It has no metadata: the
// connection is named by the path, and a body without object metadata is
// not tracked by the server's field manager (managedFields), which would
// otherwise compute and validate field ownership of every heartbeat's body
// only to discard it.
type ConnectionHeartbeat struct {
	metav1.TypeMeta `json:",inline"`
}

// UserRole is what a person may do in StreamSpace, as their groups say.
// +enum
type UserRole string

const (
	// UserRoleAdmin is a member of the administrators' group.
	UserRoleAdmin UserRole = "admin"
	// UserRoleUser is everyone else.
	UserRoleUser UserRole = "user"
)

// +genclient
// +genclient:nonNamespaced
// +genclient:onlyVerbs=get,list,watch,delete
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// User is a person who has used the API. The API server records every caller
// (except the control plane's own identities) from the identity kube-apiserver
// authenticated: nobody creates or edits a User. Its name is the Kubernetes
// username, e.g. "oidc:carol".
type User struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// +optional
	Status UserStatus `json:"status,omitempty" protobuf:"bytes,2,opt,name=status"`
}

// UserStatus is what the API server last saw of the person.
type UserStatus struct {
	// uid is the identity's uid as kube-apiserver authenticated it (for
	// OpenID Connect, the sub claim); empty when the authenticator gives none.
	// +optional
	UID string `json:"uid,omitempty" protobuf:"bytes,1,opt,name=uid"`
	// email is the address from the identity's claims.
	// +optional
	Email string `json:"email,omitempty" protobuf:"bytes,2,opt,name=email"`
	// displayName is the person's name from the identity's claims.
	// +optional
	DisplayName string `json:"displayName,omitempty" protobuf:"bytes,3,opt,name=displayName"`
	// groups are the groups of the last request, without the ones every
	// authenticated caller has (system:authenticated).
	// +optional
	// +listType=atomic
	Groups []string `json:"groups,omitempty" protobuf:"bytes,4,rep,name=groups"`
	// role is admin for members of the administrators' group, user otherwise.
	// +optional
	Role UserRole `json:"role,omitempty" protobuf:"bytes,5,opt,name=role,casttype=UserRole"`
	// firstSeen is when the API server first recorded a request of the person.
	// +optional
	FirstSeen *metav1.Time `json:"firstSeen,omitempty" protobuf:"bytes,6,opt,name=firstSeen"`
	// lastSeen is when it last recorded one (updated about once a minute).
	// +optional
	LastSeen *metav1.Time `json:"lastSeen,omitempty" protobuf:"bytes,7,opt,name=lastSeen"`
	// lastLogin is when the person last signed in: the issue time of the
	// token of the last request, when the authenticator tells it.
	// +optional
	LastLogin *metav1.Time `json:"lastLogin,omitempty" protobuf:"bytes,8,opt,name=lastLogin"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// UserList is a list of users.
type UserList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []User `json:"items" protobuf:"bytes,2,rep,name=items"`
}

// +genclient
// +genclient:nonNamespaced
// +genclient:onlyVerbs=create,get,list,watch,delete,update,patch
// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// APIKey is a bearer token for scripts that acts as one person, expires, and
// can be revoked by deleting it. The server fills spec.user (and the
// person's uid and groups) from the caller, generates the secret and returns
// the token once, in status.token of the create response; it stores only a
// hash. kube-apiserver authenticates the token through streamspace-apiserver's
// token webhook, as spec.user with spec.groups.
type APIKey struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ObjectMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`

	// +optional
	Spec APIKeySpec `json:"spec,omitempty" protobuf:"bytes,2,opt,name=spec"`
	// +optional
	Status APIKeyStatus `json:"status,omitempty" protobuf:"bytes,3,opt,name=status"`
}

// APIKeySpec is whom the key acts as and until when. Only the description
// may change after the key's creation.
type APIKeySpec struct {
	// user is the username the key authenticates as. It defaults to the
	// caller; naming another user needs the "assign" verb on apikeys.
	// +optional
	User string `json:"user,omitempty" protobuf:"bytes,1,opt,name=user"`
	// uid is the person's uid, taken from the caller when the key is
	// their own.
	// +optional
	UID string `json:"uid,omitempty" protobuf:"bytes,2,opt,name=uid"`
	// groups the key authenticates with: the caller's groups when they mint
	// a key for themselves (whatever the request says), as given when an
	// administrator mints one for another user.
	// +optional
	// +listType=atomic
	Groups []string `json:"groups,omitempty" protobuf:"bytes,3,rep,name=groups"`
	// expiresAt is when the key stops working: at most 90 days after its
	// creation, 30 days when unset.
	// +optional
	ExpiresAt *metav1.Time `json:"expiresAt,omitempty" protobuf:"bytes,4,opt,name=expiresAt"`
	// description says what the key is for.
	// +optional
	Description string `json:"description,omitempty" protobuf:"bytes,5,opt,name=description"`
}

// APIKeyStatus carries the token, once.
type APIKeyStatus struct {
	// token is the bearer token. It is only in the response to the create
	// and is never stored: keep it then.
	// +optional
	Token string `json:"token,omitempty" protobuf:"bytes,1,opt,name=token"`
	// tokenHash is the SHA-256 of the token, which the server stores and
	// compares; it is never served.
	// +optional
	TokenHash string `json:"tokenHash,omitempty" protobuf:"bytes,2,opt,name=tokenHash"`
}

// +k8s:deepcopy-gen:interfaces=k8s.io/apimachinery/pkg/runtime.Object

// APIKeyList is a list of API keys.
type APIKeyList struct {
	metav1.TypeMeta `json:",inline"`
	// +optional
	metav1.ListMeta `json:"metadata,omitempty" protobuf:"bytes,1,opt,name=metadata"`
	Items           []APIKey `json:"items" protobuf:"bytes,2,rep,name=items"`
}
