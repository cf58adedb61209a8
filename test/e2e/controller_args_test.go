package e2e

import "time"

// controllerTestArgs are streamspace-controller's flags on the shared
// stack: short timeouts so lifecycle tests take seconds, and an ingress
// domain so sessions get an Ingress and a URL.
var controllerTestArgs = []string{
	"--stale-connection-timeout=" + staleTimeout.String(),
	"--resync-period=30s",
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
