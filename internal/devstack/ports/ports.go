package devstack

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
)

// resolvePorts fills the zero ports of want: the port this directory used
// last time (ports.json) when it is still free, so URLs stay stable across
// restarts, else a free one. The result is saved for next time.
func resolvePorts(path string, want Ports) (Ports, error) {
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
				free, err := freePort()
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
	return []*int{&p.Postgres, &p.Etcd, &p.EtcdPeer, &p.KubeAPIServer, &p.ControllerManager, &p.Scheduler, &p.Streamspace, &p.Bridge, &p.Controller}
}

func freePort() (int, error) {
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
