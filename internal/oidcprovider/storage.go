package oidcprovider

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

const (
	accessTokenLifetime  = 10 * time.Minute
	refreshTokenLifetime = 24 * time.Hour
	// authRequestLifetime bounds how long a login page stays usable.
	authRequestLifetime = 10 * time.Minute
)

// storage keeps the provider's people and clients, and in memory the
// requests and tokens in flight: a restart ends every session, and the
// clients sign in again.
type storage struct {
	people   map[string]*Person // by Username
	subjects map[string]*Person // by Subject
	clients  map[string]opClient
	key      signingKey
	now      func() time.Time

	mu            sync.Mutex
	authRequests  map[string]*authRequest
	codes         map[string]string // code → authRequest id
	accessTokens  map[string]*accessToken
	refreshTokens map[string]*refreshToken
}

var _ op.Storage = (*storage)(nil)

type signingKey struct {
	id        string
	algorithm jose.SignatureAlgorithm
	signer    crypto.Signer
}

func (k signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return k.algorithm }
func (k signingKey) Key() any                                    { return k.signer }
func (k signingKey) ID() string                                  { return k.id }

type publicKey struct{ signingKey }

func (k publicKey) Algorithm() jose.SignatureAlgorithm { return k.algorithm }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.signer.Public() }

// newSigningKey names the key by its JWK thumbprint, so a key kept across
// restarts keeps its kid.
func newSigningKey(signer crypto.Signer) (signingKey, error) {
	var alg jose.SignatureAlgorithm
	switch k := signer.(type) {
	case *ecdsa.PrivateKey:
		if k.Curve.Params().BitSize != 256 {
			return signingKey{}, fmt.Errorf("ECDSA signing key on %s: want P-256", k.Curve.Params().Name)
		}
		alg = jose.ES256
	case *rsa.PrivateKey:
		alg = jose.RS256
	default:
		return signingKey{}, fmt.Errorf("signing key of type %T: want ECDSA P-256 or RSA", signer)
	}
	thumb, err := (&jose.JSONWebKey{Key: signer.Public()}).Thumbprint(crypto.SHA256)
	if err != nil {
		return signingKey{}, fmt.Errorf("signing key thumbprint: %w", err)
	}
	return signingKey{id: base64.RawURLEncoding.EncodeToString(thumb), algorithm: alg, signer: signer}, nil
}

// randomID is an unguessable identifier for codes, tokens and requests.
func randomID() string { return rand.Text() }

func constantTimeEqual(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}

// checkPassword completes the authorization request id for the person
// with these credentials.
func (s *storage) checkPassword(id, username, password string) error {
	person, ok := s.people[username]
	// Both comparisons run for an unknown user too, in the same time.
	if !ok || !constantTimeEqual(person.Password, password) {
		return errors.New("wrong username or password")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[id]
	if !ok {
		return errors.New("the sign-in request expired; start again")
	}
	req.subject, req.authTime, req.done = person.Subject, s.now(), true
	return nil
}

func (s *storage) CreateAuthRequest(_ context.Context, r *oidc.AuthRequest, _ string) (op.AuthRequest, error) {
	if slices.Contains(r.Prompt, oidc.PromptNone) {
		return nil, oidc.ErrLoginRequired()
	}
	req := &authRequest{
		id: randomID(), created: s.now(), clientID: r.ClientID, redirectURI: r.RedirectURI,
		state: r.State, nonce: r.Nonce, scopes: r.Scopes, responseType: r.ResponseType, responseMode: r.ResponseMode,
	}
	if r.CodeChallenge != "" {
		req.codeChallenge = &oidc.CodeChallenge{Challenge: r.CodeChallenge, Method: r.CodeChallengeMethod}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.forgetExpiredLocked()
	s.authRequests[req.id] = req
	return req, nil
}

// forgetExpiredLocked drops requests and tokens no one can use any more.
func (s *storage) forgetExpiredLocked() {
	now := s.now()
	for id, req := range s.authRequests {
		if now.Sub(req.created) > authRequestLifetime {
			delete(s.authRequests, id)
		}
	}
	for code, id := range s.codes {
		if _, ok := s.authRequests[id]; !ok {
			delete(s.codes, code)
		}
	}
	for id, t := range s.accessTokens {
		if now.After(t.expires) {
			delete(s.accessTokens, id)
		}
	}
	for id, t := range s.refreshTokens {
		if now.After(t.expires) {
			delete(s.refreshTokens, id)
		}
	}
}

func (s *storage) AuthRequestByID(_ context.Context, id string) (op.AuthRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	req, ok := s.authRequests[id]
	if !ok {
		return nil, errors.New("authorization request not found")
	}
	return req, nil
}

func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	s.mu.Lock()
	id, ok := s.codes[code]
	s.mu.Unlock()
	if !ok {
		return nil, errors.New("code invalid or expired")
	}
	return s.AuthRequestByID(ctx, id)
}

func (s *storage) SaveAuthCode(_ context.Context, id, code string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.codes[code] = id
	return nil
}

func (s *storage) DeleteAuthRequest(_ context.Context, id string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.authRequests, id)
	for code, reqID := range s.codes {
		if reqID == id {
			delete(s.codes, code)
		}
	}
	return nil
}

func (s *storage) CreateAccessToken(_ context.Context, r op.TokenRequest) (string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := s.newAccessTokenLocked(r, "")
	return t.id, t.expires, nil
}

func (s *storage) newAccessTokenLocked(r op.TokenRequest, refresh string) *accessToken {
	t := &accessToken{id: randomID(), subject: r.GetSubject(), scopes: r.GetScopes(), expires: s.now().Add(accessTokenLifetime), refresh: refresh}
	if c, ok := r.(interface{ GetClientID() string }); ok {
		t.clientID = c.GetClientID()
	}
	s.accessTokens[t.id] = t
	return t
}

func (s *storage) CreateAccessAndRefreshTokens(_ context.Context, r op.TokenRequest, current string) (string, string, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := &refreshToken{token: randomID(), subject: r.GetSubject(), scopes: r.GetScopes(), expires: s.now().Add(refreshTokenLifetime)}
	switch req := r.(type) {
	case *authRequest:
		next.clientID, next.authTime, next.amr = req.clientID, req.authTime, req.GetAMR()
	case refreshTokenRequest:
		next.clientID, next.authTime, next.amr = req.clientID, req.authTime, req.amr
	default:
		return "", "", time.Time{}, fmt.Errorf("refresh token for a %T", r)
	}
	if current != "" {
		old, ok := s.refreshTokens[current]
		if !ok || s.now().After(old.expires) {
			return "", "", time.Time{}, op.ErrInvalidRefreshToken
		}
		delete(s.refreshTokens, current)
		delete(s.accessTokens, old.accessToken)
	}
	t := s.newAccessTokenLocked(r, next.token)
	next.accessToken = t.id
	s.refreshTokens[next.token] = next
	return t.id, next.token, t.expires, nil
}

func (s *storage) TokenRequestByRefreshToken(_ context.Context, token string) (op.RefreshTokenRequest, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refreshTokens[token]
	if !ok || s.now().After(t.expires) {
		return nil, op.ErrInvalidRefreshToken
	}
	copied := *t
	copied.scopes = slices.Clone(t.scopes)
	return refreshTokenRequest{&copied}, nil
}

func (s *storage) TerminateSession(_ context.Context, subject, clientID string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, t := range s.refreshTokens {
		if t.subject == subject && t.clientID == clientID {
			delete(s.refreshTokens, id)
			delete(s.accessTokens, t.accessToken)
		}
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(_ context.Context, clientID, token string) (string, string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t, ok := s.refreshTokens[token]
	if !ok || t.clientID != clientID {
		return "", "", op.ErrInvalidRefreshToken
	}
	return t.subject, t.token, nil
}

func (s *storage) RevokeToken(_ context.Context, tokenOrID, subject, clientID string) *oidc.Error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if t, ok := s.accessTokens[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.accessTokens, tokenOrID)
		return nil
	}
	if t, ok := s.refreshTokens[tokenOrID]; ok {
		if t.clientID != clientID {
			return oidc.ErrInvalidClient().WithDescription("token was not issued to this client")
		}
		delete(s.refreshTokens, tokenOrID)
		delete(s.accessTokens, t.accessToken)
	}
	return nil
}

func (s *storage) SigningKey(context.Context) (op.SigningKey, error) { return s.key, nil }

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{s.key.algorithm}, nil
}

func (s *storage) KeySet(context.Context) ([]op.Key, error) {
	return []op.Key{publicKey{s.key}}, nil
}

func (s *storage) GetClientByClientID(_ context.Context, id string) (op.Client, error) {
	c, ok := s.clients[id]
	if !ok {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	return c, nil
}

func (s *storage) AuthorizeClientIDSecret(_ context.Context, id, secret string) error {
	c, ok := s.clients[id]
	if !ok || c.public() || !constantTimeEqual(c.Secret, secret) {
		return oidc.ErrInvalidClient().WithDescription("wrong client id or secret")
	}
	return nil
}

func (s *storage) SetUserinfoFromScopes(_ context.Context, info *oidc.UserInfo, subject, _ string, scopes []string) error {
	return s.setUserinfo(info, subject, scopes)
}

func (s *storage) SetUserinfoFromToken(_ context.Context, info *oidc.UserInfo, tokenID, _, _ string) error {
	s.mu.Lock()
	t, ok := s.accessTokens[tokenID]
	s.mu.Unlock()
	if !ok || s.now().After(t.expires) {
		return errors.New("access token invalid or expired")
	}
	return s.setUserinfo(info, t.subject, t.scopes)
}

func (s *storage) setUserinfo(info *oidc.UserInfo, subject string, scopes []string) error {
	p, ok := s.subjects[subject]
	if !ok {
		return errors.New("unknown subject")
	}
	info.Subject = p.Subject
	for _, scope := range scopes {
		switch scope {
		case oidc.ScopeProfile:
			info.PreferredUsername = p.Username
			info.Name = p.Name
		case oidc.ScopeEmail:
			info.Email = p.Email
			info.EmailVerified = true
		case GroupsScope:
			info.AppendClaims("groups", slices.Clone(p.Groups))
		}
	}
	return nil
}

func (s *storage) SetIntrospectionFromToken(_ context.Context, resp *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	s.mu.Lock()
	t, ok := s.accessTokens[tokenID]
	s.mu.Unlock()
	if !ok || s.now().After(t.expires) || t.clientID != clientID {
		return errors.New("token inactive")
	}
	info := new(oidc.UserInfo)
	if err := s.setUserinfo(info, t.subject, t.scopes); err != nil {
		return err
	}
	resp.SetUserInfo(info)
	resp.Scope = t.scopes
	resp.ClientID = t.clientID
	resp.Expiration = oidc.FromTime(t.expires)
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

// GetKeyByIDAndClientID serves the JWT profile grant and private_key_jwt
// client authentication, neither of which this provider offers.
func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, errors.New("no client keys")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, errors.New("the JWT profile grant is not offered")
}

func (s *storage) Health(context.Context) error { return nil }
