package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/apiserver/pkg/registry/rest"
	"k8s.io/client-go/discovery"
	restclient "k8s.io/client-go/rest"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
	"github.com/streamspace/controlplane/pkg/registry/stream/connection"
	"github.com/streamspace/controlplane/pkg/registry/stream/session"
	"github.com/streamspace/controlplane/pkg/registry/stream/sessionshare"
)

// addSessionSubresources adds the action subresources of the stream group:
// sessions/connect (attach the caller, waking a hibernated session) and
// connections/heartbeat (mark a viewer alive, never conflicting). Both act
// on one user's object: the authorizer decides who may act on another's.
// The heartbeat subresource it returns writes heartbeats into their
// Connections in the background while it runs.
func addSessionSubresources(storage map[string]rest.Storage, authz authorizer.Authorizer, leases connection.Leases, persistEvery time.Duration) *connection.HeartbeatREST {
	sessions := storage["sessions"].(*storebuilder.REST)
	connections := storage["connections"].(*storebuilder.REST)
	shares := storage["sessionshares"].(*sessionshare.REST)
	storage["sessions/connect"] = session.NewConnectREST(sessions.Store, connections.Store, shares.Store, authz)
	heartbeat := connection.NewHeartbeatREST(storage["connections/status"].(*storebuilder.StatusREST), leases, authz, persistEvery)
	storage["connections/heartbeat"] = heartbeat
	return heartbeat
}

// staleConnectionTimeout is the PlatformConfiguration's
// sessions.staleConnectionTimeout (read from this server's watch cache),
// else flag.
func staleConnectionTimeout(configs *storebuilder.REST, flag time.Duration) func(context.Context) time.Duration {
	return func(ctx context.Context) time.Duration {
		obj, err := configs.Get(ctx, stream.PlatformConfigurationName, &metav1.GetOptions{ResourceVersion: "0"})
		if err != nil {
			return flag
		}
		if c, ok := obj.(*stream.PlatformConfiguration); ok && c.Spec.Sessions.StaleConnectionTimeout != nil && c.Spec.Sessions.StaleConnectionTimeout.Duration > 0 {
			return c.Spec.Sessions.StaleConnectionTimeout.Duration
		}
		return flag
	}
}

// heartbeatPathDown asks kube-apiserver, whose aggregator proxies every
// heartbeat to this server, whether it is live (/livez, which priority and
// fairness exempts, so an overloaded kube-apiserver still answers it). An
// error means viewers cannot beat through it, and the reaper holds
// meanwhile: no answer in time, or a server error (/livez answers 500 when
// a check fails). Any other answer, a 403 included (a cluster that does not
// let this server read /livez), shows kube-apiserver serving: a refusal
// must not hold reaping forever. /livez, not /readyz: a kube-apiserver that
// has lost etcd is not ready but still proxies heartbeats (its
// authentication and authorization answer from caches), and reaping should
// go on then. Without a client of kube-apiserver (a server run on its own)
// nothing is asked.
func heartbeatPathDown(cfg *restclient.Config) (func(context.Context) error, error) {
	if cfg == nil {
		return nil, nil
	}
	client, err := discovery.NewDiscoveryClientForConfig(restclient.CopyConfig(cfg))
	if err != nil {
		return nil, fmt.Errorf("client of kube-apiserver for the connection reaper: %w", err)
	}
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, heartbeatPathTimeout)
		defer cancel()
		// One question per pass: a retry after Retry-After would turn an answer
		// (kube-apiserver serving) into a timeout.
		err := client.RESTClient().Get().AbsPath("/livez").MaxRetries(0).Do(ctx).Error()
		var status apierrors.APIStatus
		if errors.As(err, &status) && status.Status().Code < http.StatusInternalServerError {
			return nil
		}
		if err != nil {
			return fmt.Errorf("kube-apiserver /livez: %w", err)
		}
		return nil
	}, nil
}

// heartbeatPathTimeout bounds the reaper's question to kube-apiserver.
const heartbeatPathTimeout = 5 * time.Second
