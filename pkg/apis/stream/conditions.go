package stream

// Condition types of a Session's status.conditions.
const (
	SessionConditionTemplateResolved = "TemplateResolved"
	SessionConditionDeploymentReady  = "DeploymentReady"
	SessionConditionPVCBound         = "PVCBound"
	SessionConditionReady            = "Ready"
)

// Reasons of a Session's phase (status.reason); the session controller
// records an Event with the reason when the phase or reason changes.
const (
	SessionReasonTemplateNotFound  = "TemplateNotFound"
	SessionReasonTemplateInvalid   = "TemplateInvalid"
	SessionReasonPodFailing        = "PodFailing"
	SessionReasonNameConflict      = "NameConflict"
	SessionReasonStarting          = "Starting"
	SessionReasonUnschedulable     = "Unschedulable"
	SessionReasonPodReady          = "PodReady"
	SessionReasonHibernating       = "Hibernating"
	SessionReasonHibernated        = "Hibernated"
	SessionReasonTerminating       = "Terminating"
	SessionReasonTerminated        = "Terminated"
	SessionReasonMaxDuration       = "MaxSessionDurationExceeded"
	SessionReasonWorkloadForbidden = "WorkloadForbidden"
)

// SessionConditionIdleWarning is True, with reason SessionReasonHibernatingSoon
// and a message naming status.hibernateAt, while a Running session nobody is
// connected to is within the hibernation controller's --idle-warning-lead of
// hibernating for idleness. It is removed once someone connects or the
// session hibernates, so the next idle period warns again. The hibernation
// controller owns it; the session controller owns the other conditions.
const (
	SessionConditionIdleWarning  = "IdleWarning"
	SessionReasonHibernatingSoon = "HibernatingSoon"
)

// TemplateConditionValid is the condition type of a Template's verdict:
// whether sessions can start from it.
const TemplateConditionValid = "Valid"

// SessionShareConditionGranted is the condition type of a SessionShare that
// says whether the access it grants (a Role and RoleBinding) is in place.
const SessionShareConditionGranted = "Granted"

// ShareLabel is the label of the Role and RoleBinding that carry out a
// SessionShare: the share's name.
const ShareLabel = "stream.space/share"

// SessionPoolConditionReady is the condition type of a SessionPool that is
// True when it has spec.replicas ready workloads.
const SessionPoolConditionReady = "Ready"
