package oidcprovider

import (
	"slices"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
)

// GroupsScope asks for the groups claim (a list of group names) in the ID
// token and from the userinfo endpoint.
const GroupsScope = "groups"

// Person is someone who can sign in on the login page.
type Person struct {
	Subject  string // the sub claim: stable, never reused
	Username string // preferred_username, and what the login form asks for
	Password string
	Email    string
	Name     string
	Groups   []string
}

// Client is an OAuth client of the provider.
type Client struct {
	ID string
	// Secret authenticates a confidential client (HTTP Basic); a public
	// client has none and must use PKCE.
	Secret string
	// RedirectURIs are the registered redirect URIs. For a public client a
	// loopback URI (http://127.0.0.1/callback) matches on any port, as
	// native applications pick a free one (RFC 8252, section 7.3).
	RedirectURIs []string
	// PostLogoutRedirectURIs may end an RP-initiated logout.
	PostLogoutRedirectURIs []string
	// IDTokenLifetime defaults to 10 minutes.
	IDTokenLifetime time.Duration
}

func (c *Client) public() bool { return c.Secret == "" }

// opClient is Client as package op sees it.
type opClient struct {
	*Client
	loginURL func(authRequestID string) string
}

var _ op.Client = opClient{}

func (c opClient) GetID() string                    { return c.ID }
func (c opClient) RedirectURIs() []string           { return c.Client.RedirectURIs }
func (c opClient) PostLogoutRedirectURIs() []string { return c.Client.PostLogoutRedirectURIs }
func (c opClient) LoginURL(id string) string        { return c.loginURL(id) }
func (c opClient) AccessTokenType() op.AccessTokenType {
	return op.AccessTokenTypeBearer
}
func (c opClient) DevMode() bool                { return false }
func (c opClient) ClockSkew() time.Duration     { return 0 }
func (c opClient) IsScopeAllowed(s string) bool { return s == GroupsScope }

// IDTokenUserinfoClaimsAssertion puts the profile, email and groups claims
// into the ID token even though an access token is issued too: the ID
// token is what kube-apiserver sees, and it maps the user from them.
func (c opClient) IDTokenUserinfoClaimsAssertion() bool { return true }

func (c opClient) IDTokenLifetime() time.Duration {
	if c.Client.IDTokenLifetime > 0 {
		return c.Client.IDTokenLifetime
	}
	return 10 * time.Minute
}

func (c opClient) ApplicationType() op.ApplicationType {
	if c.public() {
		return op.ApplicationTypeNative
	}
	return op.ApplicationTypeWeb
}

func (c opClient) AuthMethod() oidc.AuthMethod {
	if c.public() {
		return oidc.AuthMethodNone
	}
	return oidc.AuthMethodBasic
}

func (c opClient) ResponseTypes() []oidc.ResponseType {
	return []oidc.ResponseType{oidc.ResponseTypeCode}
}

func (c opClient) GrantTypes() []oidc.GrantType {
	return []oidc.GrantType{oidc.GrantTypeCode, oidc.GrantTypeRefreshToken}
}

func (c opClient) RestrictAdditionalIdTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

func (c opClient) RestrictAdditionalAccessTokenScopes() func([]string) []string {
	return func(scopes []string) []string { return scopes }
}

// authRequest is an authorization request between the authorize endpoint
// and the token endpoint; the login page sets subject and done.
type authRequest struct {
	id            string
	created       time.Time
	clientID      string
	redirectURI   string
	state         string
	nonce         string
	scopes        []string
	responseType  oidc.ResponseType
	responseMode  oidc.ResponseMode
	codeChallenge *oidc.CodeChallenge

	subject  string
	authTime time.Time
	done     bool
}

var _ op.AuthRequest = (*authRequest)(nil)

func (a *authRequest) GetID() string                         { return a.id }
func (a *authRequest) GetACR() string                        { return "" }
func (a *authRequest) GetAudience() []string                 { return []string{a.clientID} }
func (a *authRequest) GetAuthTime() time.Time                { return a.authTime }
func (a *authRequest) GetClientID() string                   { return a.clientID }
func (a *authRequest) GetCodeChallenge() *oidc.CodeChallenge { return a.codeChallenge }
func (a *authRequest) GetNonce() string                      { return a.nonce }
func (a *authRequest) GetRedirectURI() string                { return a.redirectURI }
func (a *authRequest) GetResponseType() oidc.ResponseType    { return a.responseType }
func (a *authRequest) GetResponseMode() oidc.ResponseMode    { return a.responseMode }
func (a *authRequest) GetScopes() []string                   { return a.scopes }
func (a *authRequest) GetState() string                      { return a.state }
func (a *authRequest) GetSubject() string                    { return a.subject }
func (a *authRequest) Done() bool                            { return a.done }

func (a *authRequest) GetAMR() []string {
	if a.done {
		return []string{"pwd"}
	}
	return nil
}

// refreshToken is a grant kept for the refresh_token flow; it rotates on
// every use.
type refreshToken struct {
	token       string
	subject     string
	clientID    string
	scopes      []string
	authTime    time.Time
	amr         []string
	expires     time.Time
	accessToken string
}

// refreshTokenRequest is refreshToken as package op sees it.
type refreshTokenRequest struct{ *refreshToken }

var _ op.RefreshTokenRequest = refreshTokenRequest{}

func (r refreshTokenRequest) GetAMR() []string            { return r.amr }
func (r refreshTokenRequest) GetAudience() []string       { return []string{r.clientID} }
func (r refreshTokenRequest) GetAuthTime() time.Time      { return r.authTime }
func (r refreshTokenRequest) GetClientID() string         { return r.clientID }
func (r refreshTokenRequest) GetScopes() []string         { return r.scopes }
func (r refreshTokenRequest) GetSubject() string          { return r.subject }
func (r refreshTokenRequest) SetCurrentScopes(s []string) { r.scopes = slices.Clone(s) }

// accessToken is an opaque access token for the userinfo endpoint.
type accessToken struct {
	id       string
	subject  string
	clientID string
	scopes   []string
	expires  time.Time
	refresh  string
}
