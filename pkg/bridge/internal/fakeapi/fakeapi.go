// Package fakeapi is a stand-in for kube-apiserver in the bridge's unit
// tests: it admits tokens by SelfSubjectReview and lists no sessions.
package fakeapi

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
)

// Server answers SelfSubjectReviews like kube-apiserver: tokens
// "user:<name>" (and any JWT, as jwt-user) are accepted as <name>, every
// other token is 401. Other paths answer an empty SessionList.
type Server struct {
	// Reviews counts the SelfSubjectReviews answered.
	Reviews atomic.Int64
}

func (f *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
	user, ok := strings.CutPrefix(token, "user:")
	if parts := strings.Split(token, "."); len(parts) == 3 {
		user, ok = "jwt-user", true
	}
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"Unauthorized","reason":"Unauthorized","code":401}`)
		return
	}
	if strings.HasSuffix(r.URL.Path, "/selfsubjectreviews") {
		f.Reviews.Add(1)
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"kind":"SelfSubjectReview","apiVersion":"authentication.k8s.io/v1","status":{"userInfo":{"username":%q}}}`, user)
		return
	}
	_, _ = io.WriteString(w, `{"kind":"SessionList","apiVersion":"stream.space/v1alpha1","metadata":{"resourceVersion":"1"},"items":[]}`)
}
