package stream

// WokenAtAnnotation is set on a Session when a connection wakes it from
// hibernation (by the connect subresource or the hibernation controller),
// to the time of the wake in RFC 3339 with nanoseconds. The session
// controller measures the time from it to Running, then removes it.
const WokenAtAnnotation = "stream.space/woken-at"

// SessionsNamespaceLabel marks a namespace where streamspace-controller may
// create session workloads: with the value SessionsNamespaceEnabled, the
// ValidatingAdmissionPolicy streamspace-controller-session-namespaces
// (artifacts/rbac/policy-controller-namespaces.yaml) lets the controller
// write Deployments, Services, Ingresses and claims there; anywhere else
// kube-apiserver refuses it.
const (
	SessionsNamespaceLabel   = "stream.space/sessions"
	SessionsNamespaceEnabled = "enabled"
)
