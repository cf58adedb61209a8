package devstack

import (
	"fmt"
	"os"
	"strconv"
	"strings"
)

// PID returns the process id of a running component of the stack
// ("kube-apiserver", "streamspace-apiserver", "etcd", ...), from its pid file.
func (s *Stack) PID(component string) (int, error) {
	data, err := os.ReadFile(s.paths.PidFile(component))
	if err != nil {
		return 0, fmt.Errorf("devstack: pid of %s: %w", component, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		return 0, fmt.Errorf("devstack: pid file of %s: %w", component, err)
	}
	return pid, nil
}
