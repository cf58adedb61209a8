// Package rest serves the old REST API under /api/v1/ (sessions, templates,
// the catalog and its repositories) on the StreamSpace API, as the calling
// user: every call carries the caller's token (see pkg/bridge/identity) and
// answers in the old JSON shapes (see pkg/bridge/view).
package rest

import (
	"github.com/streamspace/controlplane/pkg/bridge/identity"
	"github.com/streamspace/controlplane/pkg/bridge/shares"
)

// API serves the REST endpoints; its methods are the handlers. Create it
// with New.
type API struct {
	// trustedProxies find the client IP recorded on a Connection.
	trustedProxies identity.TrustedProxies
	features       *apiFeatures
	// shares finds the sessions shared with a caller; nil finds none.
	shares *shares.Index
}

// New builds the REST API; trustedProxies may set X-Forwarded-For, and
// sharedSessions finds the sessions shared with a caller (nil: none).
func New(trustedProxies identity.TrustedProxies, sharedSessions *shares.Index) *API {
	return &API{trustedProxies: trustedProxies, features: newAPIFeatures(), shares: sharedSessions}
}
