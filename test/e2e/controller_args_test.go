package e2e

import "time"

// controllerTestArgs are streamspace-controller's flags on the shared
// stack: short timeouts so lifecycle tests take seconds, an idle warning
// short enough that a session idle for 20s is warned before it hibernates,
// and an ingress domain so sessions get an Ingress and a URL.
var controllerTestArgs = []string{
	"--stale-connection-timeout=" + staleTimeout.String(),
	"--idle-warning-lead=" + idleWarningLead.String(),
	"--ingress-domain=" + testIngressDomain,
	"--leader-elect-lease-duration=4s",
	"--leader-elect-renew-deadline=3s",
	"--leader-elect-retry-period=500ms",
	"--v=2",
}

// streamspaceTestArgs are streamspace-apiserver's flags on the shared
// stack: it reaps connections silent for the same short stale timeout.
var streamspaceTestArgs = []string{
	"--stale-connection-timeout=" + staleTimeout.String(),
}

const testIngressDomain = "sessions.e2e.test"

// staleTimeout is --stale-connection-timeout on the shared stack.
const staleTimeout = 6 * time.Second

// idleWarningLead is --idle-warning-lead on the shared stack: sessions idle
// for less than this are warned as soon as they are idle.
const idleWarningLead = 15 * time.Second
