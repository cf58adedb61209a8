package gitcatalog

import (
	"errors"
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/skeema/knownhosts"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/gitcatalog/giturl"
)

// Keys of the credentials Secret.
const (
	SecretKeyToken         = "token"
	SecretKeyUsername      = "username"
	SecretKeyPassword      = "password"
	SecretKeySSHPrivateKey = "ssh-privatekey" // as in Secrets of type kubernetes.io/ssh-auth
	SecretKeySSHPassphrase = "ssh-passphrase"
	SecretKeyKnownHosts    = "known_hosts"
	SecretKeyCABundle      = "ca.crt"

	// DefaultTokenUsername is sent with a token: GitHub, GitLab and Gitea
	// accept a token as the password of HTTP basic auth with any user name.
	DefaultTokenUsername = "x-access-token"
)

// Auth types, as in TemplateRepository spec.auth.type.
const (
	AuthNone  = "none"
	AuthToken = "token"
	AuthBasic = "basic"
	AuthSSH   = "ssh"
)

// Credentials of one repository. They live in memory only, for one fetch.
type Credentials struct {
	Type          string
	Username      string
	Password      string // the password, or the token
	SSHPrivateKey []byte
	SSHPassphrase string
	KnownHosts    []byte
	CABundle      []byte
}

// SecretAllowsRepository reports whether a credentials Secret's annotations
// list the repository in catalog.stream.space/repositories (comma-separated
// names; spaces around them are ignored; no wildcard).
func SecretAllowsRepository(annotations map[string]string, repository string) bool {
	for _, name := range strings.Split(annotations[catalog.RepositoriesAnnotation], ",") {
		if strings.TrimSpace(name) == repository && repository != "" {
			return true
		}
	}
	return false
}

// CredentialsFromSecret reads the keys authType needs from a Secret's data.
// A missing key is an error that names it (and never a value).
func CredentialsFromSecret(authType string, data map[string][]byte) (*Credentials, error) {
	c := &Credentials{Type: authType, CABundle: data[SecretKeyCABundle]}
	need := func(keys ...string) error {
		var missing []string
		for _, k := range keys {
			if len(data[k]) == 0 {
				missing = append(missing, k)
			}
		}
		if len(missing) > 0 {
			sort.Strings(missing)
			return fmt.Errorf("auth type %s needs the key(s) %s in the Secret", authType, strings.Join(missing, ", "))
		}
		return nil
	}
	switch authType {
	case AuthNone, "":
		c.Type = AuthNone
	case AuthToken:
		if err := need(SecretKeyToken); err != nil {
			return nil, err
		}
		c.Username, c.Password = string(data[SecretKeyUsername]), strings.TrimSpace(string(data[SecretKeyToken]))
		if c.Username == "" {
			c.Username = DefaultTokenUsername
		}
	case AuthBasic:
		if err := need(SecretKeyUsername, SecretKeyPassword); err != nil {
			return nil, err
		}
		c.Username, c.Password = string(data[SecretKeyUsername]), string(data[SecretKeyPassword])
	case AuthSSH:
		if err := need(SecretKeySSHPrivateKey, SecretKeyKnownHosts); err != nil {
			return nil, fmt.Errorf("%w (host keys are always verified)", err)
		}
		c.SSHPrivateKey, c.KnownHosts = data[SecretKeySSHPrivateKey], data[SecretKeyKnownHosts]
		c.SSHPassphrase = string(data[SecretKeySSHPassphrase])
	default:
		return nil, fmt.Errorf("unknown auth type %q", authType)
	}
	return c, nil
}

func (c *Credentials) caBundle() []byte {
	if c == nil {
		return nil
	}
	return c.CABundle
}

// authMethod builds go-git's auth for one fetch from rawURL.
func (c *Credentials) authMethod(rawURL string) (transport.AuthMethod, error) {
	if c == nil || c.Type == AuthNone {
		return nil, nil
	}
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse url %s: %w", giturl.Redact(rawURL), err)
	}
	switch c.Type {
	case AuthToken, AuthBasic:
		// Never in clear: a password over http:// is readable by anyone on the path.
		if ep.Protocol == "http" {
			return nil, fmt.Errorf("auth type %s needs an https:// URL: credentials are never sent over plain http", c.Type)
		}
		if ep.Protocol != "https" {
			return nil, fmt.Errorf("auth type %s works with https URLs, not %s", c.Type, ep.Protocol)
		}
		return &githttp.BasicAuth{Username: c.Username, Password: c.Password}, nil
	case AuthSSH:
		if ep.Protocol != "ssh" {
			return nil, fmt.Errorf("auth type ssh works with ssh URLs, not %s", ep.Protocol)
		}
		user := ep.User
		if user == "" {
			user = "git"
		}
		keys, err := gitssh.NewPublicKeys(user, c.SSHPrivateKey, c.SSHPassphrase)
		if err != nil {
			return nil, c.scrub(fmt.Errorf("read ssh-privatekey: %w", err))
		}
		db, err := knownHostsDB(c.KnownHosts)
		if err != nil {
			return nil, err
		}
		port := ep.Port
		if port == 0 {
			port = 22
		}
		hostPort := net.JoinHostPort(ep.Host, strconv.Itoa(port))
		algorithms := db.HostKeyAlgorithms(hostPort)
		if len(algorithms) == 0 {
			return nil, fmt.Errorf("known_hosts has no key for %s: host keys are always verified", hostPort)
		}
		keys.HostKeyCallback = db.HostKeyCallback()
		keys.HostKeyAlgorithms = algorithms
		return keys, nil
	}
	return nil, fmt.Errorf("unknown auth type %q", c.Type)
}

// knownHostsDB parses known_hosts. The parser reads files only, so the
// (public) host keys pass through a private temporary file that is removed
// at once; the private key never touches the disk.
func knownHostsDB(data []byte) (*knownhosts.HostKeyDB, error) {
	f, err := os.CreateTemp("", "known_hosts-")
	if err != nil {
		return nil, fmt.Errorf("parse known_hosts: %w", err)
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("parse known_hosts: %w", err)
	}
	if err := f.Close(); err != nil {
		return nil, fmt.Errorf("parse known_hosts: %w", err)
	}
	db, err := knownhosts.NewDB(f.Name())
	if err != nil {
		return nil, fmt.Errorf("parse known_hosts: %w", errors.New(strings.ReplaceAll(err.Error(), f.Name(), "known_hosts")))
	}
	return db, nil
}

// scrub removes every secret value from an error's message.
func (c *Credentials) scrub(err error) error {
	if err == nil || c == nil {
		return err
	}
	msg := err.Error()
	clean := msg
	for _, secret := range []string{c.Password, c.SSHPassphrase, string(c.SSHPrivateKey)} {
		if len(secret) >= 4 {
			clean = strings.ReplaceAll(clean, secret, "<redacted>")
		}
	}
	if clean == msg {
		return err
	}
	return &scrubbedError{msg: clean, err: err}
}

type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }
