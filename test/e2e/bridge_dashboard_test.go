package e2e

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium (package chromium; .ci/run installs it).
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"/usr/bin/chromium", "chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	t.Fatal("chromium not found: install the Debian package chromium (.ci/run does)")
	return ""
}

// newBrowser starts a headless chromium of its own (fresh profile) and
// returns a tab's context; everything ends with the test.
func newBrowser(t *testing.T, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1200, 720),
	}
	opts = append(opts, extra...)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	t.Cleanup(cancelAlloc)
	ctx, cancelTab := chromedp.NewContext(allocCtx, chromedp.WithErrorf(t.Logf))
	t.Cleanup(cancelTab)
	// Start the browser and its tab on ctx itself: a browser started by a
	// step's bounded context would end with that step.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return ctx
}

// pageStep runs browser actions with a bound (only so that a broken page
// fails the test instead of hanging it).
func pageStep(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(stepCtx, actions...); err != nil {
		t.Fatalf("%s: %v\npage: %s", what, err, pageHTML(ctx))
	}
}

// pageValue runs one browser action that reads a value, with the same bound.
func pageValue[T any](t *testing.T, ctx context.Context, what string, action chromedp.Action[T]) T {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(stepCtx, action)
	if err != nil {
		t.Fatalf("%s: %v\npage: %s", what, err, pageHTML(ctx))
	}
	return v
}

func pageHTML(ctx context.Context) string {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("main")))
	return html
}

// The dashboard served by the bridge, in a real browser: alice logs in with
// her token, a session she creates with kubectl appears on the page from
// the feed (no reload), only her sessions are listed, and a deleted session
// goes away.
func TestBridgeDashboardInChromium(t *testing.T) {
	ctx := newBrowser(t)
	pageStep(t, ctx, "open the dashboard",
		chromedp.Navigate(stack.BridgeURL+"/token"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
	)
	pageStep(t, ctx, "log in as alice",
		chromedp.SendKeys(chromedp.CSS("#token"), userToken(t, "alice")),
		chromedp.Click(chromedp.CSS(`#login button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="live"]`)),
	)

	name := uniqueName("dashboard")
	mustKubectl(t, "alice", sessionYAML(name, "firefox"), "create", "-n", "alice", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "session", name, "--ignore-not-found", "--wait=false")
	})
	row := `#sessions tr[data-name="` + name + `"]`
	pageStep(t, ctx, "see the new session on the page", chromedp.WaitVisible(chromedp.CSS(row)))
	cells := pageValue(t, ctx, "read the session's row",
		chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('`+row+` td')).map(td => td.textContent)`))
	if len(cells) < 4 || cells[0] != name || cells[1] != "alice" || cells[2] != "firefox" || cells[3] != "running" {
		t.Errorf("the session's row shows %q, want name, user alice, template firefox, state running", cells)
	}
	users := pageValue(t, ctx, "read every row's user",
		chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#sessions tbody tr td:nth-child(2)')).map(td => td.textContent)`))
	for _, u := range users {
		if u != "alice" {
			t.Errorf("alice's dashboard lists a session of %q", u)
		}
	}
	if path := os.Getenv("STREAMSPACE_DASHBOARD_SCREENSHOT"); path != "" {
		pageStep(t, ctx, "let the page settle", chromedp.Sleep(300*time.Millisecond))
		png := pageValue(t, ctx, "take a screenshot", chromedp.FullScreenshot(100))
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	mustKubectl(t, "alice", "", "-n", "alice", "delete", "session", name, "--wait=false")
	pageStep(t, ctx, "see the deleted session leave the page", chromedp.WaitNotPresent(chromedp.CSS(row)))
	if text := pageValue(t, ctx, "read the page", chromedp.Text(chromedp.CSS("main"))); strings.Contains(text, name) {
		t.Errorf("the page still names %s after the delete", name)
	}
}
