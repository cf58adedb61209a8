package identity

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"testing"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"

	"github.com/streamspace/controlplane/pkg/bridge/internal/fakeapi"
)

func jwtWithExpiry(exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	payload, _ := json.Marshal(map[string]any{"sub": "jwt-user", "exp": exp.Unix()})
	return enc([]byte(`{"alg":"RS256"}`)) + "." + enc(payload) + ".c2ln"
}

// Refused tokens leave nothing behind but a bounded hash; accepted ones are
// cached in an LRU of bounded size, never past a JWT's exp.
func TestTokenCacheAdmitsOnlyAcceptedTokens(t *testing.T) {
	api := &fakeapi.Server{}
	apiServer := httptest.NewServer(api)
	t.Cleanup(apiServer.Close)
	cache, err := NewCache(&rest.Config{Host: apiServer.URL}, 0, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 50 {
		if _, err := cache.ForToken(t.Context(), fmt.Sprintf("made-up-%d", i)); !apierrors.IsUnauthorized(err) {
			t.Fatalf("made-up token: %v, want 401", err)
		}
	}
	if n := cache.accepted.Len(); n != 0 {
		t.Errorf("%d clients cached after only refused tokens, want 0", n)
	}
	if n := cache.refused.Len(); n > maxRefusedTokens {
		t.Errorf("%d refused tokens remembered, want at most %d", n, maxRefusedTokens)
	}
	for i := range 5 {
		for range 2 {
			if _, err := cache.ForToken(t.Context(), fmt.Sprintf("user:u%d", i)); err != nil {
				t.Fatalf("accepted token: %v", err)
			}
		}
	}
	if n := cache.accepted.Len(); n != 3 {
		t.Errorf("%d clients cached, want the bound 3", n)
	}
	if n := api.Reviews.Load(); n != 5 {
		t.Errorf("%d reviews for 5 tokens used twice each, want 5 (the second use is cached)", n)
	}

	exp := time.Now().Add(90 * time.Second).Truncate(time.Second)
	u, err := cache.ForToken(t.Context(), jwtWithExpiry(exp))
	if err != nil {
		t.Fatal(err)
	}
	if !u.expires.Equal(exp) || u.Username() != "jwt-user" {
		t.Errorf("JWT cached until %s as %q, want until its exp %s as jwt-user", u.expires, u.Username(), exp)
	}
	if _, err := cache.ForToken(t.Context(), jwtWithExpiry(time.Now().Add(-time.Minute))); err != nil {
		t.Fatal(err)
	}
	if n := cache.accepted.Len(); n != 3 {
		t.Errorf("%d cached; an expired JWT must not be cached", n)
	}
	// Keys are hashes: no cached key is a token.
	for _, key := range []string{"user:u4", jwtWithExpiry(exp)} {
		if _, ok := cache.accepted.Get(key); ok {
			t.Errorf("the cache is keyed by a raw token")
		}
	}
}
