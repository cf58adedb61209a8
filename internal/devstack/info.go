package devstack

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/streamspace/controlplane/internal/devstack/layout"
	"github.com/streamspace/controlplane/internal/devstack/process"
)

// Info describes a running stack; Start writes it to <Dir>/run/ready.
type Info struct {
	Dir              string            `json:"dir"`
	OwnerPid         int               `json:"ownerPid"`
	AdminKubeconfig  string            `json:"adminKubeconfig"`
	UserKubeconfigs  map[string]string `json:"userKubeconfigs"`
	KubeAPIServerURL string            `json:"kubeAPIServerURL"`
	StreamspaceURL   string            `json:"streamspaceURL,omitempty"`
	BridgeURL        string            `json:"bridgeURL,omitempty"`
	PostgresDSN      string            `json:"postgresDSN,omitempty"`
	Kubectl          string            `json:"kubectl"`
	Ports            Ports             `json:"ports"`
	OIDCIssuerURL    string            `json:"oidcIssuerURL,omitempty"`
	OIDCCA           string            `json:"oidcCA,omitempty"`
	People           []PersonInfo      `json:"people,omitempty"`
}

// PersonInfo is where a person of the OpenID provider finds their password
// and kubeconfig.
type PersonInfo struct {
	Name         string `json:"name"`
	PasswordFile string `json:"passwordFile"`
	Kubeconfig   string `json:"kubeconfig"`
}

// Info describes the running stack.
func (s *Stack) Info() Info {
	info := Info{
		Dir: s.Dir, OwnerPid: os.Getpid(), AdminKubeconfig: s.AdminKubeconfig,
		UserKubeconfigs: map[string]string{}, KubeAPIServerURL: s.KubeAPIServerURL,
		PostgresDSN: s.PostgresDSN, Kubectl: s.KubectlPath(), Ports: s.Ports,
	}
	if !s.cfg.WithoutStreamspace {
		info.StreamspaceURL = s.StreamspaceURL
		info.BridgeURL = s.BridgeURL
	}
	for _, u := range s.cfg.Users {
		info.UserKubeconfigs[u] = s.UserKubeconfig(u)
	}
	info.OIDCIssuerURL, info.OIDCCA = s.OIDCIssuerURL, s.OIDCCA
	for _, p := range s.cfg.People {
		info.People = append(info.People, PersonInfo{Name: p.Name, PasswordFile: s.UserPasswordFile(p.Name), Kubeconfig: s.UserOIDCKubeconfig(p.Name)})
	}
	return info
}

func (s *Stack) writeReady() error {
	data, err := json.MarshalIndent(s.Info(), "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(s.paths.ReadyFile, data, 0o644)
}

// ReadInfo returns the Info of the stack running in dir, or an error when
// none is running or it is still starting.
func ReadInfo(dir string) (Info, error) {
	p := layout.New(dir, "", "")
	if !process.Locked(p.LockFile) {
		return Info{}, fmt.Errorf("no stack running in %s", dir)
	}
	data, err := os.ReadFile(p.ReadyFile)
	if err != nil {
		return Info{}, fmt.Errorf("stack in %s is not ready yet", dir)
	}
	var info Info
	if err := json.Unmarshal(data, &info); err != nil {
		return Info{}, fmt.Errorf("read %s: %w", p.ReadyFile, err)
	}
	return info, nil
}

// Leftovers lists the processes of a stack (its components and its
// launcher) that still run with dir in their command line, other than this
// one, to prove that a stop left nothing behind.
func Leftovers(dir string) []string { return process.Using(dir, isComponent) }

func isComponent(argv0 string) bool {
	switch strings.TrimSuffix(filepath.Base(argv0), ":") {
	case "etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok", "streamspace-apiserver", "postgres", "streamspace-dev", bridgeComponent, controllerComponent:
		return true
	}
	return strings.HasPrefix(argv0, "postgres")
}
