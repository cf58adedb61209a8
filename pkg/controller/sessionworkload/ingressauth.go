package sessionworkload

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// Values of --session-auth.
const (
	// SessionAuthForward: every request to a session's host is first
	// checked by the bridge (forward-auth, see docs/security.md).
	SessionAuthForward = "forward"
	// SessionAuthNone: session Ingresses route without authentication.
	SessionAuthNone = "none"
)

// ingress-nginx annotations of forward-auth
// (https://kubernetes.github.io/ingress-nginx/user-guide/nginx-configuration/annotations/#external-authentication).
const (
	AuthURLAnnotation             = "nginx.ingress.kubernetes.io/auth-url"
	AuthSigninAnnotation          = "nginx.ingress.kubernetes.io/auth-signin"
	AuthResponseHeadersAnnotation = "nginx.ingress.kubernetes.io/auth-response-headers"
	AuthMethodAnnotation          = "nginx.ingress.kubernetes.io/auth-method"
)

// AuthUserHeader is the header the bridge names the allowed caller in; the
// ingress passes it on to the desktop.
const AuthUserHeader = "X-Streamspace-User"

// signinRedirect is appended to the sign-in URL: nginx fills in the URL the
// browser asked for, which the sign-in page sends it back to.
const signinRedirect = "rd=$scheme://$host$escaped_request_uri"

// validateSessionAuth checks --session-auth and its URLs. With an ingress
// domain, forward-auth needs its URL: the controller refuses to start
// rather than publish every desktop to anyone who knows its host, unless
// --session-auth=none says that is wanted.
func (o *Options) validateSessionAuth() []error {
	var errs []error
	switch o.SessionAuth {
	case SessionAuthForward, "":
	case SessionAuthNone:
		if o.SessionAuthURL != "" || o.SessionSigninURL != "" {
			errs = append(errs, errors.New("--session-auth=none turns forward-auth off; drop --session-auth-url and --session-signin-url, or drop --session-auth=none"))
		}
		return errs
	default:
		return []error{fmt.Errorf("--session-auth %q: must be %q or %q", o.SessionAuth, SessionAuthForward, SessionAuthNone)}
	}
	if o.IngressDomain != "" && o.SessionAuthURL == "" {
		errs = append(errs, errors.New("--ingress-domain without --session-auth-url would let anyone who knows a session's host reach its desktop: set --session-auth-url to the bridge's /auth/sessions endpoint (and --session-signin-url to its sign-in page), or opt out deliberately with --session-auth=none"))
	}
	if o.SessionSigninURL != "" && o.SessionAuthURL == "" {
		errs = append(errs, errors.New("--session-signin-url needs --session-auth-url"))
	}
	for _, f := range []struct{ flag, value string }{{"--session-auth-url", o.SessionAuthURL}, {"--session-signin-url", o.SessionSigninURL}} {
		if f.value == "" {
			continue
		}
		if err := validateAuthURL(f.value); err != nil {
			errs = append(errs, fmt.Errorf("%s %q: %w", f.flag, f.value, err))
		}
	}
	return errs
}

func validateAuthURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return err
	case u.Scheme != "http" && u.Scheme != "https":
		return errors.New("must be an http or https URL")
	case u.Host == "":
		return errors.New("must name a host")
	case u.RawQuery != "" || u.Fragment != "" || u.User != nil:
		return errors.New("must have no query, fragment or user info")
	// nginx expands $variables and ingress-nginx copies annotations into
	// its configuration: the URL may hold none of that syntax.
	case strings.ContainsAny(raw, "$\"'{};\\ \t\n"):
		return errors.New("must not contain $, quotes, braces, semicolons, backslashes or spaces")
	}
	return nil
}

// forwardAuthAnnotations are the ingress-nginx annotations that make every
// request to s's host (WebSocket handshakes included) ask the bridge first:
// 2xx passes it on with X-Streamspace-User, 401 sends a browser to sign in,
// anything else refuses it. No ingress-side auth cache (auth-cache-key):
// the bridge keeps decisions a few seconds per token and session, and a
// cache key that missed a credential would hand one person's decision to
// another. Nil when forward-auth is off.
func forwardAuthAnnotations(s *streamv1alpha1.Session, opts Options) map[string]string {
	if opts.SessionAuth == SessionAuthNone || opts.SessionAuthURL == "" {
		return nil
	}
	a := map[string]string{
		AuthURLAnnotation:             strings.TrimRight(opts.SessionAuthURL, "/") + "/" + s.Namespace + "/" + s.Name,
		AuthMethodAnnotation:          "GET",
		AuthResponseHeadersAnnotation: AuthUserHeader,
	}
	if opts.SessionSigninURL != "" {
		a[AuthSigninAnnotation] = opts.SessionSigninURL + "?" + signinRedirect
	}
	return a
}
