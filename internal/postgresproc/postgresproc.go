// Package postgresproc starts a private PostgreSQL 15 cluster in a folder: the
// storage tests and the local dev stack use it instead of a system service.
package postgresproc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
)

const (
	defaultDatabase = "streamspace"
	superuser       = "postgres"
	// stopTimeout bounds a fast shutdown before the postmaster is killed.
	stopTimeout = 30 * time.Second
	// startTimeout bounds how long Start waits for the server to accept connections.
	startTimeout = 60 * time.Second
)

// Options say where and how the cluster runs.
type Options struct {
	Dir      string // data+socket dir; initdb runs when Dir has no PG_VERSION yet; reused (state survives) otherwise
	Port     int    // 0 = pick a free TCP port on 127.0.0.1
	Database string // created if missing (default "streamspace")
	LogFile  string // optional; default Dir/postgres.log
	// Settings are extra server settings ("name=value"), each passed as -c.
	// $POSTGRES_EXTRA_SETTINGS (comma separated) is appended to them.
	Settings []string
}

// Server is a cluster started by Start or StartStandby. Stop or Kill end its
// postmaster; Restart starts it again in the same folder on the same port.
type Server struct {
	dir      string
	port     int
	database string
	settings []string
	logFile  string
	cred     *syscall.Credential

	mu   sync.Mutex
	proc *postmaster // nil once stopped or killed
}

// postmaster is one run of the server process.
type postmaster struct {
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the postmaster has exited
	waitErr error
}

// BinDir is where initdb and postgres are: $POSTGRES_BIN_DIR or /usr/lib/postgresql/15/bin.
func BinDir() string {
	if d := os.Getenv("POSTGRES_BIN_DIR"); d != "" {
		return d
	}
	return "/usr/lib/postgresql/15/bin"
}

// Start initialises Dir if needed, starts postgres on 127.0.0.1 and returns once
// it accepts connections and the database exists.
func Start(ctx context.Context, opts Options) (*Server, error) {
	if opts.Dir == "" {
		return nil, errors.New("postgresproc: Options.Dir is required")
	}
	dir, err := filepath.Abs(opts.Dir)
	if err != nil {
		return nil, fmt.Errorf("postgresproc: resolve dir: %w", err)
	}
	if opts.Database == "" {
		opts.Database = defaultDatabase
	}
	if opts.LogFile == "" {
		opts.LogFile = filepath.Join(dir, "postgres.log")
	}
	cred, err := credentialForPostgres()
	if err != nil {
		return nil, err
	}
	if err := prepareDir(dir, cred); err != nil {
		return nil, err
	}
	// initdb wants an empty folder, and the default log file lives in it: so
	// initdb runs first and its output is copied into the log afterwards.
	var initdbOutput []byte
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); errors.Is(err, os.ErrNotExist) {
		if initdbOutput, err = initdb(ctx, dir, cred); err != nil {
			return nil, err
		}
	}
	_ = appendLog(opts.LogFile, initdbOutput)

	settings := append([]string(nil), opts.Settings...)
	if extra := os.Getenv("POSTGRES_EXTRA_SETTINGS"); extra != "" {
		for _, s := range strings.Split(extra, ",") {
			if s = strings.TrimSpace(s); s != "" {
				settings = append(settings, s)
			}
		}
	}
	s := &Server{dir: dir, port: opts.Port, database: opts.Database, settings: settings, logFile: opts.LogFile, cred: cred}

	// A port picked by us may be taken by someone else before postgres binds it: retry.
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		if opts.Port == 0 {
			if s.port, err = freePort(); err != nil {
				return nil, err
			}
		}
		if lastErr = s.startPostmaster(ctx); lastErr == nil {
			klog.FromContext(ctx).V(2).Info("postgres started", "dir", dir, "port", s.port, "database", opts.Database)
			return s, nil
		}
		if opts.Port != 0 || ctx.Err() != nil {
			break
		}
	}
	return nil, fmt.Errorf("%w (log: %s)", lastErr, opts.LogFile)
}

func appendLog(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("postgresproc: open log file: %w", err)
	}
	defer f.Close()
	_, err = f.Write(data)
	return err
}

// DSN is a connection string for the database, over TCP, as the superuser.
func (s *Server) DSN() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", superuser, s.port, s.database)
}

// Port is the TCP port postgres listens on.
func (s *Server) Port() int { return s.port }

// PID is the postmaster's process id, 0 when it is not running.
func (s *Server) PID() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc == nil {
		return 0
	}
	return s.proc.cmd.Process.Pid
}

// Stop asks postgres for a fast shutdown (SIGINT) and waits for it to exit;
// it kills the process group if that takes longer than 30s. Stopping a
// stopped server does nothing.
func (s *Server) Stop() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return nil
	}
	s.proc = nil
	select {
	case <-p.exited:
		return nil
	default:
	}
	var err error
	if sigErr := p.cmd.Process.Signal(syscall.SIGINT); sigErr != nil && !errors.Is(sigErr, os.ErrProcessDone) {
		err = fmt.Errorf("postgresproc: signal postgres: %w", sigErr)
	}
	select {
	case <-p.exited:
	case <-time.After(stopTimeout):
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
		for _, pid := range clusterProcesses(s.dir) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		err = errors.New("postgresproc: postgres did not stop in time and was killed")
	}
	return err
}

// Kill sends SIGKILL to the postmaster alone, as a crash or `kill -9` would,
// and returns once it and every process it had started are gone (they notice
// its death and exit; any still there after 30s is killed too). Nothing is
// shut down cleanly: Restart then runs crash recovery.
func (s *Server) Kill() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.proc
	if p == nil {
		return errors.New("postgresproc: postgres is not running")
	}
	s.proc = nil
	// The cluster's processes are known by their working folder only while
	// they live: a process on its way out loses /proc/<pid>/cwd before it
	// becomes a zombie. So they are taken before the kill and waited for
	// by pid, as well as by folder (for one forked meanwhile).
	before := clusterProcesses(s.dir)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("postgresproc: kill postgres: %w", err)
	}
	<-p.exited
	remaining := func() []int {
		pids := clusterProcesses(s.dir)
		for _, pid := range before {
			if alive(pid) && !slices.Contains(pids, pid) {
				pids = append(pids, pid)
			}
		}
		return pids
	}
	for {
		err := wait.PollUntilContextTimeout(context.Background(), 20*time.Millisecond, stopTimeout, true, func(context.Context) (bool, error) {
			return len(remaining()) == 0, nil
		})
		if err == nil {
			return nil
		}
		for _, pid := range remaining() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// alive tells whether pid is a process that has not exited (neither gone
// nor a zombie).
func alive(pid int) bool {
	stat, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return false
	}
	return !exited(stat)
}

// exited tells from /proc/<pid>/stat whether the process is a zombie or dead.
func exited(stat []byte) bool {
	// pid (comm) state ...; comm may hold spaces and parentheses.
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	return len(fields) > 0 && (fields[0] == "Z" || fields[0] == "X")
}

// Restart starts the cluster again, in its folder and on its port, after
// Stop or Kill, and returns once it accepts connections (after Kill, once
// crash recovery is done).
func (s *Server) Restart(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.proc != nil {
		return errors.New("postgresproc: postgres is running")
	}
	if err := s.startPostmasterLocked(ctx); err != nil {
		return fmt.Errorf("%w (log: %s)", err, s.logFile)
	}
	return nil
}

func (s *Server) startPostmaster(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.startPostmasterLocked(ctx)
}

func (s *Server) startPostmasterLocked(ctx context.Context) error {
	logFile, err := os.OpenFile(s.logFile, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("postgresproc: open log file: %w", err)
	}
	defer logFile.Close() // the child keeps its own descriptor
	args := []string{
		"-D", s.dir,
		"-p", strconv.Itoa(s.port),
		"-k", s.dir,
		"-c", "listen_addresses=127.0.0.1",
	}
	for _, setting := range s.settings {
		args = append(args, "-c", setting)
	}
	cmd := exec.Command(filepath.Join(BinDir(), "postgres"), args...)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Setpgid:    true,
		Credential: s.cred,
		// If this process dies without Stop (a test timeout, a crash), postgres
		// gets SIGQUIT (immediate shutdown) instead of running on forever.
		Pdeathsig: syscall.SIGQUIT,
	}
	p := &postmaster{cmd: cmd, exited: make(chan struct{})}
	if err := startLocked(cmd, p.exited, &p.waitErr); err != nil {
		return fmt.Errorf("postgresproc: start postgres: %w", err)
	}
	if err := s.waitReady(ctx, p); err != nil {
		_ = cmd.Process.Signal(syscall.SIGQUIT)
		<-p.exited
		return err
	}
	s.proc = p
	return nil
}

// clusterProcesses are the running processes of the cluster in dir: every
// postgres process works in its data folder. (Its children are not in the
// postmaster's process group: each calls setsid.) Zombies do not count.
func clusterProcesses(dir string) []int {
	if resolved, err := filepath.EvalSymlinks(dir); err == nil {
		dir = resolved
	}
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var pids []int
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if cwd, err := os.Readlink(filepath.Join("/proc", e.Name(), "cwd")); err != nil || cwd != dir {
			continue
		}
		if alive(pid) {
			pids = append(pids, pid)
		}
	}
	return pids
}

// startLocked starts cmd from a goroutine locked to its OS thread and keeps that
// thread alive until the child exits: Linux sends Pdeathsig when the *thread*
// that forked the child ends, not only when the process does.
func startLocked(cmd *exec.Cmd, exited chan struct{}, waitErr *error) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			close(exited)
			return
		}
		started <- nil
		*waitErr = cmd.Wait()
		close(exited)
	}()
	return <-started
}

func (s *Server) waitReady(ctx context.Context, p *postmaster) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	adminDSN := s.adminDSN()
	var conn *pgx.Conn
	var last error
	err := wait.PollUntilContextCancel(ctx, 50*time.Millisecond, true, func(ctx context.Context) (bool, error) {
		select {
		case <-p.exited:
			return false, fmt.Errorf("postgresproc: postgres exited during start-up: %v: %s", p.waitErr, logTail(s.logFile, 5))
		default:
		}
		conn, last = pgx.Connect(ctx, adminDSN)
		return last == nil, nil
	})
	if err != nil {
		if ctx.Err() != nil && last != nil {
			return fmt.Errorf("postgresproc: postgres not ready: %w (last error: %v)", ctx.Err(), last)
		}
		return err
	}
	defer conn.Close(context.Background())
	return ensureDatabase(ctx, conn, s.database)
}

// logTail is the end of the server's log, for errors.
func logTail(path string, lines int) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	all := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, " | ")
}

// adminDSN reaches the postgres database, which always exists.
func (s *Server) adminDSN() string {
	return fmt.Sprintf("postgres://%s@127.0.0.1:%d/postgres?sslmode=disable&connect_timeout=5", superuser, s.port)
}

func ensureDatabase(ctx context.Context, conn *pgx.Conn, database string) error {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", database).Scan(&exists); err != nil {
		return fmt.Errorf("postgresproc: look up database %s: %w", database, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{database}.Sanitize()); err != nil {
		return fmt.Errorf("postgresproc: create database %s: %w", database, err)
	}
	return nil
}

func initdb(ctx context.Context, dir string, cred *syscall.Credential) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(BinDir(), "initdb"),
		"-D", dir, "--auth=trust", "-U", superuser, "--encoding=UTF8", "--no-locale", "--no-sync")
	cmd.Env = childEnv()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: cred}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return out, fmt.Errorf("postgresproc: initdb %s: %w: %s", dir, err, strings.TrimSpace(string(out)))
	}
	return out, nil
}

// credentialForPostgres returns the identity to run postgres as: postgres
// refuses to run as root, so as root we switch to the "postgres" user.
func credentialForPostgres() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("postgresproc: running as root needs a postgres user: %w", err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgresproc: postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgresproc: postgres gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid), NoSetGroups: true}, nil
}

// prepareDir creates dir with the modes postgres demands (0700, owned by the
// server's user) and, when that user is not us, makes every parent traversable
// (o+x only: nothing becomes listable or readable).
func prepareDir(dir string, cred *syscall.Credential) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("postgresproc: create %s: %w", dir, err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return fmt.Errorf("postgresproc: chmod %s: %w", dir, err)
	}
	if cred == nil {
		return nil
	}
	err := filepath.Walk(dir, func(path string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Lchown(path, int(cred.Uid), int(cred.Gid))
	})
	if err != nil {
		return fmt.Errorf("postgresproc: chown %s: %w", dir, err)
	}
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("postgresproc: stat %s: %w", p, err)
		}
		if fi.Mode().Perm()&0o001 == 0 {
			if err := os.Chmod(p, fi.Mode().Perm()|0o001); err != nil {
				return fmt.Errorf("postgresproc: make %s traversable: %w", p, err)
			}
		}
		if p == filepath.Dir(p) {
			return nil
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("postgresproc: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// childEnv is our environment without the libpq variables that would point
// initdb or postgres at another cluster.
func childEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "PG") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LC_ALL=C")
}
