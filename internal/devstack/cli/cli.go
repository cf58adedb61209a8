// Package cli is the command line of cmd/streamspace-dev: run a dev stack
// in the foreground, start it in the background and stop it again, and
// show how to use it.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/streamspace/controlplane/internal/devstack"
	"github.com/streamspace/controlplane/internal/devstack/layout"
	"github.com/streamspace/controlplane/internal/devstack/process"
)

// Main is the command line of cmd/streamspace-dev:
//
//	streamspace-dev run|up|down|status [--dir .dev] [--tools-dir D] [--bin-dir D]
//	    [--timeout 5m] [--streamspace-arg=--flag=value ...] [--without-streamspace]
//	streamspace-dev oidc-token --issuer URL --client-id ID [--ca FILE] --user NAME
//	    --password-file FILE [--cache DIR]
//
// run stays in the foreground until interrupted; up starts `run` in the
// background and returns when the stack is ready (at once when it already
// is); down stops what up started; status prints how to use a running stack.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: streamspace-dev run|up|down|status|oidc-token [flags]")
	}
	command, args := args[0], args[1:]
	if command == "oidc-token" {
		return oidcToken(ctx, args, stdout, stderr)
	}
	fs := flag.NewFlagSet("streamspace-dev "+command, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfg devstack.Config
	var streamspaceArgs stringList
	fs.StringVar(&cfg.Dir, "dir", ".dev", "state directory")
	fs.StringVar(&cfg.ToolsDir, "tools-dir", "", "control-plane binaries (default $STREAMSPACE_TOOLS_DIR or "+devstack.DefaultToolsDir()+")")
	fs.StringVar(&cfg.BinDir, "bin-dir", "", "directory of streamspace-apiserver (default $STREAMSPACE_BIN_DIR or <repo>/bin)")
	fs.DurationVar(&cfg.Timeout, "timeout", 5*time.Minute, "start-up timeout")
	fs.Var(&streamspaceArgs, "streamspace-arg", "extra flag for streamspace-apiserver (repeatable)")
	fs.BoolVar(&cfg.WithoutStreamspace, "without-streamspace", false, "do not start streamspace-apiserver")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cfg.StreamspaceArgs = streamspaceArgs
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return err
	}
	cfg.Dir = dir

	switch command {
	case "run":
		return run(ctx, cfg, stdout)
	case "up":
		// Ctrl-C while waiting stops the stack that is starting.
		ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
		defer cancel()
		return up(ctx, cfg, args, stdout)
	case "down":
		return Down(dir, stdout)
	case "status":
		info, err := devstack.ReadInfo(dir)
		if err != nil {
			return err
		}
		PrintUsage(stdout, info)
		return nil
	default:
		return fmt.Errorf("unknown command %q (want run, up, down, status or oidc-token)", command)
	}
}

func run(ctx context.Context, cfg devstack.Config, stdout io.Writer) error {
	ctx, cancel := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer cancel()
	cfg.Log = stdout
	stack, err := devstack.Start(ctx, cfg)
	if err != nil {
		return err
	}
	PrintUsage(stdout, stack.Info())
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "\nstopping…")
	case err = <-stack.Failed():
	}
	if stopErr := stack.Stop(); stopErr != nil {
		return errors.Join(err, stopErr)
	}
	return err
}

// up starts `<this binary> run <flags>` in a session of its own, output in
// logs/streamspace-dev.log, and waits until it reports ready.
func up(ctx context.Context, cfg devstack.Config, flags []string, stdout io.Writer) error {
	p := layout.New(cfg.Dir, "", "")
	if process.Locked(p.LockFile) {
		if err := waitReadyFile(ctx, p, cfg.Timeout, nil); err != nil {
			return err
		}
		info, err := devstack.ReadInfo(cfg.Dir)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "already up (pid %d)\n", info.OwnerPid)
		PrintUsage(stdout, info)
		return nil
	}
	_ = os.Remove(p.ReadyFile)
	for _, d := range []string{p.Logs, p.Run} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	logPath := p.Log("streamspace-dev")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logFile.Close()
	cmd := exec.Command(self, append([]string{"run", "--dir=" + cfg.Dir}, withoutDir(flags)...)...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = process.DetachedAttr()
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start streamspace-dev run: %w", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	fmt.Fprintf(stdout, "starting in the background (pid %d, log %s)…\n", cmd.Process.Pid, logPath)
	began := time.Now()
	if err := waitReadyFile(ctx, p, cfg.Timeout+30*time.Second, exited); err != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		return fmt.Errorf("%w; log %s:\n%s", err, logPath, process.Tail(logPath, 15))
	}
	info, err := devstack.ReadInfo(cfg.Dir)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "up in %s\n", time.Since(began).Round(100*time.Millisecond))
	PrintUsage(stdout, info)
	return nil
}

func waitReadyFile(ctx context.Context, p layout.Layout, timeout time.Duration, exited <-chan error) error {
	var exitErr error
	err := wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		if _, err := os.Stat(p.ReadyFile); err == nil {
			return true, nil
		}
		select {
		case exitErr = <-exited:
			return false, fmt.Errorf("streamspace-dev run exited before the stack was ready (%v)", exitErr)
		default:
			return false, nil
		}
	})
	switch {
	case err == nil || exitErr != nil:
		return err
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return fmt.Errorf("stack in %s not ready after %s", p.Dir, timeout)
}

// Down stops the stack running in dir: it asks the owner to stop (SIGTERM)
// and waits; then it stops whatever is still recorded in run/*.pid.
func Down(dir string, stdout io.Writer) error {
	p := layout.New(dir, "", "")
	logf := func(format string, args ...any) { fmt.Fprintf(stdout, format+"\n", args...) }
	if process.Locked(p.LockFile) {
		pid, ok := process.ReadPid(p.OwnerPidFile)
		if !ok {
			return fmt.Errorf("%s is locked but has no owner pid; is a stack still starting?", dir)
		}
		logf("stopping the stack in %s (pid %d)…", dir, pid)
		_ = syscall.Kill(pid, syscall.SIGTERM)
		if !waitFor(200*time.Millisecond, 2*time.Minute, func() bool { return !process.Locked(p.LockFile) }) {
			logf("pid %d did not stop in time; killing it", pid)
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		// Wait until the owner is gone from the process table too (its
		// parent, usually init, reaps it), so `ps` right after shows nothing.
		waitFor(100*time.Millisecond, 10*time.Second, func() bool { return !process.Alive(pid) })
		logf("stopped")
	} else {
		logf("no stack running in %s", dir)
	}
	process.KillStale(p.Run, dir, logf)
	_ = os.Remove(p.ReadyFile)
	if left := devstack.Leftovers(dir); len(left) > 0 {
		return fmt.Errorf("processes still using %s: %s", dir, strings.Join(left, "; "))
	}
	return nil
}

// waitFor polls done every interval until it is true or timeout passes,
// and reports whether it became true.
func waitFor(interval, timeout time.Duration, done func() bool) bool {
	return wait.PollUntilContextTimeout(context.Background(), interval, timeout, true, func(context.Context) (bool, error) {
		return done(), nil
	}) == nil
}

// PrintUsage prints what to try with a running stack.
func PrintUsage(w io.Writer, info devstack.Info) {
	rel := func(path string) string {
		if wd, err := os.Getwd(); err == nil {
			if r, err := filepath.Rel(wd, path); err == nil && !strings.HasPrefix(r, "..") {
				return r
			}
		}
		return path
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "\nStreamSpace control plane is up (state in %s, logs in %s).\n\n", rel(info.Dir), rel(filepath.Join(info.Dir, "logs")))
	fmt.Fprintf(tw, "  kube-apiserver\t%s\n", info.KubeAPIServerURL)
	if info.StreamspaceURL != "" {
		fmt.Fprintf(tw, "  streamspace-apiserver\t%s (behind the aggregator)\n", info.StreamspaceURL)
	}
	if info.PostgresDSN != "" {
		fmt.Fprintf(tw, "  postgres\t%s\n", info.PostgresDSN)
	}
	if info.OIDCIssuerURL != "" {
		fmt.Fprintf(tw, "  OpenID provider\t%s (CA %s; docs/identity.md)\n", info.OIDCIssuerURL, rel(info.OIDCCA))
	}
	if info.BridgeURL != "" {
		fmt.Fprintf(tw, "  streamspace-bridge\t%s (dashboard, WebSocket feeds, old REST API; also in %s)\n", info.BridgeURL, rel(filepath.Join(info.Dir, "bridge.url")))
	}
	// The sample people's passwords are printed: they exist only on this
	// machine's provider, for trying the sign-in.
	for _, p := range info.People {
		password := "(unreadable)"
		if data, err := os.ReadFile(p.PasswordFile); err == nil {
			password = strings.TrimSpace(string(data))
		}
		fmt.Fprintf(tw, "  %s\t%s  password %s (in %s), kubeconfig %s\n", p.Name, devstack.OIDCUser(p.Name), password, rel(p.PasswordFile), rel(p.Kubeconfig))
	}
	tw.Flush()
	if info.BridgeURL != "" && len(info.People) > 0 {
		fmt.Fprintf(w, "\nOpen %s/ in a browser and sign in as one of the people above (the dashboard; %s/token takes a bearer token instead).\n", info.BridgeURL, info.BridgeURL)
	}
	fmt.Fprintf(w, "\nTry (kubectl %s matches the server):\n\n", devstack.KubeVersion)
	fmt.Fprintf(w, "  export KUBECONFIG=%s PATH=%s:$PATH\n", rel(info.AdminKubeconfig), filepath.Dir(info.Kubectl))
	fmt.Fprintf(w, "  kubectl get nodes\n")
	if info.StreamspaceURL != "" {
		fmt.Fprintf(w, "  kubectl get apiservices | grep stream.space\n")
		fmt.Fprintf(w, "  kubectl get streamspace -A\n")
		fmt.Fprintf(w, "  kubectl explain session.spec\n")
	}
	if kc, ok := info.UserKubeconfigs["alice"]; ok {
		fmt.Fprintf(w, "  kubectl --kubeconfig %s auth whoami\n", rel(kc))
	}
	if kc, ok := info.UserKubeconfigs["alice"]; ok && info.StreamspaceURL != "" {
		fmt.Fprintf(w, "  kubectl --kubeconfig %s get templates,sessions -n alice\n", rel(kc))
		fmt.Fprintf(w, "  kubectl --kubeconfig %s get sessions -n bob      # Forbidden\n", rel(kc))
		fmt.Fprintf(w, "  curl --cacert %s -H \"Authorization: Bearer $(cat %s)\" %s/apis/stream.space/v1alpha1/namespaces/alice/templates\n",
			rel(filepath.Join(info.Dir, "pki", "ca.crt")), rel(strings.TrimSuffix(kc, ".kubeconfig")+".token"), info.KubeAPIServerURL)
	}
	if len(info.People) > 0 {
		fmt.Fprintf(w, "  kubectl --kubeconfig %s auth whoami    # signs in at the OpenID provider\n", rel(info.People[0].Kubeconfig))
	}
	if info.PostgresDSN != "" {
		fmt.Fprintf(w, "  psql '%s' -c '\\dt'\n", info.PostgresDSN)
	}
	if kc, ok := info.UserKubeconfigs["alice"]; ok && info.BridgeURL != "" {
		fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $(cat %s)\" %s/api/v1/sessions    # the bridge, as alice\n",
			rel(strings.TrimSuffix(kc, ".kubeconfig")+".token"), info.BridgeURL)
		fmt.Fprintf(w, "  curl -H \"Authorization: Bearer $(cat %s)\" %s/metrics    # needs get on /metrics: alice gets 403\n",
			rel(filepath.Join(filepath.Dir(kc), devstack.MetricsScraper+".token")), info.BridgeURL)
	}
	if info.BridgeURL != "" {
		// A Git push as GitHub signs it, for a TemplateRepository with that URL.
		fmt.Fprintf(w, "  body='{\"ref\":\"refs/heads/main\",\"repository\":{\"clone_url\":\"https://github.com/org/templates.git\"}}'   # a TemplateRepository's spec.url\n")
		fmt.Fprintf(w, "  curl -X POST -H 'X-GitHub-Event: push' -H \"X-GitHub-Delivery: $(date +%%s%%N)\" -H \"X-Hub-Signature-256: sha256=$(printf %%s \"$body\" | openssl dgst -sha256 -hmac \"$(cat %s)\" | sed 's/.* //')\" -d \"$body\" %s/webhooks/repository/sync\n",
			rel(filepath.Join(info.Dir, "webhook.secret")), info.BridgeURL)
	}
	fmt.Fprintln(w)
}

type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, " ") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// withoutDir drops --dir from flags (run gets the absolute one).
func withoutDir(flags []string) []string {
	var out []string
	for i := 0; i < len(flags); i++ {
		f := flags[i]
		if f == "--dir" || f == "-dir" {
			i++
			continue
		}
		if strings.HasPrefix(f, "--dir=") || strings.HasPrefix(f, "-dir=") {
			continue
		}
		out = append(out, f)
	}
	return out
}
