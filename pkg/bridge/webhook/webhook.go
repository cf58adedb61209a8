// Package webhook serves POST /webhooks/repository/sync: Git hosts call it
// on push, it verifies the call and asks for a sync of the
// TemplateRepositories of the pushed repository (by setting their
// catalog.stream.space/sync-requested-at annotation), then answers 202. The
// sync itself runs later, in the repository controller, so it never depends
// on the request; pushes that arrive while a sync is queued coalesce into it.
//
// Accepted deliveries (the shared secret comes from --webhook-secret-file):
//   - GitHub push (and ping) events, signed with X-Hub-Signature-256
//     ("sha256=" + hex HMAC-SHA256 of the body);
//   - GitLab push events, with the secret in X-Gitlab-Token;
//   - the old generic JSON body {"repository_url", "branch", "ref"}, signed
//     with X-Webhook-Signature (hex HMAC-SHA256 of the body, "sha256=" optional).
//
// Anything unsigned or wrongly signed gets 401 and changes nothing.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/catalog/giturl"
)

// Path is where the handler is served.
const Path = "/webhooks/repository/sync"

// MaxBodySize bounds a delivery (GitHub caps payloads at 25 MB; push
// events with a few commits are a few KB).
const MaxBodySize = 5 << 20

// Trigger asks for a sync of the repositories whose normalised clone URL
// (catalog.NormalizeURL) is url and, when branch is not empty, whose branch
// is branch. It returns the names of those repositories.
type Trigger interface {
	RequestSync(ctx context.Context, url, branch string) ([]string, error)
}

// Handler is the webhook endpoint.
type Handler struct {
	secret  []byte
	trigger Trigger
}

// New returns the handler; secret must not be empty.
func New(secret []byte, trigger Trigger) (*Handler, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("webhook: empty secret")
	}
	return &Handler{secret: secret, trigger: trigger}, nil
}

// push is what a delivery says: which repository, which branch.
type push struct {
	provider string
	urls     []string
	branch   string
	ignore   string // a verified delivery that asks for nothing (ping, tag push), and why
}

// Response is the JSON answer.
type Response struct {
	Message      string   `json:"message"`
	Repositories []string `json:"repositories"`
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": "use POST"})
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodySize+1))
	if err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "read body: " + err.Error()})
		return
	}
	if len(body) > MaxBodySize {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body larger than %d bytes", MaxBodySize)})
		return
	}
	p, status, err := h.verifyAndParse(r.Header, body)
	if err != nil {
		klog.InfoS("webhook refused", "status", status, "remote", r.RemoteAddr, "err", err)
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	if p.ignore != "" {
		writeJSON(w, http.StatusOK, Response{Message: p.ignore, Repositories: []string{}})
		return
	}
	matched := map[string]bool{}
	var names []string
	for _, u := range p.urls {
		normal := giturl.Normalize(u)
		if normal == "" || matched["url:"+normal] {
			continue
		}
		matched["url:"+normal] = true
		found, err := h.trigger.RequestSync(r.Context(), normal, p.branch)
		if err != nil {
			klog.ErrorS(err, "webhook could not request a sync", "provider", p.provider, "url", normal)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not request the sync"})
			return
		}
		for _, n := range found {
			if !matched[n] {
				matched[n] = true
				names = append(names, n)
			}
		}
	}
	if names == nil {
		names = []string{}
	}
	msg := fmt.Sprintf("sync requested for %d repositories", len(names))
	if len(names) == 0 {
		msg = "no TemplateRepository has this URL and branch"
	}
	klog.InfoS("webhook accepted", "provider", p.provider, "branch", p.branch, "repositories", names)
	writeJSON(w, http.StatusAccepted, Response{Message: msg, Repositories: names})
}

// verifyAndParse checks the delivery's signature before reading anything
// from its body.
func (h *Handler) verifyAndParse(header http.Header, body []byte) (*push, int, error) {
	switch {
	case header.Get("X-Hub-Signature-256") != "":
		if !h.validHMAC(header.Get("X-Hub-Signature-256"), body, true) {
			return nil, http.StatusUnauthorized, fmt.Errorf("X-Hub-Signature-256 does not match the body")
		}
		return parseGitHub(header.Get("X-GitHub-Event"), body)
	case header.Get("X-Gitlab-Token") != "":
		if subtle.ConstantTimeCompare([]byte(header.Get("X-Gitlab-Token")), h.secret) != 1 {
			return nil, http.StatusUnauthorized, fmt.Errorf("X-Gitlab-Token is not the webhook secret")
		}
		return parseGitLab(header.Get("X-Gitlab-Event"), body)
	case header.Get("X-Webhook-Signature") != "":
		if !h.validHMAC(header.Get("X-Webhook-Signature"), body, false) {
			return nil, http.StatusUnauthorized, fmt.Errorf("X-Webhook-Signature does not match the body")
		}
		return parseGeneric(body)
	}
	return nil, http.StatusUnauthorized, fmt.Errorf("unsigned delivery: send X-Hub-Signature-256 (GitHub), X-Gitlab-Token (GitLab) or X-Webhook-Signature (HMAC-SHA256 of the body)")
}

func (h *Handler) validHMAC(signature string, body []byte, needPrefix bool) bool {
	hexSig, hadPrefix := strings.CutPrefix(strings.TrimSpace(signature), "sha256=")
	if needPrefix && !hadPrefix {
		return false
	}
	got, err := hex.DecodeString(hexSig)
	if err != nil {
		return false
	}
	mac := hmac.New(sha256.New, h.secret)
	mac.Write(body)
	return hmac.Equal(got, mac.Sum(nil))
}

func branchOf(ref string) (string, bool) {
	return strings.CutPrefix(ref, "refs/heads/")
}

func parseGitHub(event string, body []byte) (*push, int, error) {
	switch event {
	case "ping":
		return &push{provider: "github", ignore: "pong"}, 0, nil
	case "push", "":
	default:
		return &push{provider: "github", ignore: "ignored event " + event}, 0, nil
	}
	var payload struct {
		Ref        string `json:"ref"`
		Repository struct {
			CloneURL string `json:"clone_url"`
			SSHURL   string `json:"ssh_url"`
			GitURL   string `json:"git_url"`
			HTMLURL  string `json:"html_url"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("GitHub push event: %w", err)
	}
	branch, ok := branchOf(payload.Ref)
	if !ok {
		return &push{provider: "github", ignore: "not a branch: " + payload.Ref}, 0, nil
	}
	rp := payload.Repository
	return urlsOrError(&push{provider: "github", branch: branch, urls: []string{rp.CloneURL, rp.SSHURL, rp.GitURL, rp.HTMLURL}})
}

func parseGitLab(event string, body []byte) (*push, int, error) {
	if event != "" && event != "Push Hook" && event != "System Hook" {
		return &push{provider: "gitlab", ignore: "ignored event " + event}, 0, nil
	}
	var payload struct {
		Ref     string `json:"ref"`
		Project struct {
			GitHTTPURL string `json:"git_http_url"`
			GitSSHURL  string `json:"git_ssh_url"`
			WebURL     string `json:"web_url"`
		} `json:"project"`
		Repository struct {
			GitHTTPURL string `json:"git_http_url"`
			GitSSHURL  string `json:"git_ssh_url"`
			Homepage   string `json:"homepage"`
		} `json:"repository"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("GitLab push event: %w", err)
	}
	branch, ok := branchOf(payload.Ref)
	if !ok {
		return &push{provider: "gitlab", ignore: "not a branch: " + payload.Ref}, 0, nil
	}
	pr, rp := payload.Project, payload.Repository
	return urlsOrError(&push{provider: "gitlab", branch: branch, urls: []string{pr.GitHTTPURL, pr.GitSSHURL, pr.WebURL, rp.GitHTTPURL, rp.GitSSHURL, rp.Homepage}})
}

func parseGeneric(body []byte) (*push, int, error) {
	var payload struct {
		RepositoryURL string `json:"repository_url"`
		Branch        string `json:"branch"`
		Ref           string `json:"ref"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		return nil, http.StatusBadRequest, fmt.Errorf("generic webhook body: %w", err)
	}
	branch := payload.Branch
	if b, ok := branchOf(payload.Ref); ok && branch == "" {
		branch = b
	}
	return urlsOrError(&push{provider: "generic", branch: branch, urls: []string{payload.RepositoryURL}})
}

func urlsOrError(p *push) (*push, int, error) {
	for _, u := range p.urls {
		if giturl.Normalize(u) != "" {
			return p, 0, nil
		}
	}
	return nil, http.StatusBadRequest, fmt.Errorf("%s delivery names no repository URL", p.provider)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
