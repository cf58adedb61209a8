package apiserver

import (
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/rest"

	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
	"github.com/streamspace/controlplane/pkg/registry/stream/connection"
	"github.com/streamspace/controlplane/pkg/registry/stream/session"
)

// addSessionSubresources adds the action subresources of the stream group:
// sessions/connect (attach the caller, waking a hibernated session) and
// connections/heartbeat (mark a viewer alive, never conflicting). Both act
// on one user's object: the authorizer decides who may act on another's.
func addSessionSubresources(storage map[string]rest.Storage, authz authorizer.Authorizer) {
	sessions := storage["sessions"].(*storebuilder.REST)
	connections := storage["connections"].(*storebuilder.REST)
	storage["sessions/connect"] = session.NewConnectREST(sessions.Store, connections.Store, authz)
	storage["connections/heartbeat"] = connection.NewHeartbeatREST(storage["connections/status"].(*storebuilder.StatusREST), authz)
}
