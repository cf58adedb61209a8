package apiserver

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	restclient "k8s.io/client-go/rest"
)

// TestHeartbeatPathDown: the reaper holds only when kube-apiserver does not
// serve (no answer, or /livez failing with a server error); any other
// answer, a refusal included, shows it serving.
func TestHeartbeatPathDown(t *testing.T) {
	answer := func(code int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path != "/livez" {
				t.Errorf("asked %s, want /livez", r.URL.Path)
			}
			w.WriteHeader(code)
			_, _ = w.Write([]byte("answer"))
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		down    bool
	}{
		{"live", answer(http.StatusOK), false},
		{"refused to this server", answer(http.StatusForbidden), false},
		{"not authenticated", answer(http.StatusUnauthorized), false},
		{"too many requests", answer(http.StatusTooManyRequests), false},
		{"too many requests, retry later", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "1")
			answer(http.StatusTooManyRequests)(w, r)
		}, false},
		{"a livez check fails", answer(http.StatusInternalServerError), true},
		{"no answer in time", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() }, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(tc.handler)
			defer srv.Close()
			check, err := heartbeatPathDown(&restclient.Config{Host: srv.URL})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
			defer cancel()
			if err := check(ctx); (err != nil) != tc.down {
				t.Fatalf("down: %v (%v), want %v", err != nil, err, tc.down)
			}
		})
	}
	t.Run("nothing listens", func(t *testing.T) {
		srv := httptest.NewServer(answer(http.StatusOK))
		srv.Close()
		check, err := heartbeatPathDown(&restclient.Config{Host: srv.URL})
		if err != nil {
			t.Fatal(err)
		}
		if err := check(context.Background()); err == nil {
			t.Fatal("a kube-apiserver that does not listen is not seen as down")
		}
	})
	t.Run("no client of kube-apiserver", func(t *testing.T) {
		check, err := heartbeatPathDown(nil)
		if err != nil || check != nil {
			t.Fatalf("got a check (%v, %v) without a client configuration", check != nil, err)
		}
	})
}
