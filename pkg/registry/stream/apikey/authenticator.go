package apikey

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/user"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// Getter reads a key with its hash: the registry's store, not the REST
// storage clients see.
type Getter interface {
	Get(ctx context.Context, name string, options *metav1.GetOptions) (runtime.Object, error)
}

// Authenticator authenticates API key tokens: the key the token names must
// exist, not be deleted or expired, and its stored hash must match the
// token's. The user is the key's spec.user with its uid and groups, and the
// extra streamspace.io/api-key naming the key.
type Authenticator struct {
	keys Getter
	now  func() time.Time
}

var _ authenticator.Token = &Authenticator{}

// NewAuthenticator returns an authenticator reading keys from store.
func NewAuthenticator(store Getter) *Authenticator {
	return &Authenticator{keys: store, now: time.Now}
}

// AuthenticateToken implements authenticator.Token. A token that is not an
// API key, or not a valid one, is (nil, false, nil); an error means the
// keys could not be read.
func (a *Authenticator) AuthenticateToken(ctx context.Context, token string) (*authenticator.Response, bool, error) {
	name, ok := ParseToken(token)
	if !ok {
		return nil, false, nil
	}
	logger := klog.FromContext(ctx)
	obj, err := a.keys.Get(genericapirequest.WithNamespace(ctx, metav1.NamespaceNone), name, &metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		logger.V(3).Info("API key refused: no such key", "key", name)
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read API key %s: %w", name, err)
	}
	key, ok := obj.(*stream.APIKey)
	switch {
	case !ok:
		return nil, false, fmt.Errorf("read API key %s: got %T", name, obj)
	case !TokenMatches(token, key.Status.TokenHash):
		logger.V(3).Info("API key refused: wrong secret", "key", name)
		return nil, false, nil
	case key.DeletionTimestamp != nil:
		logger.V(3).Info("API key refused: deleted", "key", name)
		return nil, false, nil
	case key.Spec.ExpiresAt == nil || !a.now().Before(key.Spec.ExpiresAt.Time):
		logger.V(3).Info("API key refused: expired", "key", name, "expiresAt", key.Spec.ExpiresAt)
		return nil, false, nil
	case key.Spec.User == "":
		return nil, false, nil
	}
	return &authenticator.Response{User: &user.DefaultInfo{
		Name:   key.Spec.User,
		UID:    key.Spec.UID,
		Groups: append([]string(nil), key.Spec.Groups...),
		Extra:  map[string][]string{ExtraAPIKey: {key.Name}},
	}}, true, nil
}
