package devstack

import (
	"fmt"
	"os"
	"path/filepath"
)

// paths is the layout of the state directory:
//
//	kubeconfig                  admin (system:masters)
//	users/<user>.kubeconfig     sample users (bearer token)
//	users/<user>.token          also metrics-scraper.token (get on /metrics only)
//	kubeconfigs/<component>.kubeconfig
//	pki/                        certificates, keys, tokens.csv (made once)
//	postgres/  etcd/            data
//	manifests/                  generated bootstrap objects, applied with kubectl
//	logs/<component>.log
//	run/<component>.pid  run/owner.pid  run/lock  run/ready  ports.json
type paths struct {
	dir, tools, bin string

	adminKubeconfig string
	pki             string
	users           string
	kubeconfigs     string
	manifests       string
	logs            string
	run             string
	etcdData        string
	postgresData    string
	kubectlCache    string
	portsFile       string
	lockFile        string
	readyFile       string
	ownerPidFile    string
}

func newPaths(dir, tools, bin string) paths {
	run := filepath.Join(dir, "run")
	return paths{
		dir:             dir,
		tools:           tools,
		bin:             bin,
		adminKubeconfig: filepath.Join(dir, "kubeconfig"),
		pki:             filepath.Join(dir, "pki"),
		users:           filepath.Join(dir, "users"),
		kubeconfigs:     filepath.Join(dir, "kubeconfigs"),
		manifests:       filepath.Join(dir, "manifests"),
		logs:            filepath.Join(dir, "logs"),
		run:             run,
		etcdData:        filepath.Join(dir, "etcd"),
		postgresData:    filepath.Join(dir, "postgres"),
		kubectlCache:    filepath.Join(dir, "cache", "kubectl"),
		portsFile:       filepath.Join(dir, "ports.json"),
		lockFile:        filepath.Join(run, "lock"),
		readyFile:       filepath.Join(run, "ready"),
		ownerPidFile:    filepath.Join(run, "owner.pid"),
	}
}

func (p paths) pkiFile(name string) string        { return filepath.Join(p.pki, name) }
func (p paths) userKubeconfig(user string) string { return filepath.Join(p.users, user+".kubeconfig") }
func (p paths) userToken(user string) string      { return filepath.Join(p.users, user+".token") }
func (p paths) kubeconfig(component string) string {
	return filepath.Join(p.kubeconfigs, component+".kubeconfig")
}
func (p paths) log(component string) string     { return filepath.Join(p.logs, component+".log") }
func (p paths) pidFile(component string) string { return filepath.Join(p.run, component+".pid") }
func (p paths) tool(name string) string         { return filepath.Join(p.tools, name) }
func (p paths) manifest(name string) string     { return filepath.Join(p.manifests, name) }

func (s *Stack) prepareDirs() error {
	for _, d := range []string{s.paths.dir, s.paths.pki, s.paths.users, s.paths.kubeconfigs,
		s.paths.manifests, s.paths.logs, s.paths.run, s.paths.kubectlCache} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create %s: %w", d, err)
		}
	}
	// Private keys and tokens live here.
	for _, d := range []string{s.paths.pki, s.paths.users} {
		if err := os.Chmod(d, 0o700); err != nil {
			return err
		}
	}
	return nil
}

// checkBinaries fails early, with the make target to run, when a binary is missing.
func (s *Stack) checkBinaries() error {
	for _, name := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl", "kwok", "kwok-stages.yaml"} {
		if _, err := os.Stat(s.paths.tool(name)); err != nil {
			return fmt.Errorf("devstack: %s missing in tools dir %s (run `make tools`): %w", name, s.paths.tools, err)
		}
	}
	if !s.cfg.WithoutStreamspace {
		if _, err := os.Stat(filepath.Join(s.paths.bin, "streamspace-apiserver")); err != nil {
			return fmt.Errorf("devstack: streamspace-apiserver missing in %s (run `make build`): %w", s.paths.bin, err)
		}
	}
	return nil
}
