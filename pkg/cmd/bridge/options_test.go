package bridge

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func writeFile(t *testing.T, content string) string {
	path := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestOptionsValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(*Options)
		wantErr string // substring; "" = valid
	}{
		{"defaults", func(*Options) {}, ""},
		{"allowed origin", func(o *Options) { o.Feed.AllowedOrigins = []string{"https://ui.example.com"} }, ""},
		{"origin with a path", func(o *Options) { o.Feed.AllowedOrigins = []string{"https://ui.example.com/app"} }, "--allowed-origins"},
		{"origin without scheme", func(o *Options) { o.Feed.AllowedOrigins = []string{"ui.example.com"} }, "scheme must be http or https"},
		{"listen without port", func(o *Options) { o.Listen = "localhost" }, "--listen"},
		{"cert without key", func(o *Options) { o.TLSCertFile = "tls.crt" }, "--tls-private-key-file"},
		{"metrics too rare", func(o *Options) { o.Feed.MetricsInterval = 10 * time.Second }, "--metrics-interval must be at most 5s"},
		{"zero snapshot interval", func(o *Options) { o.Feed.SnapshotInterval = 0 }, "--snapshot-interval must be positive"},
		{"tiny buffer", func(o *Options) { o.Feed.ClientBuffer = 1 }, "--client-buffer"},
		{"tiny byte buffer", func(o *Options) { o.Feed.ClientBufferBytes = 1024 }, "--client-buffer-bytes"},
		{"limits off", func(o *Options) { o.Limits.RequestsPerIP, o.Limits.RequestsPerUser, o.Limits.FeedsPerUser = 0, 0, 0 }, ""},
		{"negative feed limit", func(o *Options) { o.Limits.FeedsPerUser = -1 }, "--max-feeds-per-user must not be negative"},
		{"rate without burst", func(o *Options) { o.Limits.BurstPerUser = 0 }, "--user-request-burst"},
		{"zero token cache", func(o *Options) { o.MaxCachedTokens = 0 }, "--max-cached-tokens"},
		{"zero request timeout", func(o *Options) { o.RequestTimeout = 0 }, "--request-timeout must be positive"},
		{"webhook identity without a secret", func(o *Options) { o.WebhookKubeconfig = "bridge.kubeconfig" }, "--webhook-kubeconfig needs --webhook-secret-file"},
		{"webhook secret file missing", func(o *Options) { o.Webhook.SecretFile = "/nonexistent/webhook.secret" }, "--webhook-secret-file"},
		{"webhook secret too short", func(o *Options) { o.Webhook.SecretFile = writeFile(t, "short\n") }, "at least 16 characters"},
		{"webhook secret", func(o *Options) { o.Webhook.SecretFile = writeFile(t, "0123456789abcdef0123\n") }, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := NewOptions()
			tt.change(o)
			err := o.Validate()
			switch {
			case tt.wantErr == "" && err != nil:
				t.Errorf("Validate() = %v, want nil", err)
			case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
				t.Errorf("Validate() = %v, want an error containing %q", err, tt.wantErr)
			}
		})
	}
}
