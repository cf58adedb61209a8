package kubeconfig

import (
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestWrite(t *testing.T) {
	cluster := Cluster{Server: "https://127.0.0.1:6443", CAData: []byte("ca")}
	tests := []struct {
		name, context, user string
		creds               Credentials
	}{
		{"token", "alice@streamspace-dev", "alice", Credentials{Token: "secret"}},
		{"client certificate", "streamspace-controller", "streamspace-controller", Credentials{ClientCertificateData: []byte("crt"), ClientKeyData: []byte("key")}},
		{"no credentials", ClusterName, "", Credentials{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "kubeconfig")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := Write(path, cluster, tt.context, tt.user, tt.creds); err != nil {
				t.Fatal(err)
			}
			if info, err := os.Stat(path); err != nil || info.Mode().Perm() != 0o600 {
				t.Fatalf("mode %v, %v; want 0600", info.Mode(), err)
			}
			cfg, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			kctx := cfg.Contexts[cfg.CurrentContext]
			if cfg.CurrentContext != tt.context || kctx == nil || kctx.Cluster != ClusterName || kctx.AuthInfo != tt.user {
				t.Fatalf("current context %q = %+v", cfg.CurrentContext, kctx)
			}
			if c := cfg.Clusters[ClusterName]; c.Server != cluster.Server || string(c.CertificateAuthorityData) != "ca" {
				t.Errorf("cluster %+v", c)
			}
			if tt.user == "" {
				if len(cfg.AuthInfos) != 0 {
					t.Errorf("users %v, want none", cfg.AuthInfos)
				}
				return
			}
			auth := cfg.AuthInfos[tt.user]
			if auth.Token != tt.creds.Token || string(auth.ClientCertificateData) != string(tt.creds.ClientCertificateData) || string(auth.ClientKeyData) != string(tt.creds.ClientKeyData) {
				t.Errorf("user %+v, want %+v", auth, tt.creds)
			}
		})
	}
}
