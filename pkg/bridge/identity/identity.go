// Package identity says who is calling the bridge: the bearer token of a
// request and the API clients built for it once kube-apiserver accepted it,
// the namespace a request works in, and the client's IP address. Every call
// the bridge makes for a request carries the caller's token; its own
// identity is kept out of this package (the Git webhook's and the index of
// SessionShares' clients are built in pkg/cmd/bridge).
package identity

import (
	"context"
	"encoding/base64"
	"fmt"
	"net/http"
	"strings"

	"k8s.io/client-go/rest"
)

const (
	// FeedSubprotocol is what the bridge selects when a browser offers it
	// beside the token protocol (a browser fails a handshake that offered
	// subprotocols and got none back).
	FeedSubprotocol = "streamspace.v1"
	// TokenSubprotocolPrefix carries a bearer token in Sec-WebSocket-Protocol,
	// base64url-encoded without padding, the form kube-apiserver accepts.
	TokenSubprotocolPrefix = "base64url.bearer.authorization.k8s.io."
)

// AnonymousConfig copies cfg without any credentials: the clients built
// from it for requests act with the caller's token only.
func AnonymousConfig(cfg *rest.Config) *rest.Config {
	anon := rest.AnonymousClientConfig(cfg)
	anon.QPS, anon.Burst = cfg.QPS, cfg.Burst
	return anon
}

// HasCredentials reports whether cfg carries any identity of its own.
func HasCredentials(cfg *rest.Config) bool {
	return cfg.BearerToken != "" || cfg.BearerTokenFile != "" || cfg.Username != "" || cfg.Password != "" ||
		cfg.CertFile != "" || cfg.KeyFile != "" || len(cfg.CertData) > 0 || len(cfg.KeyData) > 0 ||
		cfg.AuthProvider != nil || cfg.ExecProvider != nil || cfg.Impersonate.UserName != ""
}

// BearerToken finds the caller's token: the Authorization header, and for
// WebSocket handshakes also the Sec-WebSocket-Protocol form and, when
// allowed, ?access_token=.
func BearerToken(r *http.Request, allowQuery bool) (string, error) {
	if auth := r.Header.Get("Authorization"); auth != "" {
		scheme, token, ok := strings.Cut(auth, " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
			return "", fmt.Errorf("the Authorization header must be \"Bearer <token>\"")
		}
		return strings.TrimSpace(token), nil
	}
	if !IsWebSocketHandshake(r) {
		return "", nil
	}
	for _, protocols := range r.Header.Values("Sec-WebSocket-Protocol") {
		for _, p := range strings.Split(protocols, ",") {
			p = strings.TrimSpace(p)
			if encoded, ok := strings.CutPrefix(p, TokenSubprotocolPrefix); ok {
				token, err := base64.RawURLEncoding.DecodeString(encoded)
				if err != nil || len(token) == 0 {
					return "", fmt.Errorf("Sec-WebSocket-Protocol %s<token>: the token must be base64url without padding", TokenSubprotocolPrefix)
				}
				return string(token), nil
			}
		}
	}
	if token := r.URL.Query().Get("access_token"); token != "" {
		if !allowQuery {
			return "", fmt.Errorf("access_token in the query is disabled on this bridge (--allow-token-in-query); send the token in Sec-WebSocket-Protocol as %s<base64url token>", TokenSubprotocolPrefix)
		}
		return token, nil
	}
	return "", nil
}

// IsWebSocketHandshake reports whether r asks to upgrade to WebSocket.
func IsWebSocketHandshake(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

type callerKey struct{}

// NewContext returns ctx carrying the caller of a request.
func NewContext(ctx context.Context, c *Caller) context.Context {
	return context.WithValue(ctx, callerKey{}, c)
}

// FromContext is the caller NewContext put in ctx, or nil.
func FromContext(ctx context.Context) *Caller {
	c, _ := ctx.Value(callerKey{}).(*Caller)
	return c
}

// FromRequest is the caller of an authenticated request.
func FromRequest(r *http.Request) *Caller {
	return FromContext(r.Context())
}
