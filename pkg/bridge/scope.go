package bridge

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
)

// allNamespaces is the ?namespace= value that asks for every namespace the
// caller may list cluster-wide (admins).
const allNamespaces = "*"

// namespaceFor picks the namespace a request works in: ?namespace= when
// given ("*" = all namespaces, for reads), else the namespace named like the
// user (a service account's own namespace for service accounts). What the
// user may do there is RBAC's decision on the call that follows.
func namespaceFor(r *http.Request, c caller) (string, int, error) {
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		if ns == allNamespaces {
			if r.Method != http.MethodGet {
				return "", http.StatusBadRequest, fmt.Errorf("namespace: %q is only for reads; name one namespace", allNamespaces)
			}
			return metav1.NamespaceAll, 0, nil
		}
		if errs := validation.IsDNS1123Label(ns); len(errs) > 0 {
			return "", http.StatusBadRequest, fmt.Errorf("namespace %q: %s", ns, strings.Join(errs, "; "))
		}
		return ns, 0, nil
	}
	user, err := c.Username(r.Context())
	if err != nil {
		return "", httpjson.StatusOf(err), fmt.Errorf("find out who the token belongs to (to default the namespace): %w", err)
	}
	return defaultNamespace(user)
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
