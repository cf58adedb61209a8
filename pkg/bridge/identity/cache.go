package identity

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"
	authenticationv1 "k8s.io/api/authentication/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/lru"

	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// Caller is the authenticated-by-token user of a request: the API clients
// of one token, which kube-apiserver has accepted (see Cache.ForToken), and
// checks again on every call the bridge makes with it.
type Caller struct {
	// key identifies the token (a hash, so maps and logs never hold it).
	key    string
	config *rest.Config
	stream clientset.Interface
	kube   kubernetes.Interface
	// username and groups are who kube-apiserver says the token belongs to.
	username string
	groups   []string
	// namespaceUser is username without a prefix of UsernamePrefixes: the
	// name of the person's own namespace (oidc:carol works in carol).
	namespaceUser string
	// expires is when the cache forgets these clients: the token's own
	// expiry when it says (JWT exp), else the cache's TTL.
	expires time.Time
}

// Username is the user the token belongs to, as kube-apiserver answered the
// SelfSubjectReview that admitted the token.
func (c *Caller) Username() string { return c.username }

// Groups are the caller's groups, as kube-apiserver answered.
func (c *Caller) Groups() []string { return c.groups }

// TokenKey identifies the caller's token without holding it (a hash).
func (c *Caller) TokenKey() string { return c.key }

// Stream is the StreamSpace clientset, acting with the caller's token.
func (c *Caller) Stream() clientset.Interface { return c.stream }

// Kube is the Kubernetes clientset, acting with the caller's token.
func (c *Caller) Kube() kubernetes.Interface { return c.kube }

// Config is a copy of the caller's client configuration, for the clients
// the typed ones do not cover (a pod's exec stream).
func (c *Caller) Config() *rest.Config { return rest.CopyConfig(c.config) }

// Cache keeps the clients of tokens kube-apiserver accepted, in
// an LRU of at most maxEntries, each for at most ttl and never past the
// token's own expiry. A token is checked before anything is built for it:
// one SelfSubjectReview made with the token (every authenticated user may
// make one; the bridge needs no rights of its own), so a made-up token costs
// one request and nothing that stays. Refused tokens are remembered, by
// hash only, in a small LRU for refusedTTL, so repeating one does not reach
// kube-apiserver each time.
type Cache struct {
	cluster  *rest.Config
	reviewer kubernetes.Interface // anonymous; the token comes from the context
	ttl      time.Duration
	now      func() time.Time

	accepted *lru.Cache // tokenHash → *Caller
	refused  *lru.Cache // tokenHash → refusal
	inFlight singleflight.Group

	usernamePrefixes []string
}

// refusal is a remembered answer of kube-apiserver to a token.
type refusal struct {
	err     error
	expires time.Time
}

const (
	// defaultTokenTTL bounds how long a token that carries no expiry
	// is trusted without asking kube-apiserver again.
	defaultTokenTTL = 5 * time.Minute
	// defaultMaxCachedTokens bounds the accepted-token cache.
	defaultMaxCachedTokens = 10000
	// maxRefusedTokens and refusedTTL bound the cache of refused tokens.
	maxRefusedTokens = 1024
	refusedTTL       = 10 * time.Second
	// tokenReviewTimeout bounds one SelfSubjectReview.
	tokenReviewTimeout = 10 * time.Second
)

type reviewTokenKey struct{}

// NewCache builds an empty cache of accepted tokens, for kube-apiserver at
// cluster (which must hold no credentials).
func NewCache(cluster *rest.Config, ttl time.Duration, maxEntries int) (*Cache, error) {
	if ttl <= 0 {
		ttl = defaultTokenTTL
	}
	if maxEntries <= 0 {
		maxEntries = defaultMaxCachedTokens
	}
	cfg := rest.CopyConfig(cluster)
	cfg.UserAgent = "streamspace-bridge"
	// Reviews are bounded by the bridge's own rate limits per client IP;
	// a shared client-side limiter would make users queue behind an attacker.
	cfg.QPS, cfg.Burst = -1, 0
	// Over HTTP/2, every refused review left a closed connection reachable
	// in the client's pool (3,000 made-up tokens: +82 MiB of heap, against
	// +0.8 MiB over HTTP/1.1), so reviews use HTTP/1.1.
	cfg.TLSClientConfig.NextProtos = []string{"http/1.1"}
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
			token, _ := req.Context().Value(reviewTokenKey{}).(string)
			if token == "" {
				return nil, errors.New("no token to review")
			}
			req = req.Clone(req.Context())
			req.Header.Set("Authorization", "Bearer "+token)
			return rt.RoundTrip(req)
		})
	})
	reviewer, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, fmt.Errorf("create the token reviewer: %w", err)
	}
	return &Cache{
		cluster: cluster, reviewer: reviewer, ttl: ttl, now: time.Now,
		accepted: lru.New(maxEntries), refused: lru.New(maxRefusedTokens),
	}, nil
}

// SetUsernamePrefixes names the prefixes kube-apiserver puts before the
// names of people (an OIDC authenticator's username prefix, "oidc:"): a
// person's own namespace is named without it. Call before serving.
func (c *Cache) SetUsernamePrefixes(prefixes []string) { c.usernamePrefixes = prefixes }

func (c *Cache) stripPrefix(username string) string {
	for _, p := range c.usernamePrefixes {
		if rest, ok := strings.CutPrefix(username, p); ok && p != "" {
			return rest
		}
	}
	return username
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// tokenHash keys every map that concerns a token, so none holds the token.
func tokenHash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:16])
}

// ForToken returns the clients of token once kube-apiserver accepted it;
// a refusal is the API's error (401 for a token it does not know).
func (c *Cache) ForToken(ctx context.Context, token string) (*Caller, error) {
	key := tokenHash(token)
	now := c.now()
	if v, ok := c.accepted.Get(key); ok {
		u := v.(*Caller)
		if now.Before(u.expires) {
			return u, nil
		}
		c.accepted.Remove(key)
	}
	if v, ok := c.refused.Get(key); ok {
		r := v.(refusal)
		if now.Before(r.expires) {
			return nil, r.err
		}
		c.refused.Remove(key)
	}
	// Concurrent first requests of one token share one review.
	v, err, _ := c.inFlight.Do(key, func() (any, error) {
		return c.admit(ctx, key, token)
	})
	if err != nil {
		return nil, err
	}
	return v.(*Caller), nil
}

// admit reviews the token and, when kube-apiserver accepts it, builds and
// caches its clients.
func (c *Cache) admit(ctx context.Context, key, token string) (*Caller, error) {
	// Not bound to the request that started the review: concurrent requests
	// of the token wait for it too (singleflight).
	reviewCtx, cancel := context.WithTimeout(context.WithValue(context.WithoutCancel(ctx), reviewTokenKey{}, token), tokenReviewTimeout)
	defer cancel()
	review, err := c.reviewer.AuthenticationV1().SelfSubjectReviews().Create(reviewCtx, &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
	if err != nil {
		if apierrors.IsUnauthorized(err) {
			tokenReviews.WithLabelValues("refused").Inc()
			c.refused.Add(key, refusal{err: err, expires: c.now().Add(refusedTTL)})
		} else {
			tokenReviews.WithLabelValues("error").Inc()
		}
		return nil, err
	}
	tokenReviews.WithLabelValues("accepted").Inc()
	now := c.now()
	expires := now.Add(c.ttl)
	if exp, ok := jwtExpiry(token); ok && exp.Before(expires) {
		expires = exp
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
	username := review.Status.UserInfo.Username
	u := &Caller{key: key, config: cfg, stream: stream, kube: kube, username: username, groups: review.Status.UserInfo.Groups,
		namespaceUser: c.stripPrefix(username), expires: expires}
	if now.Before(expires) {
		c.accepted.Add(key, u)
	}
	return u, nil
}

// jwtExpiry reads the exp claim of a token that is a JWT. The signature is
// not checked: kube-apiserver has just accepted the token, and the claim
// only shortens how long the bridge remembers that.
func jwtExpiry(token string) (time.Time, bool) {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	payload, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return time.Time{}, false
	}
	var claims struct {
		Exp *json.Number `json:"exp"`
	}
	if err := json.Unmarshal(payload, &claims); err != nil || claims.Exp == nil {
		return time.Time{}, false
	}
	seconds, err := claims.Exp.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(seconds), 0), true
}
