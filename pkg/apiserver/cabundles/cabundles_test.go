package cabundles

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
)

// fakeBundle is a CA provider whose content the test sets.
type fakeBundle struct {
	name      string
	mu        sync.Mutex
	content   []byte
	listeners []dynamiccertificates.Listener
}

func (f *fakeBundle) Name() string { return f.name }
func (f *fakeBundle) CurrentCABundleContent() []byte {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.content
}
func (f *fakeBundle) VerifyOptions() (x509.VerifyOptions, bool) { return x509.VerifyOptions{}, false }
func (f *fakeBundle) AddListener(l dynamiccertificates.Listener) {
	f.listeners = append(f.listeners, l)
}
func (f *fakeBundle) load(content string) {
	f.mu.Lock()
	f.content = []byte(content)
	f.mu.Unlock()
	for _, l := range f.listeners {
		l.Enqueue()
	}
}

var codecs = func() serializer.CodecFactory {
	scheme := runtime.NewScheme()
	scheme.AddUnversionedTypes(schema.GroupVersion{Version: "v1"}, &metav1.Status{})
	return serializer.NewCodecFactory(scheme)
}()

func withCert(r *http.Request) *http.Request {
	r.TLS = &tls.ConnectionState{PeerCertificates: []*x509.Certificate{{}}}
	return r
}

func TestReadyzNamesTheMissingBundles(t *testing.T) {
	client, front := &fakeBundle{name: "client-ca"}, &fakeBundle{name: "request-header-ca"}
	g := New(time.Second, client, nil, front)
	check := g.ReadyzCheck()
	if check.Name() != CheckName {
		t.Fatalf("check name %q, want %q", check.Name(), CheckName)
	}
	err := check.Check(nil)
	if err == nil || !strings.Contains(err.Error(), "client-ca") || !strings.Contains(err.Error(), "request-header-ca") {
		t.Fatalf("with nothing loaded: %v, want both bundles named", err)
	}
	client.load("ca")
	if err := check.Check(nil); err == nil || strings.Contains(err.Error(), "client-ca,") || !strings.Contains(err.Error(), "request-header-ca") {
		t.Fatalf("with the client CA loaded: %v, want only the request-header CA named", err)
	}
	front.load("ca")
	if err := check.Check(nil); err != nil {
		t.Fatalf("with both loaded: %v", err)
	}
}

func TestHoldWaitsForTheBundles(t *testing.T) {
	front := &fakeBundle{name: "request-header-ca"}
	g := New(time.Hour, front)
	var served atomic.Int32
	h := g.Hold(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }), codecs)

	// Without a certificate: served at once.
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	if served.Load() != 1 || rec.Code != http.StatusOK {
		t.Fatalf("request without a certificate: served %d, code %d", served.Load(), rec.Code)
	}

	// With a certificate: held until the bundle arrives, then served.
	done := make(chan int)
	go func() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, withCert(httptest.NewRequest("GET", "/apis", nil)))
		done <- rec.Code
	}()
	select {
	case code := <-done:
		t.Fatalf("request with a certificate answered %d before the CA was loaded", code)
	case <-time.After(50 * time.Millisecond):
	}
	if served.Load() != 1 {
		t.Fatal("request with a certificate reached the handler before the CA was loaded")
	}
	front.load("ca")
	if code := <-done; code != http.StatusOK || served.Load() != 2 {
		t.Fatalf("after the CA was loaded: code %d, served %d", code, served.Load())
	}
}

func TestHoldAnswers503WithRetryAfter(t *testing.T) {
	g := New(time.Millisecond, &fakeBundle{name: "request-header-ca"})
	h := g.Hold(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("handler reached without a CA")
	}), codecs)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, withCert(httptest.NewRequest("GET", "/apis", nil)))
	if rec.Code != http.StatusServiceUnavailable {
		t.Fatalf("code %d, want 503", rec.Code)
	}
	if got := rec.Header().Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	if body := rec.Body.String(); !strings.Contains(body, "request-header-ca") || !strings.Contains(body, `"reason":"ServiceUnavailable"`) {
		t.Errorf("body %s: want a ServiceUnavailable Status naming the bundle", body)
	}
}
