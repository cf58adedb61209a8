package e2e

import (
	"net/http"
	"os/exec"
	"strings"
	"testing"
)

// The curl examples of the old backend's README, with alice's token added, against the
// bridge: each answers with the old shape, as alice.
func TestBridgeLegacyCurlExamples(t *testing.T) {
	if _, err := exec.LookPath("curl"); err != nil {
		t.Fatal("curl not found: install the Debian package curl (.ci/run does)")
	}
	token := stack.UserTokenFile("alice")
	curl := func(args ...string) (int, string) {
		t.Helper()
		args = append([]string{"-s", "-o", "/dev/stdout", "-w", "\n%{http_code}", "-H", "Authorization: Bearer $(cat " + token + ")"}, args...)
		quoted := make([]string, len(args))
		for i, a := range args {
			if strings.HasPrefix(a, "Authorization") {
				quoted[i] = `"` + a + `"`
			} else {
				quoted[i] = "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
			}
		}
		out, err := exec.Command("bash", "-c", "curl "+strings.Join(quoted, " ")).Output()
		if err != nil {
			t.Fatalf("curl %v: %v", args, err)
		}
		body, code, _ := strings.Cut(strings.TrimSpace(string(out)), "\n")
		if i := strings.LastIndex(string(out), "\n"); i >= 0 {
			body, code = string(out[:i]), string(out[i+1:])
		}
		status := 0
		for _, c := range code {
			status = status*10 + int(c-'0')
		}
		return status, body
	}
	b := stack.BridgeURL

	status, body := curl("-X", "POST", b+"/api/v1/sessions", "-H", "Content-Type: application/json",
		"-d", `{"user": "alice", "template": "firefox", "resources": {"memory": "2Gi", "cpu": "1000m"}}`)
	var created feedSession
	if status != http.StatusCreated {
		t.Fatalf("create session: %d %s", status, body)
	}
	mustDecode(t, body, &created)
	if !strings.HasPrefix(created.Name, "alice-firefox-") || created.User != "alice" {
		t.Errorf("created session %+v, want alice-firefox-<hex> owned by alice", created)
	}

	var list struct {
		Sessions []feedSession `json:"sessions"`
		Total    int           `json:"total"`
	}
	status, body = curl(b + "/api/v1/sessions")
	mustDecode(t, body, &list)
	if status != http.StatusOK || list.Total != len(list.Sessions) || list.Total == 0 {
		t.Errorf("list sessions: %d %s", status, body)
	}
	for _, s := range list.Sessions {
		if s.Namespace != "alice" {
			t.Errorf("alice's list shows %s/%s", s.Namespace, s.Name)
		}
	}
	if status, body = curl(b + "/api/v1/sessions/" + created.Name); status != http.StatusOK || !strings.Contains(body, `"name":"`+created.Name+`"`) {
		t.Errorf("get session: %d %s", status, body)
	}
	status, body = curl(b + "/api/v1/sessions/" + created.Name + "/connect?user=alice")
	var connected struct {
		ConnectionID string `json:"connectionId"`
		State        string `json:"state"`
	}
	mustDecode(t, body, &connected)
	if status != http.StatusOK || connected.ConnectionID == "" {
		t.Fatalf("connect: %d %s", status, body)
	}
	// Heartbeat: 200 through connections/heartbeat where the API has it, else 501 saying so.
	status, body = curl("-X", "POST", b+"/api/v1/sessions/"+created.Name+"/heartbeat?connectionId="+connected.ConnectionID)
	if status != http.StatusOK && !(status == http.StatusNotImplemented && strings.Contains(body, "connections/heartbeat")) {
		t.Errorf("heartbeat: %d %s", status, body)
	}
	if status, body = curl(b + "/api/v1/sessions/" + created.Name + "/connections"); status != http.StatusOK || !strings.Contains(body, connected.ConnectionID) {
		t.Errorf("connections: %d %s", status, body)
	}
	if status, body = curl("-X", "DELETE", b+"/api/v1/sessions/"+created.Name+"/disconnect?connectionId="+connected.ConnectionID); status != http.StatusOK {
		t.Errorf("disconnect: %d %s", status, body)
	}
	if status, body = curl("-X", "PATCH", b+"/api/v1/sessions/"+created.Name, "-H", "Content-Type: application/json", "-d", `{"state": "hibernated"}`); status != http.StatusOK || !strings.Contains(body, `"state":"hibernated"`) {
		t.Errorf("patch state: %d %s", status, body)
	}
	if status, body = curl("-X", "PATCH", b+"/api/v1/sessions/"+created.Name, "-H", "Content-Type: application/json", "-d", `{"state": "sleeping"}`); status != http.StatusUnprocessableEntity || !strings.Contains(body, "spec.state") {
		t.Errorf("patch to a bad state: %d %s, want 422 naming spec.state", status, body)
	}

	if status, body = curl(b + "/api/v1/templates"); status != http.StatusOK || !strings.Contains(body, `"name":"firefox"`) {
		t.Errorf("templates: %d %s", status, body)
	}
	if status, body = curl(b + "/api/v1/templates?category=Browsers"); status != http.StatusOK || !strings.Contains(body, `"name":"firefox"`) || strings.Contains(body, `"name":"vscode"`) {
		t.Errorf("templates ?category=Browsers: %d %s", status, body)
	}
	if status, body = curl(b + "/api/v1/catalog/templates?category=Browsers"); status != http.StatusOK || !strings.Contains(body, `"templates":[`) {
		t.Errorf("catalog templates: %d %s", status, body)
	}
	if status, body = curl(b + "/api/v1/catalog/repositories"); status != http.StatusOK || !strings.Contains(body, `"repositories":[`) {
		t.Errorf("repositories: %d %s", status, body)
	}
	// Adding a repository is for admins: alice gets the API's 403 in the old error shape.
	status, body = curl("-X", "POST", b+"/api/v1/catalog/repositories", "-H", "Content-Type: application/json",
		"-d", `{"name": "community-templates", "url": "https://github.com/streamspace/templates", "branch": "main", "authType": "none"}`)
	if status != http.StatusForbidden || !strings.Contains(body, `"error":`) {
		t.Errorf("alice adding a repository: %d %s, want 403", status, body)
	}
	if status, body = curl("-X", "DELETE", b+"/api/v1/sessions/"+created.Name); status != http.StatusOK {
		t.Errorf("delete session: %d %s", status, body)
	}
	if status, body = curl(b + "/api/v1/sessions/" + created.Name); status != http.StatusNotFound && !strings.Contains(body, "deletionTimestamp") {
		t.Logf("after delete: %d %s", status, body)
	}
	if status, body = bridgeCall(t, "", http.MethodGet, "/health", ""); status != http.StatusOK || !strings.Contains(body, "healthy") {
		t.Errorf("/health: %d %s", status, body)
	}
	if status, body = bridgeCall(t, "", http.MethodGet, "/version", ""); status != http.StatusOK || !strings.Contains(body, "streamspace-bridge") {
		t.Errorf("/version: %d %s", status, body)
	}
}
