package identity

import (
	"fmt"
	"net/http"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
)

// AllNamespaces is the ?namespace= value that asks for every namespace the
// caller may list cluster-wide (admins).
const AllNamespaces = "*"

// Namespace picks the namespace a request works in: ?namespace= when
// given ("*" = all namespaces, for reads), else the namespace named like the
// user (a service account's own namespace for service accounts). What the
// user may do there is RBAC's decision on the call that follows.
func Namespace(r *http.Request, c *Caller) (string, int, error) {
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		if ns == AllNamespaces {
			if r.Method != http.MethodGet {
				return "", http.StatusBadRequest, fmt.Errorf("namespace: %q is only for reads; name one namespace", AllNamespaces)
			}
			return metav1.NamespaceAll, 0, nil
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return "", http.StatusBadRequest, fmt.Errorf("namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		return ns, 0, nil
	}
	return defaultNamespace(c.namespaceUser)
}

func defaultNamespace(user string) (string, int, error) {
	if rest, ok := strings.CutPrefix(user, "system:serviceaccount:"); ok {
		if ns, _, ok := strings.Cut(rest, ":"); ok {
			return ns, 0, nil
		}
	}
	if errs := validation.IsDNS1123Label(user); len(errs) > 0 {
		return "", http.StatusBadRequest, fmt.Errorf("namespace: no ?namespace= given and the user name %q is not a namespace name; pass ?namespace=<your namespace>", user)
	}
	return user, 0, nil
}

// Scope is the caller of an authenticated request and the namespace the
// request works in (see Namespace). When the namespace is not acceptable it
// has answered the request, and ok is false.
func Scope(w http.ResponseWriter, r *http.Request) (c *Caller, namespace string, ok bool) {
	c = FromRequest(r)
	namespace, status, err := Namespace(r, c)
	if err != nil {
		httpjson.Error(w, status, err.Error())
		return nil, "", false
	}
	return c, namespace, true
}
