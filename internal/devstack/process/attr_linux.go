package process

import "syscall"

// procAttr puts a child in its own process group (so Ctrl-C in the terminal
// reaches only the owner, which then stops the children in order) and kills
// it when the owner dies, whatever the reason.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// DetachedAttr is for the background owner started by Up: a session of its
// own, so it outlives the launcher and its terminal.
func DetachedAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setsid: true}
}
