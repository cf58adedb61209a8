// Package health waits for the dev stack's components to answer: a check
// polled until it passes, given up early when the component's process
// exits, reported with the end of its log when time runs out.
package health

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/streamspace/controlplane/internal/devstack/process"
)

// interval is how often a check is repeated.
const interval = 200 * time.Millisecond

// Poll calls check until it succeeds, failing early when p (if not nil)
// exits and with p's log tail when ctx ends; logf hears how long it took.
func Poll(ctx context.Context, p *process.Process, what string, logf func(string, ...any), check func() error) error {
	began := time.Now()
	var last, exited error
	err := wait.PollUntilContextCancel(ctx, interval, true, func(context.Context) (bool, error) {
		if last = check(); last == nil {
			return true, nil
		}
		if p != nil {
			if done, err := p.Exited(); done {
				exited = err
				return false, err
			}
		}
		return false, nil
	})
	switch {
	case err == nil:
		logf("%s after %s", what, time.Since(began).Round(10*time.Millisecond))
		return nil
	case exited != nil:
		return fmt.Errorf("waiting for %s: %w", what, exited)
	case errors.Is(ctx.Err(), context.Canceled):
		return fmt.Errorf("interrupted while waiting for %s", what)
	}
	msg := fmt.Sprintf("waiting for %s: %v (last error: %v)", what, ctx.Err(), last)
	if p != nil {
		msg += fmt.Sprintf("; log %s:\n%s", p.LogPath, process.Tail(p.LogPath, 30))
	}
	return errors.New(msg)
}

// PollHTTP is Poll with a check that GET url answers 200 OK.
func PollHTTP(ctx context.Context, p *process.Process, what string, logf func(string, ...any), client *http.Client, url string) error {
	return Poll(ctx, p, what, logf, func() error { return HTTPOK(client, url) })
}

// Client is the HTTP client of the checks of plain HTTP endpoints.
func Client() *http.Client { return &http.Client{Timeout: 5 * time.Second} }

// InsecureClient is the HTTP client of the checks of local health
// endpoints served with self-signed certificates.
func InsecureClient() *http.Client {
	return &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // local self-signed health endpoint
	}}
}

// HTTPOK fails unless GET url answers 200 OK; for a verbose health report
// the error keeps only the failing checks.
func HTTPOK(client *http.Client, url string) error {
	resp, err := client.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		// A verbose health report: keep only the failing checks ("[-]...").
		var failing []string
		for _, line := range strings.Split(string(body), "\n") {
			if strings.HasPrefix(line, "[-]") {
				failing = append(failing, line)
			}
		}
		if len(failing) == 0 && len(body) > 512 {
			body = body[:512]
		} else if len(failing) > 0 {
			body = []byte(strings.Join(failing, "; "))
		}
		return fmt.Errorf("%s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}
