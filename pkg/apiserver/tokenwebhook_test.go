package apiserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/endpoints/request"
)

func TestTokenReviewHandler(t *testing.T) {
	authn := authenticator.TokenFunc(func(_ context.Context, token string) (*authenticator.Response, bool, error) {
		if token != "ssk_good_x" {
			return nil, false, nil
		}
		return &authenticator.Response{User: &user.DefaultInfo{Name: "oidc:carol", UID: "sub", Groups: []string{"g"},
			Extra: map[string][]string{"streamspace.io/api-key": {"good"}}}}, true, nil
	})
	h := tokenReviewHandler(authn, sets.New("kube-apiserver-client"))
	review := func(caller user.Info, method, token string) (*httptest.ResponseRecorder, authenticationv1.TokenReview) {
		body, _ := json.Marshal(authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{Token: token}})
		req := httptest.NewRequest(method, TokenReviewPath, strings.NewReader(string(body)))
		if caller != nil {
			req = req.WithContext(request.WithUser(req.Context(), caller))
			req.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{Subject: pkix.Name{CommonName: caller.GetName()}}}}
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		var out authenticationv1.TokenReview
		if rec.Code == http.StatusOK {
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatalf("decode %s: %v", rec.Body, err)
			}
		}
		return rec, out
	}
	kube := &user.DefaultInfo{Name: "kube-apiserver-client"}

	rec, out := review(kube, http.MethodPost, "ssk_good_x")
	u := out.Status.User
	if rec.Code != http.StatusOK || !out.Status.Authenticated || u.Username != "oidc:carol" || u.UID != "sub" ||
		len(u.Groups) != 1 || u.Extra["streamspace.io/api-key"][0] != "good" {
		t.Errorf("the good token: %d %+v", rec.Code, out)
	}
	if out.Spec.Token != "" || strings.Contains(rec.Body.String(), "ssk_good_x") {
		t.Error("the answer repeats the token")
	}
	if _, out := review(kube, http.MethodPost, "ssk_bad_x"); out.Status.Authenticated {
		t.Error("a bad token was authenticated")
	}
	for what, caller := range map[string]user.Info{"anonymous": nil, "a person": &user.DefaultInfo{Name: "oidc:carol"},
		"system:anonymous": &user.DefaultInfo{Name: user.Anonymous}} {
		if rec, _ := review(caller, http.MethodPost, "ssk_good_x"); rec.Code != http.StatusForbidden {
			t.Errorf("%s calls the webhook: %d, want 403", what, rec.Code)
		}
	}
	// The allowed name by another credential than a client certificate.
	body := `{"spec":{"token":"ssk_good_x"}}`
	req := httptest.NewRequest(http.MethodPost, TokenReviewPath, strings.NewReader(body))
	req = req.WithContext(request.WithUser(req.Context(), kube))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != http.StatusForbidden {
		t.Errorf("the allowed name without its client certificate: %d, want 403", rec.Code)
	}
	if rec, _ := review(kube, http.MethodGet, ""); rec.Code != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", rec.Code)
	}
}
