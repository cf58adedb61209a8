// Package metricsauth guards a /metrics endpoint the way kube-apiserver
// guards its own: only callers allowed "get" on the non-resource URL
// /metrics may read it.
//
// The check is a SelfSubjectAccessReview made with the caller's own bearer
// token, so kube-apiserver authenticates the caller and RBAC answers; the
// component serving /metrics needs no TokenReview or SubjectAccessReview
// rights of its own (which the bridge, acting only with its callers'
// tokens, does not have).
package metricsauth

import (
	"context"
	"crypto/sha256"
	"net/http"
	"strings"
	"sync"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
)

// Path is the non-resource URL whose "get" the caller needs.
const Path = "/metrics"

// allowedFor is how long a positive answer is remembered per token, so a
// scraper every few seconds costs one review per interval, not per scrape.
const allowedFor = 10 * time.Second

// Handler serves next only to callers whose bearer token kube-apiserver
// accepts (else 401) and whose RBAC allows get on /metrics (else 403).
// cluster names kube-apiserver; its own credentials are never used.
func Handler(cluster *rest.Config, next http.Handler) http.Handler {
	g := &guard{cluster: rest.AnonymousClientConfig(cluster), next: next, allowed: map[[32]byte]time.Time{}, now: time.Now}
	return g
}

type guard struct {
	cluster *rest.Config
	next    http.Handler
	now     func() time.Time

	mu      sync.Mutex
	allowed map[[32]byte]time.Time // token hash → until
}

func (g *guard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, ok := bearerToken(r)
	if !ok {
		w.Header().Set("WWW-Authenticate", `Bearer realm="kubernetes"`)
		http.Error(w, "Unauthorized: /metrics needs a Kubernetes bearer token allowed to get /metrics", http.StatusUnauthorized)
		return
	}
	key := sha256.Sum256([]byte(token))
	if !g.recentlyAllowed(key) {
		status, reason := g.review(r.Context(), token)
		if status != http.StatusOK {
			if status == http.StatusUnauthorized {
				w.Header().Set("WWW-Authenticate", `Bearer realm="kubernetes"`)
			}
			http.Error(w, reason, status)
			return
		}
		g.remember(key)
	}
	g.next.ServeHTTP(w, r)
}

// review asks kube-apiserver, as the caller, whether it may get /metrics.
func (g *guard) review(ctx context.Context, token string) (int, string) {
	cfg := rest.CopyConfig(g.cluster)
	cfg.BearerToken = token
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		klog.FromContext(ctx).Error(err, "build the client for a /metrics access review")
		return http.StatusInternalServerError, "Internal error while authorizing /metrics"
	}
	review, err := client.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, &authorizationv1.SelfSubjectAccessReview{
		Spec: authorizationv1.SelfSubjectAccessReviewSpec{
			NonResourceAttributes: &authorizationv1.NonResourceAttributes{Path: Path, Verb: "get"},
		},
	}, metav1.CreateOptions{})
	switch {
	case apierrors.IsUnauthorized(err):
		return http.StatusUnauthorized, "Unauthorized: the bearer token was not accepted"
	case err != nil:
		klog.FromContext(ctx).Error(err, "review access to /metrics")
		return http.StatusServiceUnavailable, "Could not authorize /metrics: " + err.Error()
	case !review.Status.Allowed:
		return http.StatusForbidden, `Forbidden: the caller may not get path "/metrics"`
	}
	return http.StatusOK, ""
}

func (g *guard) recentlyAllowed(key [32]byte) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	until, ok := g.allowed[key]
	if ok && g.now().Before(until) {
		return true
	}
	delete(g.allowed, key)
	return false
}

func (g *guard) remember(key [32]byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	now := g.now()
	for k, until := range g.allowed {
		if !now.Before(until) {
			delete(g.allowed, k)
		}
	}
	g.allowed[key] = now.Add(allowedFor)
}

func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}
