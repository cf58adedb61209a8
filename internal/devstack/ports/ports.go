// Package ports chooses the TCP ports of a dev stack's listeners on
// loopback and keeps them stable across restarts of one state directory.
package ports

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
)

// Ports of the stack's listeners. Zero means: reuse the port this Dir used
// last time if it is still free, else pick a free one.
type Ports struct {
	Postgres          int `json:"postgres"`
	Etcd              int `json:"etcd"`
	EtcdPeer          int `json:"etcdPeer"`
	KubeAPIServer     int `json:"kubeAPIServer"`
	ControllerManager int `json:"controllerManager"`
	Scheduler         int `json:"scheduler"`
	Streamspace       int `json:"streamspace"`
	Controller        int `json:"controller"` // streamspace-controller's /healthz and /metrics (HTTP on loopback)
	Bridge            int `json:"bridge"`     // streamspace-bridge (HTTP on loopback)
	OIDC              int `json:"oidc"`       // the OpenID provider (HTTPS on loopback)
	Kwok              int `json:"kwok"`       // kwok's kubelet server: pods' exec and logs (HTTPS on loopback)
}

// Resolve fills the zero ports of want: the port this directory used
// last time (ports.json) when it is still free, so URLs stay stable across
// restarts, else a free one. The result is saved for next time.
func Resolve(path string, want Ports) (Ports, error) {
	var last Ports
	if data, err := os.ReadFile(path); err == nil {
		_ = json.Unmarshal(data, &last)
	}
	taken := map[int]bool{}
	for _, p := range want.all() {
		if *p != 0 {
			taken[*p] = true
		}
	}
	lastAll := last.all()
	for i, p := range want.all() {
		if *p != 0 {
			continue
		}
		if prev := *lastAll[i]; prev != 0 && !taken[prev] && portFree(prev) {
			*p = prev
		} else {
			for {
				free, err := Free()
				if err != nil {
					return Ports{}, err
				}
				if !taken[free] {
					*p = free
					break
				}
			}
		}
		taken[*p] = true
	}
	data, _ := json.MarshalIndent(want, "", "  ")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return Ports{}, fmt.Errorf("save ports: %w", err)
	}
	return want, nil
}

func (p *Ports) all() []*int {
	return []*int{&p.Postgres, &p.Etcd, &p.EtcdPeer, &p.KubeAPIServer, &p.ControllerManager, &p.Scheduler, &p.Streamspace, &p.Bridge, &p.Controller, &p.OIDC, &p.Kwok}
}

// Free is a port no one listens on at the moment, on 127.0.0.1.
func Free() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false
	}
	l.Close()
	return true
}
