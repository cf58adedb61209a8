// Package cabundles keeps streamspace-apiserver from answering a request
// that carries a client certificate before the CA bundles that verify such
// certificates are loaded.
//
// Delegated authentication reads the request-header CA (kube-apiserver's
// front-proxy CA) and the client CA from the ConfigMap
// kube-system/extension-apiserver-authentication through
// dynamiccertificates.ConfigMapCAController. Its RunOnce reads a lister whose
// informer only starts in Run, which secure serving calls as it starts to
// listen, so for the first moments of a new process both bundles are empty.
// Without a CA the request-header and x509 authenticators decline a
// certificate instead of rejecting it, and the authenticator union falls
// back to system:anonymous: the aggregator's requests for real users were
// answered 403 as anonymous. The Gate closes that window: readiness fails
// until every bundle has content, and requests with a client certificate
// wait for it (or get 503 with Retry-After), never reaching authentication
// with an empty CA.
package cabundles

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/endpoints/handlers/responsewriters"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	"k8s.io/apiserver/pkg/server/healthz"
)

// CheckName is the readiness check that fails until every bundle is loaded
// (/readyz/client-ca-bundles).
const CheckName = "client-ca-bundles"

// DefaultHoldTimeout is how long a request with a client certificate waits
// for the bundles before it is answered 503; they normally arrive within
// milliseconds of the server starting to listen.
const DefaultHoldTimeout = 10 * time.Second

// Gate knows whether every CA bundle that authentication trusts is loaded.
type Gate struct {
	bundles     []dynamiccertificates.CAContentProvider
	holdTimeout time.Duration

	once   sync.Once
	loaded chan struct{} // closed once every bundle has had content
}

// New returns a gate over bundles (nil entries are ignored). It registers
// itself as a listener of each, so it must be called before the providers'
// controllers run, that is before the server starts serving.
func New(holdTimeout time.Duration, bundles ...dynamiccertificates.CAContentProvider) *Gate {
	g := &Gate{holdTimeout: holdTimeout, loaded: make(chan struct{})}
	for _, b := range bundles {
		if b != nil {
			g.bundles = append(g.bundles, b)
			b.AddListener(g)
		}
	}
	g.Enqueue()
	return g
}

// Enqueue implements dynamiccertificates.Listener: a bundle changed.
func (g *Gate) Enqueue() {
	if len(g.missing()) == 0 {
		g.once.Do(func() { close(g.loaded) })
	}
}

// Loaded is closed once every bundle has been loaded. Bundles are never
// unloaded: a provider keeps its last content when its source goes away.
func (g *Gate) Loaded() <-chan struct{} { return g.loaded }

func (g *Gate) isLoaded() bool {
	select {
	case <-g.loaded:
		return true
	default:
		g.Enqueue()
		select {
		case <-g.loaded:
			return true
		default:
			return false
		}
	}
}

// missing names the bundles without content.
func (g *Gate) missing() []string {
	var names []string
	for _, b := range g.bundles {
		if len(b.CurrentCABundleContent()) == 0 {
			names = append(names, b.Name())
		}
	}
	return names
}

// ReadyzCheck fails until every bundle is loaded.
func (g *Gate) ReadyzCheck() healthz.HealthChecker {
	return healthz.NamedCheck(CheckName, func(*http.Request) error {
		if g.isLoaded() {
			return nil
		}
		return fmt.Errorf("CA bundles not loaded yet: %s", strings.Join(g.missing(), ", "))
	})
}

// Hold wraps handler: a request that carries a client certificate waits
// until every bundle is loaded, for at most the hold timeout, and is then
// answered 503 with Retry-After if they still are not. Requests without a
// certificate (bearer tokens, probes) pass at once: their authentication
// does not depend on these bundles.
func (g *Gate) Hold(handler http.Handler, serializer runtime.NegotiatedSerializer) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.TLS == nil || len(req.TLS.PeerCertificates) == 0 || g.isLoaded() {
			handler.ServeHTTP(w, req)
			return
		}
		timer := time.NewTimer(g.holdTimeout)
		defer timer.Stop()
		select {
		case <-g.loaded:
			handler.ServeHTTP(w, req)
		case <-timer.C:
			responsewriters.ErrorNegotiated(notLoadedError(g.missing()), serializer, schema.GroupVersion{}, w, req)
		case <-req.Context().Done():
			responsewriters.ErrorNegotiated(notLoadedError(g.missing()), serializer, schema.GroupVersion{}, w, req)
		}
	})
}

func notLoadedError(missing []string) error {
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusServiceUnavailable,
		Reason:  metav1.StatusReasonServiceUnavailable,
		Message: "the server is starting: the CA bundles that verify client certificates are not loaded yet (" + strings.Join(missing, ", ") + ")",
		Details: &metav1.StatusDetails{RetryAfterSeconds: 1},
	}}
}
