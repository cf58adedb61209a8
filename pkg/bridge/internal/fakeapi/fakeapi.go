// Package fakeapi is a stand-in for kube-apiserver in the bridge's unit
// tests: it admits tokens by SelfSubjectReview, answers
// SelfSubjectAccessReviews from a small rule set, serves the sessions it is
// given and lists none.
package fakeapi

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync/atomic"

	authorizationv1 "k8s.io/api/authorization/v1"
	"k8s.io/client-go/kubernetes/scheme"
)

// Server answers SelfSubjectReviews like kube-apiserver: tokens
// "user:<name>" (and any JWT, as jwt-user) are accepted as <name>, every
// other token is 401. SelfSubjectAccessReviews allow every verb but
// "assign", which only Assigners have; GET of a session answers it from
// Sessions or 404. Other paths answer an empty SessionList.
type Server struct {
	// Reviews counts the SelfSubjectReviews answered.
	Reviews atomic.Int64
	// AccessReviews counts the SelfSubjectAccessReviews answered.
	AccessReviews atomic.Int64
	// Sessions maps "namespace/name" to the session's spec.user.
	Sessions map[string]string
	// Assigners are the users allowed the assign verb.
	Assigners map[string]bool
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
	if strings.HasSuffix(r.URL.Path, "/selfsubjectaccessreviews") {
		f.AccessReviews.Add(1)
		// client-go sends built-in types as protobuf; the scheme's
		// deserializer reads that and JSON alike.
		body, _ := io.ReadAll(r.Body)
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, nil, nil)
		review, ok := obj.(*authorizationv1.SelfSubjectAccessReview)
		if err != nil || !ok || review.Spec.ResourceAttributes == nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"reason":"BadRequest","code":400}`, fmt.Sprintf("not a SelfSubjectAccessReview with resource attributes: %v", err))
			return
		}
		allowed := review.Spec.ResourceAttributes.Verb != "assign" || f.Assigners[user]
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"kind":"SelfSubjectAccessReview","apiVersion":"authorization.k8s.io/v1","status":{"allowed":%t}}`, allowed)
		return
	}
	if ns, name, ok := sessionPath(r.URL.Path); ok {
		owner, found := f.Sessions[ns+"/"+name]
		if !found {
			w.WriteHeader(http.StatusNotFound)
			fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"sessions.stream.space %q not found","reason":"NotFound","details":{"name":%q,"group":"stream.space","kind":"sessions"},"code":404}`, name, name)
			return
		}
		fmt.Fprintf(w, `{"kind":"Session","apiVersion":"stream.space/v1alpha1","metadata":{"name":%q,"namespace":%q},"spec":{"user":%q,"template":"t"}}`, name, ns, owner)
		return
	}
	_, _ = io.WriteString(w, `{"kind":"SessionList","apiVersion":"stream.space/v1alpha1","metadata":{"resourceVersion":"1"},"items":[]}`)
}

// sessionPath parses /apis/stream.space/v1alpha1/namespaces/<ns>/sessions/<name>.
func sessionPath(path string) (namespace, name string, ok bool) {
	rest, ok := strings.CutPrefix(path, "/apis/stream.space/v1alpha1/namespaces/")
	if !ok {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[1] != "sessions" {
		return "", "", false
	}
	return parts[0], parts[2], true
}
