//go:build !linux

package process

import "syscall"

// procAttr puts a child in its own process group. Without Pdeathsig outside
// Linux, children of a killed owner are stopped by the next Start (KillStale).
func procAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func DetachedAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
