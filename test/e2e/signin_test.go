package e2e

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/streamspace/controlplane/internal/devstack"
	"github.com/streamspace/controlplane/internal/gittest"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
)

// trustOIDCProvider lets chromium accept the dev provider's serving
// certificate, and only that key (its SPKI hash), as a browser of an
// organisation trusts its provider's CA.
func trustOIDCProvider(t *testing.T) chromedp.ExecAllocatorOption {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(filepath.Dir(stack.OIDCCA), "oidc.crt"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("oidc.crt holds no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(cert.RawSubjectPublicKeyInfo)
	return chromedp.Flag("ignore-certificate-errors-spki-list", base64.StdEncoding.EncodeToString(sum[:]))
}

func personPassword(t *testing.T, person string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(stack.Dir, "users", person+".password"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(data))
}

// bridgeGet calls the bridge with a cookie of a sign-in and answers the
// status code.
func bridgeWithCookie(t *testing.T, method, path, cookie string, header map[string]string, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, stack.BridgeURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.AddCookie(&http.Cookie{Name: "streamspace_session", Value: cookie})
	for k, v := range header {
		req.Header.Set(k, v)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	data, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(data)
}

// A person signs in to the dashboard through the OpenID provider in a real
// browser, uses it without kubectl, and signs out: carol opens the bridge,
// is sent to the provider's login page, comes back to her dashboard with
// her sessions, starts a session from a template, sees it turn Running
// live, hibernates it, and signs out; the cookie of the ended sign-in is
// refused afterwards.
func TestDashboardSignInAsCarol(t *testing.T) {
	existing := uniqueName("carol-before")
	if _, err := oidcKubectl(t, "carol", sessionYAML(existing, "firefox"), "create", "-n", "carol", "-f", "-"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = kubectl(t, "admin", "", "-n", "carol", "delete", "sessions", "--all", "--wait=false") })

	// A catalog with one template for carol to install from the page.
	ss, _ := clients(t, "admin")
	git := gittest.Start(t)
	repo := git.CreateRepo("signin", true)
	repo.Commit("one", map[string][]byte{"graphics/gimp.yaml": []byte(`apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: gimp}
spec:
  displayName: GIMP
  category: Graphics
  baseImage: lscr.io/linuxserver/gimp:latest
  ports: [{name: vnc, containerPort: 3000, protocol: TCP}]
  kasmvnc: {enabled: true, port: 3000}
`)})
	mustKubectl(t, "admin", "apiVersion: catalog.stream.space/v1alpha1\nkind: TemplateRepository\nmetadata: {name: e2e-signin}\nspec: {url: "+git.HTTPRepoURL("signin")+"}\n", "apply", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "templaterepository", "e2e-signin", "--ignore-not-found")
		_, _ = kubectl(t, "admin", "", "delete", "template", "e2e-signin-gimp", "-n", "carol", "--ignore-not-found")
	})
	waitRepository(t, ss, "e2e-signin", func(r *catalogv1alpha1.TemplateRepository) bool {
		return r.Status.Phase == catalogv1alpha1.RepositoryPhaseReady
	})

	ctx := newBrowser(t, trustOIDCProvider(t))
	pageStep(t, ctx, "open the bridge and land on the provider's login page",
		chromedp.Navigate(stack.BridgeURL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
	)
	if loc := pageValue(t, ctx, "read the location", chromedp.Evaluate[string](`location.href`)); !strings.HasPrefix(loc, stack.OIDCIssuerURL) {
		t.Fatalf("the bridge sent the browser to %s, want the provider %s", loc, stack.OIDCIssuerURL)
	}
	pageStep(t, ctx, "sign in as carol",
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), "carol"),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), personPassword(t, "carol")),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("#app")),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="live"]`)),
	)
	if loc := pageValue(t, ctx, "read the location", chromedp.Evaluate[string](`location.href`)); loc != stack.BridgeURL+"/" {
		t.Errorf("after the sign-in the browser is at %s, want the dashboard %s/ (no code or token in the URL)", loc, stack.BridgeURL)
	}
	if who := pageValue(t, ctx, "read who is signed in", chromedp.Text(chromedp.CSS("#whoami"))); !strings.Contains(who, devstack.OIDCUser("carol")) || !strings.Contains(who, "Carol Cooper") {
		t.Errorf("the dashboard says %q is signed in, want Carol Cooper · %s", who, devstack.OIDCUser("carol"))
	}
	if jsCookies := pageValue(t, ctx, "read document.cookie", chromedp.Evaluate[string](`document.cookie`)); strings.Contains(jsCookies, "streamspace_session") {
		t.Errorf("the page's script can read the sign-in cookie: %q", jsCookies)
	}
	if stored := pageValue(t, ctx, "read the page's storage", chromedp.Evaluate[string](`JSON.stringify(sessionStorage) + JSON.stringify(localStorage)`)); strings.Contains(stored, "eyJ") {
		t.Errorf("a token is kept in the page's storage: %s", stored)
	}
	cookie := sessionCookie(t, ctx)
	if hidden := pageValue(t, ctx, "read whether the audit trail is shown", chromedp.Evaluate[bool](`document.getElementById("audit").hidden`)); !hidden {
		t.Error("carol, who may not read the audit trail, is shown its section")
	}

	pageStep(t, ctx, "see carol's existing session", chromedp.WaitVisible(chromedp.CSS(`#sessions tr[data-name="`+existing+`"]`)))
	users := pageValue(t, ctx, "read every row's user",
		chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll('#sessions tbody tr td:nth-child(2)')).map(td => td.textContent)`))
	for _, u := range users {
		if u != devstack.OIDCUser("carol") {
			t.Errorf("carol's dashboard lists a session of %q", u)
		}
	}

	pageStep(t, ctx, "install gimp from the catalog",
		chromedp.WaitVisible(chromedp.CSS(`#catalog tr[data-name="e2e-signin-gimp"] button[data-action="install"]`)),
		chromedp.Click(chromedp.CSS(`#catalog tr[data-name="e2e-signin-gimp"] button[data-action="install"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#templates tr[data-name="e2e-signin-gimp"]`)),
	)
	if notice := pageValue(t, ctx, "read the notice", chromedp.Text(chromedp.CSS("#notice"))); notice != "Installed e2e-signin-gimp in carol." {
		t.Errorf("after the install the page says %q", notice)
	}
	if out, err := oidcKubectl(t, "carol", "", "get", "template", "e2e-signin-gimp", "-n", "carol", "-o", "jsonpath={.spec.baseImage}"); err != nil || out != "lscr.io/linuxserver/gimp:latest" {
		t.Errorf("the template installed from the page: %q, %v", out, err)
	}

	started := uniqueName("carol-started")
	row := `#sessions tr[data-name="` + started + `"]`
	pageStep(t, ctx, "start a session from the firefox template",
		chromedp.WaitReady(chromedp.CSS(`#start-template option[value="firefox"]`)),
		chromedp.SetValue(chromedp.CSS("#start-template"), "firefox"),
		chromedp.SendKeys(chromedp.CSS("#start-name"), started),
		chromedp.Click(chromedp.CSS("#start-button")),
		chromedp.WaitVisible(chromedp.CSS(row)),
	)
	pageStep(t, ctx, "see the session turn Running without a reload",
		chromedp.WaitVisible(chromedp.CSS(row+` .phase[data-phase="Running"]`)))
	// A refusal of the API is shown in its words.
	pageStep(t, ctx, "start a second session of the same name",
		chromedp.SendKeys(chromedp.CSS("#start-name"), started),
		chromedp.Click(chromedp.CSS("#start-button")),
	)
	pageValue(t, ctx, "see the refusal in words", chromedp.Poll[bool](`document.getElementById("error").textContent.includes("already exists")`))
	pageValue(t, ctx, "clear the name", chromedp.Evaluate[string](`document.getElementById("start-name").value = ""`))
	out, err := oidcKubectl(t, "carol", "", "get", "session", started, "-n", "carol", "-o", "jsonpath={.spec.user}")
	if err != nil || out != devstack.OIDCUser("carol") {
		t.Errorf("the session started from the dashboard belongs to %q (%v), want %s", out, err, devstack.OIDCUser("carol"))
	}
	pageStep(t, ctx, "hibernate it",
		chromedp.Click(chromedp.CSS(row+` button[data-action="hibernate"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` .phase[data-phase="Hibernated"]`)),
		chromedp.WaitVisible(chromedp.CSS(row+` button[data-action="wake"]`)),
	)

	// A request signed in by the cookie alone, as another site could make
	// the browser send, is refused; the dashboard's own header lets it in.
	if code, body := bridgeWithCookie(t, http.MethodGet, "/api/v1/sessions?namespace=carol", cookie, nil, ""); code != http.StatusForbidden {
		t.Errorf("a cookie-only API request answered %d %s, want 403", code, body)
	}
	if code, body := bridgeWithCookie(t, http.MethodGet, "/api/v1/sessions?namespace=carol", cookie, map[string]string{"X-StreamSpace-Request": "1"}, ""); code != http.StatusOK || !strings.Contains(body, started) {
		t.Errorf("the dashboard's request answered %d %s, want 200 listing %s", code, body, started)
	}

	// Her session's URL admits her sign-in (the ingress asks the bridge
	// with the browser's cookie), and refuses it once she signed out.
	if code, body := bridgeWithCookie(t, http.MethodGet, "/auth/sessions/carol/"+started, cookie, nil, ""); code != http.StatusOK {
		t.Errorf("forward-auth of carol's session with her sign-in answered %d %s, want 200", code, body)
	}

	pageStep(t, ctx, "sign out",
		chromedp.Click(chromedp.CSS("#signout-button")),
		chromedp.WaitVisible(chromedp.CSS("#title")),
	)
	if title := pageValue(t, ctx, "read the page", chromedp.Text(chromedp.CSS("#title"))); title != "Signed out" {
		t.Errorf("signing out ended on %q", title)
	}
	if code, body := bridgeWithCookie(t, http.MethodGet, "/auth/me", cookie, nil, ""); code != http.StatusUnauthorized {
		t.Errorf("the cookie of the ended sign-in answered %d %s, want 401", code, body)
	}
	if code, body := bridgeWithCookie(t, http.MethodGet, "/auth/sessions/carol/"+started, cookie, nil, ""); code != http.StatusUnauthorized {
		t.Errorf("forward-auth of carol's session with her ended sign-in answered %d %s, want 401", code, body)
	}
	pageStep(t, ctx, "open the bridge again and be asked to sign in",
		chromedp.Navigate(stack.BridgeURL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
	)
}

// sessionCookie is the value of the bridge's sign-in cookie in the browser
// (HttpOnly: read through the DevTools protocol, not the page).
func sessionCookie(t *testing.T, ctx context.Context) string {
	t.Helper()
	stepCtx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := chromedp.Call(stepCtx, network.GetCookies, network.GetCookiesParams{URLs: []string{stack.BridgeURL + "/"}})
	if err != nil {
		t.Fatalf("read the browser's cookies: %v", err)
	}
	for _, c := range res.Cookies {
		if c.Name == "streamspace_session" {
			if !c.HTTPOnly || c.SameSite != network.CookieSameSiteLax {
				t.Errorf("the sign-in cookie is HttpOnly=%v SameSite=%s, want HttpOnly and Lax", c.HTTPOnly, c.SameSite)
			}
			return c.Value
		}
	}
	t.Fatalf("no sign-in cookie in the browser for %s", stack.BridgeURL)
	return ""
}

// The bridge's sign-in endpoints refuse what a careful web app refuses: a
// callback that was not started in this browser, a return address on
// another site, a sign-out posted by another site.
func TestSignInRefusals(t *testing.T) {
	client := &http.Client{Timeout: 30 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(path string) *http.Response {
		t.Helper()
		res, err := client.Get(stack.BridgeURL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res
	}
	// The login redirect carries PKCE and no token.
	res := get("/auth/login?rd=https://evil.example.org/")
	loc, err := url.Parse(res.Header.Get("Location"))
	if res.StatusCode != http.StatusFound || err != nil || !strings.HasPrefix(loc.String(), stack.OIDCIssuerURL) {
		t.Fatalf("/auth/login answered %d to %q, want a redirect to the provider", res.StatusCode, res.Header.Get("Location"))
	}
	q := loc.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("client_id") != devstack.OIDCBridgeClientID {
		t.Errorf("the authorization request lacks PKCE or state: %s", loc.RawQuery)
	}
	// A callback with a state this browser did not start is refused.
	if res := get("/auth/callback?code=stolen&state=" + url.QueryEscape(q.Get("state"))); res.StatusCode != http.StatusBadRequest {
		t.Errorf("a callback without the login cookie answered %d, want 400", res.StatusCode)
	}
	// A sign-out posted from another site is refused.
	req, _ := http.NewRequest(http.MethodPost, stack.BridgeURL+"/auth/logout", nil)
	req.Header.Set("Origin", "https://evil.example.org")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Errorf("a cross-site sign-out answered %d, want 403", res.StatusCode)
	}
	// Without a sign-in, the API asks for credentials.
	if res := get("/auth/me"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("/auth/me without credentials answered %d, want 401", res.StatusCode)
	}
}

// signInAs opens the bridge in a new browser and signs person in at the
// provider, returning when the dashboard is live.
func signInAs(t *testing.T, person string) context.Context {
	t.Helper()
	ctx := newBrowser(t, trustOIDCProvider(t))
	pageStep(t, ctx, "sign in as "+person,
		chromedp.Navigate(stack.BridgeURL+"/"),
		chromedp.WaitVisible(chromedp.CSS(`input[name="username"]`)),
		chromedp.SendKeys(chromedp.CSS(`input[name="username"]`), person),
		chromedp.SendKeys(chromedp.CSS(`input[name="password"]`), personPassword(t, person)),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`#status[data-state="live"]`)),
	)
	return ctx
}

// An administrator reads the audit trail on the dashboard, filtered by
// user, resource and verb: dana signs in and finds alice's create of a
// session.
func TestDashboardAuditTrailForAdmins(t *testing.T) {
	name := uniqueName("audit-page")
	mustKubectl(t, "alice", sessionYAML(name, "firefox"), "create", "-n", "alice", "-f", "-")
	t.Cleanup(func() {
		_, _ = kubectl(t, "alice", "", "-n", "alice", "delete", "session", name, "--ignore-not-found", "--wait=false")
	})
	eventually(t, time.Minute, "alice's create in the audit trail", func() (bool, error) {
		out, err := kubectl(t, "admin", "", "get", "auditevents", "--field-selector", "user=alice,verb=create,name="+name, "-o", "name")
		return strings.TrimSpace(out) != "", err
	})
	ctx := signInAs(t, "dana")
	row := `#audit-events tbody tr`
	pageStep(t, ctx, "filter the audit trail by alice, sessions, create",
		chromedp.WaitVisible(chromedp.CSS("#audit")),
		chromedp.SendKeys(chromedp.CSS("#audit-user"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#audit-resource"), "sessions"),
		chromedp.SendKeys(chromedp.CSS("#audit-verb"), "create"),
		chromedp.Click(chromedp.CSS("#audit-apply")),
	)
	// The filtered page replaces the unfiltered one: wait until it shows.
	pageValue(t, ctx, "see alice's create of "+name+" in the filtered trail", chromedp.Poll[bool](`(() => {
		const rows = Array.from(document.querySelectorAll('`+row+`')).map(tr => Array.from(tr.children).map(td => td.textContent));
		return rows.some(r => r[5] === "`+name+`") && rows.every(r => r[1] === "alice");
	})()`))
	rows := pageValue(t, ctx, "read the rows",
		chromedp.Evaluate[[][]string](`Array.from(document.querySelectorAll('`+row+`')).map(tr => Array.from(tr.children).map(td => td.textContent))`))
	for _, r := range rows {
		// The resource filter covers the subresources too (sessions/connect).
		if len(r) < 7 || r[1] != "alice" || r[2] != "create" || (r[3] != "sessions" && !strings.HasPrefix(r[3], "sessions/")) {
			t.Errorf("a row of the filtered trail shows %q, want alice's creates of sessions (and their subresources) only", r)
		}
	}
}
