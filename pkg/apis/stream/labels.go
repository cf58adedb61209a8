package stream

// Labels and annotations on the objects the session controller makes for a
// session (Deployment, Service, Ingress, pods, home claim).
const (
	// SessionLabel selects a session's pods; its value is the session name,
	// shortened to a label value when longer.
	SessionLabel = "stream.space/session"
	// UserLabel is the session's user, shortened to a label value.
	UserLabel = "stream.space/user"
	// TemplateLabel is the session's template, shortened to a label value.
	TemplateLabel = "stream.space/template"
	// SessionNameAnnotation holds the session's exact name (labels may be
	// shortened), so a pod event finds its session.
	SessionNameAnnotation = "stream.space/session-name"
	// UserNameAnnotation on a home claim holds the user's exact name.
	UserNameAnnotation = "stream.space/user-name"
	// SpecHashAnnotation is the hash of what the controller wants an
	// object's spec to be; the object is updated when it changes.
	SpecHashAnnotation = "stream.space/spec-hash"
)

// AssignVerb is the RBAC verb that allows creating a session or connection
// for a user other than oneself, or sending another user's heartbeats.
const AssignVerb = "assign"

// Labels and annotations of SessionPool workloads.
const (
	// PoolLabel selects the unclaimed pods of a pool; its value is the
	// pool's name, shortened to a label value when longer. A claim removes it.
	PoolLabel = "stream.space/pool"
	// PoolNameAnnotation holds the pool's exact name, so a pod or
	// Deployment event finds its pool.
	PoolNameAnnotation = "stream.space/pool-name"
	// ClaimedFromLabel marks a pod a session claimed from a pool; its value
	// is the pool's name, shortened to a label value.
	ClaimedFromLabel = "stream.space/claimed-from"
	// ClaimedAtAnnotation is when the session claimed the pod (RFC 3339).
	ClaimedAtAnnotation = "stream.space/claimed-at"
	// IdentityVolume is the downward-API volume of a pool's pods: the files
	// user and session, from the pod's annotations, tell the application
	// whom it serves once claimed (empty while it waits in the pool).
	IdentityVolume = "streamspace-identity"
	// IdentityMountPath is where the identity volume is mounted.
	IdentityMountPath = "/var/run/streamspace"
)
