package feed

import (
	"context"
	"net/http"
	"sort"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/view"
)

// firstListTimeout bounds how long a handshake waits for a feed's first list.
const firstListTimeout = 15 * time.Second

// sessionsUpdate is the old snapshot message.
type sessionsUpdate struct {
	Type      string         `json:"type"` // sessions_update
	Sessions  []view.Session `json:"sessions"`
	Count     int            `json:"count"`
	Timestamp string         `json:"timestamp"`
}

// sessionChange is sent for every change as it happens, before the
// coalesced snapshot that includes it.
type sessionChange struct {
	Type      string       `json:"type"`   // session_change
	Change    string       `json:"change"` // added, modified, deleted
	Session   view.Session `json:"session"`
	Timestamp string       `json:"timestamp"`
}

// errorMessage tells a feed client why the bridge is closing it.
type errorMessage struct {
	Type  string `json:"type"` // error
	Error string `json:"error"`
	Code  int    `json:"code"`
}

// Sessions: WS /api/v1/ws/sessions[?namespace=][&user=]. First the
// sessions the caller may list as one sessions_update, then a session_change
// per change and at most one sessions_update per --snapshot-interval. The
// caller's own sessions about to hibernate for idleness add a warning each.
func (s *Server) Sessions(w http.ResponseWriter, r *http.Request) {
	c, ns, ok := feedScope(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), firstListTimeout)
	defer cancel()
	watch, release, err := s.watches.acquire(ctx, c, sessionsResource, ns)
	if err != nil {
		httpjson.APIError(w, r, "watch sessions", err)
		return
	}
	defer release()
	client, err := s.upgrade(w, r, "sessions")
	if err != nil {
		return
	}
	feed := &sessionFeed{
		client: client, owner: c.Username(), user: r.URL.Query().Get("user"),
		sessions: map[string]*streamv1alpha1.Session{}, warned: warningsSent{}, dirty: make(chan struct{}, 1),
	}
	registration, err := watch.informer.AddEventHandler(feed)
	if err != nil {
		client.close(websocket.CloseInternalServerErr, "subscribe to the session watch")
		return
	}
	defer func() { _ = watch.informer.RemoveEventHandler(registration) }()
	feed.run(registration.HasSyncedChecker().Done(), watch, s.cfg.SnapshotInterval)
}

// sessionFeed is one client's view of a shared session watch. The informer
// calls its handler methods one at a time; the client's own loop sends the
// coalesced snapshots.
type sessionFeed struct {
	client *wsClient
	owner  string // the caller: idle warnings are for the owner of a session
	user   string // optional ?user= filter

	mu       sync.Mutex
	sessions map[string]*streamv1alpha1.Session // what the client has been told, by namespace/name
	warned   warningsSent                       // the idle warnings the client has been sent
	live     bool                               // the first snapshot went out: changes are sent
	dirty    chan struct{}
}

func (f *sessionFeed) run(synced <-chan struct{}, watch *sharedWatch, interval time.Duration) {
	select {
	case <-synced:
	case <-f.client.done:
		return
	case <-watch.Failed():
		f.refuse(watch.Err())
		return
	}
	f.mu.Lock()
	f.live = true
	snapshot := f.snapshotLocked()
	f.client.sendJSON(snapshot)
	// Warnings already in force when the client connected follow the
	// snapshot; later ones follow the change that brings them.
	for _, v := range snapshot.Sessions {
		key := v.Namespace + "/" + v.Name
		f.warnLocked(key, f.sessions[key])
	}
	f.mu.Unlock()

	lastSnapshot := time.Now()
	var pending <-chan time.Time
	for {
		select {
		case <-f.client.done:
			return
		case <-watch.Failed():
			f.refuse(watch.Err())
			return
		case <-f.dirty:
			if pending != nil {
				continue // a snapshot is already scheduled
			}
			wait := interval - time.Since(lastSnapshot)
			if wait <= 0 {
				wait = 0
			}
			pending = time.After(wait)
		case <-pending:
			pending = nil
			f.mu.Lock()
			f.client.sendJSON(f.snapshotLocked())
			f.mu.Unlock()
			lastSnapshot = time.Now()
		}
	}
}

// refuse closes the client because the API no longer accepts its token.
func (f *sessionFeed) refuse(err error) {
	refuseFeed(f.client, err)
}

func refuseFeed(client *wsClient, err error) {
	code, closeCode := 403, closeForbidden
	if apierrors.IsUnauthorized(err) {
		code, closeCode = 401, closeUnauthorized
	}
	client.sendJSON(errorMessage{Type: "error", Error: err.Error(), Code: code})
	client.close(closeCode, err.Error())
}

func (f *sessionFeed) snapshotLocked() sessionsUpdate {
	views := make([]view.Session, 0, len(f.sessions))
	for _, s := range f.sessions {
		views = append(views, view.NewSession(s))
	}
	sort.Slice(views, func(i, j int) bool {
		if views[i].Namespace != views[j].Namespace {
			return views[i].Namespace < views[j].Namespace
		}
		return views[i].Name < views[j].Name
	})
	return sessionsUpdate{Type: "sessions_update", Sessions: views, Count: len(views), Timestamp: now()}
}

func now() string { return time.Now().UTC().Format(time.RFC3339Nano) }

func (f *sessionFeed) matches(s *streamv1alpha1.Session) bool {
	return f.user == "" || s.Spec.User == f.user
}

// changed records a change and, once live, sends it and schedules a snapshot.
func (f *sessionFeed) changed(change string, s *streamv1alpha1.Session) {
	key := s.Namespace + "/" + s.Name
	f.mu.Lock()
	if change == "deleted" {
		delete(f.sessions, key)
		f.warned.forget(key)
	} else {
		f.sessions[key] = s
	}
	live := f.live
	if live {
		f.client.sendJSON(sessionChange{Type: "session_change", Change: change, Session: view.NewSession(s), Timestamp: now()})
		if change != "deleted" {
			f.warnLocked(key, s)
		}
	}
	f.mu.Unlock()
	if live {
		select {
		case f.dirty <- struct{}{}:
		default:
		}
	}
}

// warnLocked sends the client the idle warning of session s, when there is
// one it has not been sent.
func (f *sessionFeed) warnLocked(key string, s *streamv1alpha1.Session) {
	if w, ok := f.warned.next(f.owner, key, s); ok {
		w.Timestamp = now()
		f.client.sendJSON(w)
	}
}

func (f *sessionFeed) OnAdd(obj any, _ bool) {
	s, ok := obj.(*streamv1alpha1.Session)
	if !ok || !f.matches(s) {
		return
	}
	f.changed("added", s)
}

func (f *sessionFeed) OnUpdate(oldObj, newObj any) {
	if !resourceVersionChanged(oldObj, newObj) {
		return // a relist replayed what the client already has: no duplicate
	}
	s, ok := newObj.(*streamv1alpha1.Session)
	if !ok {
		return
	}
	f.mu.Lock()
	_, known := f.sessions[s.Namespace+"/"+s.Name]
	f.mu.Unlock()
	switch {
	case f.matches(s) && known:
		f.changed("modified", s)
	case f.matches(s):
		f.changed("added", s)
	case known:
		f.changed("deleted", s)
	}
}

func (f *sessionFeed) OnDelete(obj any) {
	s, ok := deletedObject(obj).(*streamv1alpha1.Session)
	if !ok {
		return
	}
	f.mu.Lock()
	last, known := f.sessions[s.Namespace+"/"+s.Name]
	f.mu.Unlock()
	if !known {
		return
	}
	if s.ResourceVersion == "" {
		s = last
	}
	f.changed("deleted", s)
}

var _ cache.ResourceEventHandler = &sessionFeed{}
