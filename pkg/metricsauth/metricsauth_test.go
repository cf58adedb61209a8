package metricsauth

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
)

// fakeAPI answers SelfSubjectAccessReviews: token "admin" may get /metrics,
// "user" may not, anything else is not authenticated.
func fakeAPI(t *testing.T, reviews *int) *httptest.Server {
	return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" {
			http.NotFound(w, r)
			return
		}
		*reviews++
		var review authorizationv1.SelfSubjectAccessReview
		if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
			t.Errorf("decode review: %v", err)
		}
		if a := review.Spec.NonResourceAttributes; a == nil || a.Path != "/metrics" || a.Verb != "get" {
			t.Errorf("review asks %+v, want get /metrics", review.Spec)
		}
		w.Header().Set("Content-Type", "application/json")
		switch r.Header.Get("Authorization") {
		case "Bearer admin":
			review.Status.Allowed = true
		case "Bearer user":
		default:
			w.WriteHeader(http.StatusUnauthorized)
			_ = json.NewEncoder(w).Encode(metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Reason: metav1.StatusReasonUnauthorized, Code: 401})
			return
		}
		_ = json.NewEncoder(w).Encode(review)
	}))
}

func TestHandlerNeedsGetOnMetrics(t *testing.T) {
	var reviews int
	api := fakeAPI(t, &reviews)
	defer api.Close()
	// The component's own credentials must never be used for the review.
	h := Handler(&rest.Config{Host: api.URL, BearerToken: "admin", ContentConfig: rest.ContentConfig{ContentType: "application/json"}}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("metrics"))
	}))
	cases := []struct {
		name          string
		authorization string
		want          int
	}{
		{"anonymous", "", http.StatusUnauthorized},
		{"not a bearer token", "Basic YWRtaW46eA==", http.StatusUnauthorized},
		{"token the API rejects", "Bearer forged", http.StatusUnauthorized},
		{"authenticated without the right", "Bearer user", http.StatusForbidden},
		{"allowed", "Bearer admin", http.StatusOK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
			if tc.authorization != "" {
				r.Header.Set("Authorization", tc.authorization)
			}
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != tc.want {
				t.Errorf("status %d (%s), want %d", w.Code, w.Body.String(), tc.want)
			}
		})
	}
	// A second allowed scrape within the cache period needs no review.
	before := reviews
	r := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	r.Header.Set("Authorization", "Bearer admin")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK || reviews != before {
		t.Errorf("repeat scrape: status %d, %d new reviews; want 200 and none", w.Code, reviews-before)
	}
}
