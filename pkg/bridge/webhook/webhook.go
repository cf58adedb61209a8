// Package webhook serves POST /webhooks/repository/sync: Git hosts call it
// on push, it verifies the call and asks for a sync of the
// TemplateRepositories of the pushed repository (by setting their
// catalog.stream.space/sync-requested-at annotation), then answers 202. The
// sync itself runs later, in the repository controller, so it never depends
// on the request; pushes that arrive while a sync is queued coalesce into it.
//
// Accepted deliveries (the shared secret comes from --webhook-secret-file):
//   - GitHub push (and ping) events, signed with X-Hub-Signature-256
//     ("sha256=" + hex HMAC-SHA256 of the body), with X-GitHub-Delivery;
//   - GitLab push events, with the secret in X-Gitlab-Token and X-Gitlab-Event-UUID;
//   - the generic JSON body {"repository_url", "branch", "ref"}, with
//     X-Webhook-Timestamp (Unix seconds, within ReplayWindow of now),
//     X-Webhook-Nonce and X-Webhook-Signature: hex HMAC-SHA256 of
//     "<timestamp>.<nonce>.<body>" ("sha256=" optional).
//
// Headers are checked before the body is read, and the body is capped at
// MaxBodySize (413). Anything unsigned or wrongly signed gets 401 and
// changes nothing. A delivery seen before (same delivery ID or nonce, or the
// same signed body) gets 409: the bridge remembers deliveries in memory
// (deliveryStore) and on the repositories they synced (AnnotationTrigger),
// which every replica sees.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/streamspace/controlplane/pkg/gitcatalog/giturl"
)

// Path is where the handler is served.
const Path = "/webhooks/repository/sync"

// MaxBodySize bounds a delivery (push events with a few commits are a few
// KB; GitHub drops the commit details of very large pushes).
const MaxBodySize = 1 << 20

// ReplayWindow is how far X-Webhook-Timestamp of a generic delivery may be
// from the bridge's clock, either way.
const ReplayWindow = 5 * time.Minute

const (
	// maxHeaderValue bounds the signature, token, delivery ID and nonce
	// headers (an HMAC-SHA256 in hex with its prefix has 71 characters).
	maxHeaderValue = 256
	// deliveryTTL is how long delivery IDs, nonces and body signatures are
	// remembered: at least ReplayWindow (past it a generic delivery is too
	// old anyway); GitHub and GitLab deliveries carry no signed time, so
	// they are remembered longer.
	deliveryTTL = 24 * time.Hour
	// maxDeliveries bounds the memory of the store (a few MB).
	maxDeliveries = 20000
)

// Trigger asks for a sync of the repositories whose normalised clone URL
// (giturl.Normalize) is url and, when branch is not empty, whose branch is
// branch, unless a repository already received the delivery (one of its
// keys). It returns the names of the repositories asked and of those that
// had received it.
type Trigger interface {
	RequestSync(ctx context.Context, url, branch string, delivery []string) (requested, replayed []string, err error)
}

// Handler is the webhook endpoint.
type Handler struct {
	secret     []byte
	trigger    Trigger
	clock      clock.PassiveClock
	deliveries *deliveryStore
}

// New returns the handler; secret must not be empty.
func New(secret []byte, trigger Trigger) (*Handler, error) {
	if len(secret) == 0 {
		return nil, fmt.Errorf("webhook: empty secret")
	}
	c := clock.RealClock{}
	return &Handler{secret: secret, trigger: trigger, clock: c, deliveries: newDeliveryStore(c, deliveryTTL, maxDeliveries)}, nil
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
	d, status, err := h.checkHeaders(r.Header)
	if err != nil {
		klog.FromContext(r.Context()).Info("webhook refused", "status", status, "remote", r.RemoteAddr, "err", err)
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	if r.ContentLength > MaxBodySize {
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body larger than %d bytes", MaxBodySize)})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, MaxBodySize))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeJSON(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("body larger than %d bytes", MaxBodySize)})
		return
	case err != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "read body: " + err.Error()})
		return
	}
	p, status, err := h.verifyAndParse(d, body)
	if err != nil {
		klog.FromContext(r.Context()).Info("webhook refused", "status", status, "remote", r.RemoteAddr, "provider", d.provider, "delivery", d.id, "err", err)
		writeJSON(w, status, map[string]string{"error": err.Error()})
		return
	}
	keys := d.replayKeys(body)
	if first, seen := h.deliveries.firstSeen(keys...); !first {
		err := fmt.Errorf("%s delivery %s was already received at %s: refused as a replay", d.provider, d.id, seen.UTC().Format(time.RFC3339))
		klog.FromContext(r.Context()).Info("webhook refused", "status", http.StatusConflict, "remote", r.RemoteAddr, "err", err)
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	}
	if p.ignore != "" {
		writeJSON(w, http.StatusOK, Response{Message: p.ignore, Repositories: []string{}})
		return
	}
	matched := map[string]bool{}
	var names, replayed []string
	for _, u := range p.urls {
		normal := giturl.Normalize(u)
		if normal == "" || matched["url:"+normal] {
			continue
		}
		matched["url:"+normal] = true
		found, again, err := h.trigger.RequestSync(r.Context(), normal, p.branch, keys)
		if err != nil {
			klog.FromContext(r.Context()).Error(err, "webhook could not request a sync", "provider", p.provider, "url", normal)
			// The Git host may send it again.
			h.deliveries.forget(keys...)
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "could not request the sync"})
			return
		}
		for _, n := range found {
			if !matched[n] {
				matched[n] = true
				names = append(names, n)
			}
		}
		for _, n := range again {
			if !matched[n] {
				matched[n] = true
				replayed = append(replayed, n)
			}
		}
	}
	if len(names) == 0 && len(replayed) > 0 {
		// Served before, by this replica before a restart or by another one.
		err := fmt.Errorf("%s delivery %s was already received by repositories %s: refused as a replay", d.provider, d.id, strings.Join(replayed, ", "))
		klog.FromContext(r.Context()).Info("webhook refused", "status", http.StatusConflict, "remote", r.RemoteAddr, "err", err)
		writeJSON(w, http.StatusConflict, map[string]string{"error": err.Error()})
		return
	}
	if names == nil {
		names = []string{}
	}
	msg := fmt.Sprintf("sync requested for %d repositories", len(names))
	if len(names) == 0 {
		msg = "no TemplateRepository has this URL and branch"
	}
	klog.FromContext(r.Context()).Info("webhook accepted", "provider", p.provider, "delivery", d.id, "branch", p.branch, "repositories", names)
	writeJSON(w, http.StatusAccepted, Response{Message: msg, Repositories: names})
}

// deliveryHeaders is what a delivery's headers say, checked before its body is read.
type deliveryHeaders struct {
	provider  string // github, gitlab or generic
	id        string // X-GitHub-Delivery, X-Gitlab-Event-UUID or X-Webhook-Nonce
	event     string
	signature string // X-Hub-Signature-256 or X-Webhook-Signature
	token     string // X-Gitlab-Token
	timestamp string // X-Webhook-Timestamp
}

// checkHeaders finds the provider and checks that its signature, delivery
// ID and (generic) timestamp are there, of a sane size and, for the
// timestamp, within ReplayWindow; a GitLab token is compared here.
func (h *Handler) checkHeaders(header http.Header) (*deliveryHeaders, int, error) {
	d := &deliveryHeaders{}
	var idHeader string
	switch {
	case header.Get("X-Hub-Signature-256") != "":
		d.provider, idHeader, d.signature, d.event = "github", "X-GitHub-Delivery", header.Get("X-Hub-Signature-256"), header.Get("X-GitHub-Event")
		d.id = header.Get(idHeader)
	case header.Get("X-Gitlab-Token") != "":
		d.provider, idHeader, d.token, d.event = "gitlab", "X-Gitlab-Event-UUID", header.Get("X-Gitlab-Token"), header.Get("X-Gitlab-Event")
		d.id = header.Get(idHeader)
	case header.Get("X-Webhook-Signature") != "":
		d.provider, idHeader, d.signature, d.timestamp = "generic", "X-Webhook-Nonce", header.Get("X-Webhook-Signature"), header.Get("X-Webhook-Timestamp")
		d.id = header.Get(idHeader)
	default:
		return nil, http.StatusUnauthorized, fmt.Errorf("unsigned delivery: send X-Hub-Signature-256 (GitHub), X-Gitlab-Token (GitLab) or X-Webhook-Signature with X-Webhook-Timestamp and X-Webhook-Nonce")
	}
	for name, v := range map[string]string{"signature": d.signature, "X-Gitlab-Token": d.token, idHeader: d.id, "X-Webhook-Timestamp": d.timestamp} {
		if len(v) > maxHeaderValue {
			return nil, http.StatusBadRequest, fmt.Errorf("%s header longer than %d bytes", name, maxHeaderValue)
		}
	}
	// GitLab's token is the secret itself: checked here, so that a wrong one costs no body read.
	if d.provider == "gitlab" && subtle.ConstantTimeCompare([]byte(d.token), h.secret) != 1 {
		return nil, http.StatusUnauthorized, fmt.Errorf("X-Gitlab-Token is not the webhook secret")
	}
	if d.id == "" {
		return nil, http.StatusBadRequest, fmt.Errorf("%s delivery without %s: every delivery needs an ID, to refuse replays", d.provider, idHeader)
	}
	if d.provider == "generic" {
		if d.timestamp == "" {
			return nil, http.StatusBadRequest, fmt.Errorf("generic delivery without X-Webhook-Timestamp (Unix seconds, signed with the nonce and the body)")
		}
		sec, err := strconv.ParseInt(d.timestamp, 10, 64)
		if err != nil {
			return nil, http.StatusBadRequest, fmt.Errorf("X-Webhook-Timestamp %q is not Unix seconds", d.timestamp)
		}
		if skew := h.clock.Since(time.Unix(sec, 0)); skew > ReplayWindow || skew < -ReplayWindow {
			return nil, http.StatusForbidden, fmt.Errorf("X-Webhook-Timestamp %s is more than %s from now: refused as a replay or a wrong clock", time.Unix(sec, 0).UTC().Format(time.RFC3339), ReplayWindow)
		}
	}
	return d, 0, nil
}

// replayKeys are what the store remembers of a delivery: its ID, and for
// GitHub and GitLab, whose signatures do not cover the ID header, a hash
// of the body, so that a captured delivery resent under a new ID is still
// recognised. (The generic form signs its nonce.)
func (d *deliveryHeaders) replayKeys(body []byte) []string {
	keys := []string{d.provider + "/id/" + d.id}
	if d.provider != "generic" {
		sum := sha256.Sum256(body)
		keys = append(keys, d.provider+"/body/"+hex.EncodeToString(sum[:]))
	}
	return keys
}

// verifyAndParse checks the delivery's signature before reading anything
// from its body.
func (h *Handler) verifyAndParse(d *deliveryHeaders, body []byte) (*push, int, error) {
	switch d.provider {
	case "github":
		if !h.validHMAC(d.signature, body, true) {
			return nil, http.StatusUnauthorized, fmt.Errorf("X-Hub-Signature-256 does not match the body")
		}
		return parseGitHub(d.event, body)
	case "gitlab":
		// The token was checked with the headers.
		return parseGitLab(d.event, body)
	default:
		signed := append([]byte(d.timestamp+"."+d.id+"."), body...)
		if !h.validHMAC(d.signature, signed, false) {
			return nil, http.StatusUnauthorized, fmt.Errorf("X-Webhook-Signature does not match the timestamp, nonce and body")
		}
		return parseGeneric(body)
	}
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
