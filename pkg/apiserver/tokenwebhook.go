package apiserver

import (
	"encoding/json"
	"io"
	"net/http"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"
)

// TokenReviewPath is where streamspace-apiserver serves kube-apiserver's
// token webhook (--authentication-token-webhook-config-file) for API keys.
// The server's authorization lets every request through to it (the path is
// in --authorization-always-allow-paths); the handler answers only the
// identities named by --token-webhook-allowed-names, authenticated by
// kube-apiserver's client certificate of that name, and 403 for anyone else,
// so nobody else can probe tokens.
const TokenReviewPath = "/authenticate/apikeys"

// maxTokenReviewBytes bounds a TokenReview body.
const maxTokenReviewBytes = 64 << 10

// tokenReviewHandler answers TokenReviews (authentication.k8s.io/v1) with
// authn, for the callers named in allowed.
func tokenReviewHandler(authn authenticator.Token, allowed sets.Set[string]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		logger := klog.FromContext(req.Context())
		if req.Method != http.MethodPost {
			http.Error(w, "POST a TokenReview", http.StatusMethodNotAllowed)
			return
		}
		caller, ok := request.UserFrom(req.Context())
		// The name must be the one of the client certificate presented, so
		// that no bearer token or front-proxy header of that name passes.
		if !ok || !allowed.Has(caller.GetName()) || !presentedCertificateOf(req, caller.GetName()) {
			name := "anonymous"
			if ok {
				name = caller.GetName()
			}
			logger.V(2).Info("refused a token review from a caller other than kube-apiserver", "user", name)
			http.Error(w, "forbidden: only kube-apiserver may review API key tokens (--token-webhook-allowed-names)", http.StatusForbidden)
			return
		}
		var review authenticationv1.TokenReview
		if err := json.NewDecoder(io.LimitReader(req.Body, maxTokenReviewBytes)).Decode(&review); err != nil {
			http.Error(w, "decode TokenReview: "+err.Error(), http.StatusBadRequest)
			return
		}
		resp, authenticated, err := authn.AuthenticateToken(req.Context(), review.Spec.Token)
		out := authenticationv1.TokenReview{TypeMeta: review.TypeMeta}
		if out.APIVersion == "" {
			out.APIVersion, out.Kind = authenticationv1.SchemeGroupVersion.String(), "TokenReview"
		}
		switch {
		case err != nil:
			logger.Error(err, "reviewing an API key token")
			out.Status.Error = err.Error()
		case authenticated:
			u := resp.User
			extra := map[string]authenticationv1.ExtraValue{}
			for k, v := range u.GetExtra() {
				extra[k] = v
			}
			out.Status = authenticationv1.TokenReviewStatus{Authenticated: true, User: authenticationv1.UserInfo{
				Username: u.GetName(), UID: u.GetUID(), Groups: u.GetGroups(), Extra: extra,
			}}
		}
		w.Header().Set("Content-Type", "application/json")
		if err := json.NewEncoder(w).Encode(&out); err != nil {
			logger.Error(err, "writing a token review")
		}
	})
}

// presentedCertificateOf tells whether the request's client certificate has
// the common name name.
func presentedCertificateOf(req *http.Request, name string) bool {
	return req.TLS != nil && len(req.TLS.PeerCertificates) > 0 && req.TLS.PeerCertificates[0].Subject.CommonName == name
}
