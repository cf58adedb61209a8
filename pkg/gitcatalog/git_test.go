package gitcatalog_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"

	"github.com/streamspace/controlplane/internal/gittest"
	"github.com/streamspace/controlplane/pkg/gitcatalog"
)

func template(name, image string) []byte {
	return []byte("apiVersion: stream.space/v1alpha1\nkind: Template\nmetadata: {name: " + name + "}\nspec: {displayName: " + name + ", baseImage: " + image + ", vnc: {enabled: true}}\n")
}

func TestFetchCredentials(t *testing.T) {
	srv := gittest.Start(t)
	repo := srv.CreateRepo("private", false)
	head := repo.Commit("first", map[string][]byte{"apps/a.yaml": template("a", "img:1")})

	otherKnownHosts := func() []byte {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		key, _ := ssh.NewPublicKey(pub)
		return []byte(knownhosts.Line([]string{knownhosts.Normalize(srv.SSHHost)}, key) + "\n")
	}()
	cases := []struct {
		name    string
		url     string
		secret  map[string][]byte
		typ     string
		wantErr string // substring; "" = success
	}{
		{name: "token", url: srv.HTTPSRepoURL("private"), typ: gitcatalog.AuthToken, secret: map[string][]byte{"token": []byte(srv.Token), "ca.crt": srv.CACert}},
		{name: "basic", url: srv.HTTPSRepoURL("private"), typ: gitcatalog.AuthBasic, secret: map[string][]byte{"username": []byte(srv.Username), "password": []byte(srv.Password), "ca.crt": srv.CACert}},
		{name: "no credentials", url: srv.HTTPRepoURL("private"), typ: gitcatalog.AuthNone, wantErr: "authentication required"},
		{name: "wrong token", url: srv.HTTPSRepoURL("private"), typ: gitcatalog.AuthToken, secret: map[string][]byte{"token": []byte("ghp_wrongwrongwrong"), "ca.crt": srv.CACert}, wantErr: "authentication required"},
		{name: "wrong password", url: srv.HTTPSRepoURL("private"), typ: gitcatalog.AuthBasic, secret: map[string][]byte{"username": []byte(srv.Username), "password": []byte("hunter2-wrong"), "ca.crt": srv.CACert}, wantErr: "authentication required"},
		{name: "token over plain http is refused", url: srv.HTTPRepoURL("private"), typ: gitcatalog.AuthToken, secret: map[string][]byte{"token": []byte(srv.Token)}, wantErr: "never sent over plain http"},
		{name: "basic over plain http is refused", url: srv.HTTPRepoURL("private"), typ: gitcatalog.AuthBasic, secret: map[string][]byte{"username": []byte(srv.Username), "password": []byte(srv.Password)}, wantErr: "never sent over plain http"},
		{name: "ssh", url: srv.SSHRepoURL("private"), typ: gitcatalog.AuthSSH, secret: map[string][]byte{"ssh-privatekey": srv.ClientKey, "known_hosts": srv.KnownHosts}},
		{name: "ssh, host key not the known one", url: srv.SSHRepoURL("private"), typ: gitcatalog.AuthSSH, secret: map[string][]byte{"ssh-privatekey": srv.ClientKey, "known_hosts": otherKnownHosts}, wantErr: "key mismatch"},
		{name: "ssh without known_hosts fails closed", url: srv.SSHRepoURL("private"), typ: gitcatalog.AuthSSH, secret: map[string][]byte{"ssh-privatekey": srv.ClientKey}, wantErr: "needs the key(s) known_hosts"},
		{name: "token on an ssh URL", url: srv.SSHRepoURL("private"), typ: gitcatalog.AuthToken, secret: map[string][]byte{"token": []byte(srv.Token)}, wantErr: "works with https URLs"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(srv.AuthorizationHeaders("private"))
			fetcher := &gitcatalog.Fetcher{WorkDir: t.TempDir()}
			creds, err := gitcatalog.CredentialsFromSecret(tc.typ, tc.secret)
			var checkout *gitcatalog.Checkout
			if err == nil {
				checkout, err = fetcher.Fetch(context.Background(), "repo", gitcatalog.Source{URL: tc.url, Branch: "main"}, creds)
			}
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("fetch: %v", err)
				}
				if checkout.Commit != head {
					t.Errorf("commit %s, want %s", checkout.Commit, head)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
			for k, v := range tc.secret {
				if k != "ca.crt" && len(v) > 0 && strings.Contains(err.Error(), string(v)) {
					t.Errorf("error shows a secret value: %v", err)
				}
			}
			if strings.Contains(tc.wantErr, "plain http") {
				if got := srv.AuthorizationHeaders("private")[before:]; len(got) != 0 {
					t.Errorf("a refused fetch still reached the server: %q", got)
				}
			}
		})
	}
}

// TestFetchRefusesCrossHostRedirects: a Git server that redirects to another
// host (here another origin, the same repositories over plain HTTP on another
// port, and a second TLS server) gets no credentials there and no request at all.
func TestFetchRefusesCrossHostRedirects(t *testing.T) {
	srv := gittest.Start(t)
	srv.CreateRepo("private", false).Commit("first", map[string][]byte{"a.yaml": template("a", "img:1")})
	other := gittest.Start(t)
	other.CreateRepo("private", false).Commit("first", map[string][]byte{"a.yaml": template("a", "img:1")})
	srv.Redirect("moved", other.HTTPSRepoURL("private"))
	srv.CreateRepo("renamed", false)
	srv.Redirect("renamed", srv.HTTPSRepoURL("private"))

	secret := map[string][]byte{"token": []byte(srv.Token), "ca.crt": append(append([]byte{}, srv.CACert...), other.CACert...)}
	creds, err := gitcatalog.CredentialsFromSecret(gitcatalog.AuthToken, secret)
	if err != nil {
		t.Fatal(err)
	}
	fetcher := &gitcatalog.Fetcher{WorkDir: t.TempDir()}
	_, err = fetcher.Fetch(context.Background(), "moved", gitcatalog.Source{URL: srv.HTTPSRepoURL("moved"), Branch: "main"}, creds)
	if err == nil || !strings.Contains(err.Error(), "refused redirect") {
		t.Fatalf("fetch through a cross-host redirect: error %v, want a refused redirect", err)
	}
	if strings.Contains(err.Error(), srv.Token) {
		t.Errorf("error shows the token: %v", err)
	}
	if got := srv.AuthorizationHeaders("moved"); len(got) == 0 {
		t.Fatalf("the first host saw no request")
	}
	if got := other.AuthorizationHeaders("private"); len(got) != 0 {
		t.Errorf("the other host got requests (Authorization headers %q)", got)
	}

	// Within the host a redirect is followed, credentials included.
	if _, err := fetcher.Fetch(context.Background(), "renamed", gitcatalog.Source{URL: srv.HTTPSRepoURL("renamed"), Branch: "main"}, creds); err != nil {
		t.Fatalf("fetch through a same-host redirect: %v", err)
	}
}

func TestFetchFollowsTheBranch(t *testing.T) {
	srv := gittest.Start(t)
	repo := srv.CreateRepo("public", true)
	repo.Commit("first", map[string][]byte{
		"apps/a.yaml":  template("a", "img:1"),
		"apps/b.yaml":  template("b", "img:1"),
		"other/c.yaml": template("c", "img:1"),
		"README.md":    []byte("hi"),
	})
	fetcher := &gitcatalog.Fetcher{WorkDir: t.TempDir()}
	src := gitcatalog.Source{URL: srv.HTTPRepoURL("public"), Branch: "main"}
	ctx := context.Background()

	first, err := fetcher.Fetch(ctx, "public", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	files, err := first.Files("apps")
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(files); got != "a.yaml,b.yaml" {
		t.Errorf("files under apps/: %s", got)
	}

	second := repo.Commit("change", map[string][]byte{"apps/b.yaml": nil, "apps/d.yaml": template("d", "img:2")})
	fetches := srv.UploadPackRequests("public")
	checkout, err := fetcher.Fetch(ctx, "public", src, nil)
	if err != nil {
		t.Fatal(err)
	}
	if checkout.Commit != second {
		t.Fatalf("commit %s after fetch, want %s", checkout.Commit, second)
	}
	if srv.UploadPackRequests("public") != fetches+1 {
		t.Errorf("the second sync did not fetch into the existing clone")
	}
	files, err = checkout.Files("apps")
	if err != nil {
		t.Fatal(err)
	}
	if got := paths(files); got != "a.yaml,d.yaml" {
		t.Errorf("files after the change: %s", got)
	}
	if _, err := checkout.Files("missing"); err == nil || !strings.Contains(err.Error(), `spec.path "missing" does not exist`) {
		t.Errorf("missing sub-path: %v", err)
	}
	if _, err := fetcher.Fetch(ctx, "public", gitcatalog.Source{URL: src.URL, Branch: "nope"}, nil); err == nil || !strings.Contains(err.Error(), "branch nope") {
		t.Errorf("missing branch: %v", err)
	}
}

func paths(files []gitcatalog.File) string {
	var out []string
	for _, f := range files {
		out = append(out, f.Path)
	}
	return strings.Join(out, ",")
}
