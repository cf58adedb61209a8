package apikey

import (
	"context"
	"strings"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

func TestTokens(t *testing.T) {
	token, hash := NewToken("carol-ci")
	if !strings.HasPrefix(token, "ssk_carol-ci_") || len(token) != len("ssk_carol-ci_")+64 {
		t.Fatalf("token %q", token)
	}
	if strings.Contains(hash, token) || len(hash) != 64 {
		t.Errorf("hash %q", hash)
	}
	if other, _ := NewToken("carol-ci"); other == token {
		t.Error("two tokens are equal")
	}
	if name, ok := ParseToken(token); !ok || name != "carol-ci" {
		t.Errorf("ParseToken = %q, %v", name, ok)
	}
	if !TokenMatches(token, hash) || TokenMatches(token+"0", hash) || TokenMatches(token, "") {
		t.Error("TokenMatches")
	}
	for _, bad := range []string{"", "ssk_", "ssk_name", "ssk__" + strings.Repeat("0", 64), "ssk_a_" + strings.Repeat("0", 63),
		"ssk_a_" + strings.Repeat("x", 64), "eyJhbGciOi.x.y", "abc_a_" + strings.Repeat("0", 64)} {
		if _, ok := ParseToken(bad); ok {
			t.Errorf("ParseToken(%q) accepted", bad)
		}
	}
}

type keys map[string]*stream.APIKey

func (k keys) Get(_ context.Context, name string, _ *metav1.GetOptions) (runtime.Object, error) {
	if key, ok := k[name]; ok {
		return key, nil
	}
	return nil, apierrors.NewNotFound(stream.Resource("apikeys"), name)
}

func TestAuthenticator(t *testing.T) {
	now := time.Date(2024, 5, 6, 7, 0, 0, 0, time.UTC)
	later := metav1.NewTime(now.Add(time.Hour))
	earlier := metav1.NewTime(now.Add(-time.Second))
	mint := func(name, user string, expires metav1.Time) (string, *stream.APIKey) {
		token, hash := NewToken(name)
		return token, &stream.APIKey{ObjectMeta: metav1.ObjectMeta{Name: name},
			Spec:   stream.APIKeySpec{User: user, UID: "sub", Groups: []string{"streamspace-users"}, ExpiresAt: &expires},
			Status: stream.APIKeyStatus{TokenHash: hash}}
	}
	good, goodKey := mint("good", "oidc:carol", later)
	expired, expiredKey := mint("expired", "oidc:carol", earlier)
	deleting, deletingKey := mint("deleting", "oidc:carol", later)
	deletingKey.DeletionTimestamp = &earlier
	gone, _ := mint("gone", "oidc:carol", later)
	store := keys{"good": goodKey, "expired": expiredKey, "deleting": deletingKey}
	a := &Authenticator{keys: store, now: func() time.Time { return now }}
	ctx := context.Background()

	resp, ok, err := a.AuthenticateToken(ctx, good)
	if err != nil || !ok {
		t.Fatalf("the good key: %v, %v", ok, err)
	}
	u := resp.User
	if u.GetName() != "oidc:carol" || u.GetUID() != "sub" || len(u.GetGroups()) != 1 || u.GetExtra()[ExtraAPIKey][0] != "good" {
		t.Errorf("user %+v", u)
	}
	wrongSecret := good[:len(good)-1] + map[bool]string{true: "1", false: "0"}[strings.HasSuffix(good, "0")]
	for what, token := range map[string]string{
		"expired": expired, "being deleted": deleting, "deleted": gone, "wrong secret": wrongSecret,
		"not an API key":       "eyJhbGciOiJSUzI1NiJ9.e30.sig",
		"another key's secret": "ssk_good_" + strings.TrimPrefix(expired, "ssk_expired_"),
	} {
		if _, ok, err := a.AuthenticateToken(ctx, token); ok || err != nil {
			t.Errorf("%s: authenticated %v, err %v", what, ok, err)
		}
	}
}
