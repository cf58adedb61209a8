// Package layout names the files of a dev stack's state directory, so the
// stack, its command line and its tests agree on where everything is.
package layout

import (
	"fmt"
	"os"
	"path/filepath"
)

// Layout is the layout of the state directory:
//
//	kubeconfig                  admin (system:masters)
//	users/<user>.kubeconfig     sample users (bearer token)
//	users/<user>.token          also metrics-scraper.token (get on /metrics only)
//	users/<person>.password     a person's password at the OpenID provider
//	users/<person>.oidc.kubeconfig   signs in there (streamspace-dev oidc-token)
//	cache/oidc-tokens/          the ID and refresh tokens those kubeconfigs cache
//	kubeconfigs/<component>.kubeconfig
//	pki/                        certificates, keys, tokens.csv (made once)
//	postgres/  etcd/            data
//	manifests/                  generated bootstrap objects, applied with kubectl
//	logs/<component>.log
//	kwok/                       kwok's exec and log configuration; pods' terminals run here, pod.log is every pod's log
//	run/<component>.pid  run/owner.pid  run/lock  run/ready  ports.json
//
// and the directories of the tools (ToolsDir) and of our binaries (BinDir).
type Layout struct {
	Dir, ToolsDir, BinDir string

	AdminKubeconfig string
	PKI             string
	Users           string
	Kubeconfigs     string
	Manifests       string
	Logs            string
	Kwok            string
	Run             string
	EtcdData        string
	PostgresData    string
	KubectlCache    string
	PortsFile       string
	LockFile        string
	ReadyFile       string
	OwnerPidFile    string
}

// New is the layout of the state directory dir.
func New(dir, tools, bin string) Layout {
	run := filepath.Join(dir, "run")
	return Layout{
		Dir:             dir,
		ToolsDir:        tools,
		BinDir:          bin,
		AdminKubeconfig: filepath.Join(dir, "kubeconfig"),
		PKI:             filepath.Join(dir, "pki"),
		Users:           filepath.Join(dir, "users"),
		Kubeconfigs:     filepath.Join(dir, "kubeconfigs"),
		Manifests:       filepath.Join(dir, "manifests"),
		Logs:            filepath.Join(dir, "logs"),
		Kwok:            filepath.Join(dir, "kwok"),
		Run:             run,
		EtcdData:        filepath.Join(dir, "etcd"),
		PostgresData:    filepath.Join(dir, "postgres"),
		KubectlCache:    filepath.Join(dir, "cache", "kubectl"),
		PortsFile:       filepath.Join(dir, "ports.json"),
		LockFile:        filepath.Join(run, "lock"),
		ReadyFile:       filepath.Join(run, "ready"),
		OwnerPidFile:    filepath.Join(run, "owner.pid"),
	}
}

func (l Layout) PKIFile(name string) string        { return filepath.Join(l.PKI, name) }
func (l Layout) UserKubeconfig(user string) string { return filepath.Join(l.Users, user+".kubeconfig") }
func (l Layout) UserToken(user string) string      { return filepath.Join(l.Users, user+".token") }

// UserPassword and UserOIDCKubeconfig are a person's password at the
// OpenID provider and the kubeconfig that signs in with it.
func (l Layout) UserPassword(user string) string { return filepath.Join(l.Users, user+".password") }
func (l Layout) UserOIDCKubeconfig(user string) string {
	return filepath.Join(l.Users, user+".oidc.kubeconfig")
}

// OIDCTokenCache is where the users' OIDC kubeconfigs cache their tokens.
func (l Layout) OIDCTokenCache() string { return filepath.Join(l.Dir, "cache", "oidc-tokens") }
func (l Layout) Kubeconfig(component string) string {
	return filepath.Join(l.Kubeconfigs, component+".kubeconfig")
}
func (l Layout) Log(component string) string     { return filepath.Join(l.Logs, component+".log") }
func (l Layout) PidFile(component string) string { return filepath.Join(l.Run, component+".pid") }
func (l Layout) Tool(name string) string         { return filepath.Join(l.ToolsDir, name) }
func (l Layout) Bin(name string) string          { return filepath.Join(l.BinDir, name) }
func (l Layout) Manifest(name string) string     { return filepath.Join(l.Manifests, name) }

// Prepare creates the directories; those of private keys and tokens are
// readable by their owner only.
func (l Layout) Prepare() error {
	for _, d := range []string{l.Dir, l.PKI, l.Users, l.Kubeconfigs, l.Manifests, l.Logs, l.Run, l.KubectlCache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	for _, d := range []string{l.PKI, l.Users} {
		if err := os.Chmod(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}
