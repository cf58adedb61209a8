package cli

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	clientauthv1 "k8s.io/client-go/pkg/apis/clientauthentication/v1"

	"github.com/streamspace/controlplane/internal/oidclogin"
)

// oidcToken is `streamspace-dev oidc-token`, a kubectl credential plugin:
// it prints an ExecCredential with an ID token of the OpenID provider,
// cached in --cache and refreshed before it expires, signing in through
// the provider's login page when it has no usable refresh token.
func oidcToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("streamspace-dev oidc-token", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var opts oidclogin.Options
	var passwordFile string
	fs.StringVar(&opts.Issuer, "issuer", "", "issuer URL of the OpenID provider")
	fs.StringVar(&opts.ClientID, "client-id", "", "public client to sign in with")
	fs.StringVar(&opts.CAFile, "ca", "", "CA bundle of the provider's serving certificate (default: system roots)")
	fs.StringVar(&opts.Username, "user", "", "username at the provider")
	fs.StringVar(&passwordFile, "password-file", "", "file holding the password")
	fs.StringVar(&opts.CacheDir, "cache", "", "directory caching the tokens (default: none)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if opts.Issuer == "" || opts.ClientID == "" || opts.Username == "" || passwordFile == "" {
		return errors.New("oidc-token: --issuer, --client-id, --user and --password-file are required")
	}
	password, err := os.ReadFile(passwordFile)
	if err != nil {
		return fmt.Errorf("oidc-token: %w", err)
	}
	opts.Password = strings.TrimSpace(string(password))
	tok, err := oidclogin.IDToken(ctx, opts)
	if err != nil {
		return fmt.Errorf("oidc-token: %w", err)
	}
	expiry := metav1.NewTime(tok.Expiry)
	return json.NewEncoder(stdout).Encode(clientauthv1.ExecCredential{
		TypeMeta: metav1.TypeMeta{APIVersion: clientauthv1.SchemeGroupVersion.String(), Kind: "ExecCredential"},
		Status:   &clientauthv1.ExecCredentialStatus{Token: tok.IDToken, ExpirationTimestamp: &expiry},
	})
}
