package repository

import (
	"strings"
	"testing"

	"github.com/spf13/pflag"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/flowcontrol"

	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// The catalog sync client has a limiter of its own, set by its flags: not
// the manager's (even when the manager's config carries a limiter object),
// and the manager's limit is left as it was.
func TestCatalogSyncClientHasItsOwnLimit(t *testing.T) {
	sharedLimiter := flowcontrol.NewTokenBucketRateLimiter(50, 100)
	shared := &rest.Config{Host: "https://127.0.0.1:6443", QPS: 50, Burst: 100, RateLimiter: sharedLimiter, UserAgent: "streamspace-controller"}
	opts := NewOptions()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	opts.AddFlags(fs)
	if err := fs.Parse([]string{"--catalog-sync-qps=123", "--catalog-sync-burst=45"}); err != nil {
		t.Fatal(err)
	}
	if err := opts.Validate(); err != nil {
		t.Fatal(err)
	}
	client, err := catalogSyncClient(shared, *opts)
	if err != nil {
		t.Fatal(err)
	}
	limiter := client.CatalogV1alpha1().RESTClient().GetRateLimiter()
	if limiter == sharedLimiter {
		t.Fatal("the catalog sync client uses the manager's limiter")
	}
	if limiter.QPS() != 123 {
		t.Errorf("the catalog sync client's limit is %v QPS, want 123", limiter.QPS())
	}
	sharedClient, err := versioned.NewForConfig(shared)
	if err != nil {
		t.Fatal(err)
	}
	if got := sharedClient.CatalogV1alpha1().RESTClient().GetRateLimiter(); got != sharedLimiter || shared.QPS != 50 || shared.Burst != 100 {
		t.Errorf("the manager's limit changed: limiter %v, QPS %v, burst %d", got, shared.QPS, shared.Burst)
	}
	if shared.UserAgent != "streamspace-controller" {
		t.Errorf("the manager's user agent changed to %q", shared.UserAgent)
	}
}

func TestCatalogSyncLimitValidation(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  func(*Options)
		want string
	}{
		{"zero QPS", func(o *Options) { o.CatalogSyncQPS = 0 }, "--catalog-sync-qps"},
		{"negative QPS", func(o *Options) { o.CatalogSyncQPS = -1 }, "--catalog-sync-qps"},
		{"zero burst", func(o *Options) { o.CatalogSyncBurst = 0 }, "--catalog-sync-burst"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := NewOptions()
			tc.set(o)
			if err := o.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Validate() = %v, want an error naming %s", err, tc.want)
			}
		})
	}
}
