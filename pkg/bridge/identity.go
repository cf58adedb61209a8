package bridge

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

const (
	// feedSubprotocol is what the bridge selects when a browser offers it
	// beside the token protocol (a browser fails a handshake that offered
	// subprotocols and got none back).
	feedSubprotocol = "streamspace.v1"
	// tokenSubprotocolPrefix carries a bearer token in Sec-WebSocket-Protocol,
	// base64url-encoded without padding, the form kube-apiserver accepts.
	tokenSubprotocolPrefix = "base64url.bearer.authorization.k8s.io."
	// userClientIdleTTL is how long a token's clients are kept unused.
	userClientIdleTTL = 10 * time.Minute
)

// AnonymousConfig copies cfg without any credentials: the bridge never acts
// with an identity of its own.
func AnonymousConfig(cfg *rest.Config) *rest.Config {
	anon := rest.AnonymousClientConfig(cfg)
	anon.QPS, anon.Burst = cfg.QPS, cfg.Burst
	return anon
}

func hasCredentials(cfg *rest.Config) bool {
	return cfg.BearerToken != "" || cfg.BearerTokenFile != "" || cfg.Username != "" || cfg.Password != "" ||
		cfg.CertFile != "" || cfg.KeyFile != "" || len(cfg.CertData) > 0 || len(cfg.KeyData) > 0 ||
		cfg.AuthProvider != nil || cfg.ExecProvider != nil || cfg.Impersonate.UserName != ""
}

// bearerToken finds the caller's token: the Authorization header, and for
// WebSocket handshakes also the Sec-WebSocket-Protocol form and, when
// allowed, ?access_token=.
func bearerToken(r *http.Request, allowQuery bool) (string, error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return "", fmt.Errorf("the Authorization header must be \"Bearer <token>\"")
		}
		return strings.TrimSpace(token), nil
	}
	if !isWebSocketHandshake(r) {
		return "", nil
	}
	for _, protocols := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(protocols, ",") {
			p = strings.TrimSpace(p)
			if encoded, ok := strings.CutPrefix(p, tokenSubprotocolPrefix); ok {
				token, err := base64.RawURLEncoding.DecodeString(encoded)
				if err != nil || len(token) == 0 {
					return "", fmt.Errorf("Sec-WebSocket-Protocol %s<token>: the token must be base64url without padding", tokenSubprotocolPrefix)
				}
				return string(token), nil
			}
		}
	}
	if token := r.URL.Query().Get("access_token"); token != "" {
		if !allowQuery {
			return "", fmt.Errorf("access_token in the query is disabled on this bridge (--allow-token-in-query); send the token in Sec-WebSocket-Protocol as %s<base64url token>", tokenSubprotocolPrefix)
		}
		return token, nil
	}
	return "", nil
}

func isWebSocketHandshake(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

// caller is the authenticated-by-token user of one request. The token is
// checked by kube-apiserver on every call the bridge makes with it.
type caller struct {
	*userClients
}

type callerKey struct{}

func withCaller(ctx context.Context, c caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

func callerFrom(ctx context.Context) caller {
	c, _ := ctx.Value(callerKey{}).(caller)
	return c
}

// userClients are the API clients of one token.
type userClients struct {
	// key identifies the token (a hash, so maps and logs never hold it).
	key    string
	config *rest.Config
	stream clientset.Interface
	kube   kubernetes.Interface

	mu       sync.Mutex
	lastUsed time.Time
	username string
}

// Username asks kube-apiserver who the token belongs to (SelfSubjectReview,
// allowed to every authenticated user) and remembers the answer.
func (u *userClients) Username(ctx context.Context) (string, error) {
	u.mu.Lock()
	name := u.username
	u.mu.Unlock()
	if name != "" {
		return name, nil
	}
	review, err := u.kube.AuthenticationV1().SelfSubjectReviews().Create(ctx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		return "", err
	}
	name = review.Status.UserInfo.Username
	u.mu.Lock()
	u.username = name
	u.mu.Unlock()
	return name, nil
}

// userClientCache keeps one set of clients per token, dropped after
// userClientIdleTTL unused. client-go shares the TLS transport between them
// (the token is added per request), so a user costs little.
type userClientCache struct {
	cluster *rest.Config

	mu     sync.Mutex
	byHash map[string]*userClients
	swept  time.Time
}

func newUserClientCache(cluster *rest.Config) *userClientCache {
	return &userClientCache{cluster: cluster, byHash: map[string]*userClients{}, swept: time.Now()}
}

func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:16])
}

func (c *userClientCache) forToken(token string) (*userClients, error) {
	key := tokenHash(token)
	now := time.Now()
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.swept) > time.Minute {
		for k, u := range c.byHash {
			u.mu.Lock()
			idle := now.Sub(u.lastUsed) > userClientIdleTTL
			u.mu.Unlock()
			if idle {
				delete(c.byHash, k)
			}
		}
		c.swept = now
	}
	if u, ok := c.byHash[key]; ok {
		u.mu.Lock()
		u.lastUsed = now
		u.mu.Unlock()
		return u, nil
	}
	cfg := rest.CopyConfig(c.cluster)
	cfg.BearerToken = token
	cfg.UserAgent = "streamspace-bridge"
	stream, err := clientset.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create the StreamSpace client for a caller: %w", err)
	}
	kube, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create the core client for a caller: %w", err)
	}
	u := &userClients{key: key, config: cfg, stream: stream, kube: kube, lastUsed: now}
	c.byHash[key] = u
	return u, nil
}

// authenticated requires a bearer token and puts the caller's clients in the
// request context. The token itself is checked by kube-apiserver on the
// first call made with it.
func (s *Server) authenticated(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		token, err := bearerToken(r, s.cfg.AllowTokenInQuery)
		if err != nil {
			writeError(w, http.StatusUnauthorized, err.Error())
			return
		}
		if token == "" {
			writeError(w, http.StatusUnauthorized, "missing bearer token: send \"Authorization: Bearer <your Kubernetes token>\" (WebSocket from a browser: Sec-WebSocket-Protocol \""+tokenSubprotocolPrefix+"<base64url token>\")")
			return
		}
		clients, err := s.clients.forToken(token)
		if err != nil {
			writeError(w, http.StatusInternalServerError, err.Error())
			return
		}
		next(w, r.WithContext(withCaller(r.Context(), caller{clients})))
	}
}
