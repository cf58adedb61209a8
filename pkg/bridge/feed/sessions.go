package feed

import (
	"context"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/gorilla/websocket"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"github.com/streamspace/controlplane/pkg/bridge/shares"
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
// sessions the caller may list in the namespace, and those shared with
// them in any namespace (see package shares), as one sessions_update, then
// a session_change per change and at most one sessions_update per
// --snapshot-interval.
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
	feed := newSessionFeed(client, c.Username(), r.URL.Query().Get("user"))
	registration, err := watch.informer.AddEventHandler(feed)
	if err != nil {
		client.close(websocket.CloseInternalServerErr, "subscribe to the session watch")
		return
	}
	defer func() { _ = watch.informer.RemoveEventHandler(registration) }()
	if s.shares != nil {
		feedCtx, stop := context.WithCancel(r.Context())
		defer stop()
		shared := newSharedSessions(feed, c, s.shares, s.watches)
		if err := shared.start(feedCtx, firstListTimeout); err != nil {
			client.close(websocket.CloseInternalServerErr, "follow the sessions shared with the caller")
			return
		}
		defer shared.stop()
	}
	feed.run(registration.HasSyncedChecker().Done(), watch, s.cfg.SnapshotInterval)
}

// sessionFeed is one client's view of its sessions: those of a shared
// session watch of the namespace, and those shared with the caller, each
// from a watch of its own (see sharedSessions). The informers call its
// methods; the client's own loop sends the coalesced snapshots.
type sessionFeed struct {
	client *wsClient
	owner  string // the caller: idle warnings are for the owner of a session
	user   string // optional ?user= filter

	mu     sync.Mutex
	own    map[string]*streamv1alpha1.Session // the namespace watch's sessions that match, by namespace/name
	shared map[string]*sharedSession          // sessions shared with the caller, by namespace/name
	told   map[string]view.Session            // what the client has been told
	warned warningsSent                       // the idle warnings the client has been sent
	live   bool                               // the first snapshot went out: changes are sent
	dirty  chan struct{}
}

// sharedSession is a session shared with the caller: the grant they read
// and, once its watch has it, the session.
type sharedSession struct {
	grant   shares.Grant
	session *streamv1alpha1.Session
}

func newSessionFeed(client *wsClient, owner, user string) *sessionFeed {
	return &sessionFeed{
		client: client, owner: owner, user: user, dirty: make(chan struct{}, 1), warned: warningsSent{},
		own: map[string]*streamv1alpha1.Session{}, shared: map[string]*sharedSession{}, told: map[string]view.Session{},
	}
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
		f.warnLocked(key, f.sessionLocked(key))
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
	views := make([]view.Session, 0, len(f.told))
	for _, v := range f.told {
		views = append(views, v)
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

func sessionKey(s *streamv1alpha1.Session) string { return s.Namespace + "/" + s.Name }

// viewLocked is what the client is to know of key: the session, from
// whichever watch has the newer version, marked when it is shared with the
// caller; ok is false when neither watch has it.
func (f *sessionFeed) viewLocked(key string) (view.Session, bool) {
	s, shared := f.sessionLocked(key), f.shared[key]
	switch {
	case s == nil:
		return view.Session{}, false
	case shared != nil:
		return view.NewSharedSession(s, shared.grant.Role, shared.grant.Owner), true
	default:
		return view.NewSession(s), true
	}
}

// sessionLocked is the newer version of key either watch has, or nil.
func (f *sessionFeed) sessionLocked(key string) *streamv1alpha1.Session {
	s, shared := f.own[key], f.shared[key]
	if shared != nil && shared.session != nil && (s == nil || newer(shared.session, s)) {
		s = shared.session
	}
	return s
}

// warnLocked sends the client the idle warning of session s, when there is
// one it has not been sent (only the session's owner gets them).
func (f *sessionFeed) warnLocked(key string, s *streamv1alpha1.Session) {
	if s == nil {
		return
	}
	if w, ok := f.warned.next(f.owner, key, s); ok {
		w.Timestamp = now()
		f.client.sendJSON(w)
	}
}

// newer reports whether a is a later version of a session than b. Resource
// versions are opaque, but this API's are integers; anything else counts
// as the same version.
func newer(a, b *streamv1alpha1.Session) bool {
	va, errA := strconv.ParseUint(a.ResourceVersion, 10, 64)
	vb, errB := strconv.ParseUint(b.ResourceVersion, 10, 64)
	return errA == nil && errB == nil && va > vb
}

// refreshLocked tells the client, once live, what changed of key: added,
// modified (not when nothing it is shown changed, such as the same version
// arriving from both watches) or deleted. last is the final state of a
// deleted session when known.
func (f *sessionFeed) refreshLocked(key string, last *streamv1alpha1.Session) {
	v, present := f.viewLocked(key)
	old, told := f.told[key]
	var change string
	switch {
	case present && told && reflect.DeepEqual(v, old):
		return
	case present:
		f.told[key] = v
		change = "modified"
		if !told {
			change = "added"
		}
	case told:
		delete(f.told, key)
		change, v = "deleted", old
		if last != nil && last.ResourceVersion != "" {
			v = view.NewSession(last)
			v.SharedRole, v.Owner = old.SharedRole, old.Owner
		}
	default:
		return
	}
	if change == "deleted" {
		f.warned.forget(key)
	}
	if !f.live {
		return
	}
	f.client.sendJSON(sessionChange{Type: "session_change", Change: change, Session: v, Timestamp: now()})
	if change != "deleted" {
		f.warnLocked(key, f.sessionLocked(key))
	}
	select {
	case f.dirty <- struct{}{}:
	default:
	}
}

// setOwn records the namespace watch's version of a session (nil: it no
// longer has one that matches).
func (f *sessionFeed) setOwn(key string, s, last *streamv1alpha1.Session) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if s == nil {
		delete(f.own, key)
	} else {
		f.own[key] = s
	}
	f.refreshLocked(key, last)
}

// setGrant records that key is shared with the caller, and how.
func (f *sessionFeed) setGrant(key string, grant shares.Grant) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if shared := f.shared[key]; shared != nil {
		shared.grant = grant
	} else {
		f.shared[key] = &sharedSession{grant: grant}
	}
	f.refreshLocked(key, nil)
}

// setShared records the version of a shared session its own watch has (nil:
// none, or none that matches the feed's filter).
func (f *sessionFeed) setShared(key string, s, last *streamv1alpha1.Session) {
	f.mu.Lock()
	defer f.mu.Unlock()
	shared := f.shared[key]
	if shared == nil {
		return // no longer shared: the event of a watch being stopped
	}
	shared.session = s
	f.refreshLocked(key, last)
}

// dropShared forgets that key is shared with the caller: unless the
// namespace watch has it too, the client is told it is deleted.
func (f *sessionFeed) dropShared(key string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, ok := f.shared[key]; !ok {
		return
	}
	delete(f.shared, key)
	f.refreshLocked(key, nil)
}

// The namespace watch's events.

func (f *sessionFeed) OnAdd(obj any, _ bool) {
	s, ok := obj.(*streamv1alpha1.Session)
	if !ok || !f.matches(s) {
		return
	}
	f.setOwn(sessionKey(s), s, nil)
}

func (f *sessionFeed) OnUpdate(oldObj, newObj any) {
	if !resourceVersionChanged(oldObj, newObj) {
		return // a relist replayed what the client already has: no duplicate
	}
	s, ok := newObj.(*streamv1alpha1.Session)
	if !ok {
		return
	}
	if f.matches(s) {
		f.setOwn(sessionKey(s), s, nil)
	} else {
		f.setOwn(sessionKey(s), nil, s)
	}
}

func (f *sessionFeed) OnDelete(obj any) {
	s, ok := deletedObject(obj).(*streamv1alpha1.Session)
	if !ok {
		return
	}
	f.setOwn(sessionKey(s), nil, s)
}

var _ cache.ResourceEventHandler = &sessionFeed{}

// sharedSessionEvents passes the events of a shared session's own watch
// to the feed.
type sharedSessionEvents struct {
	feed *sessionFeed
	key  string
}

func (h sharedSessionEvents) OnAdd(obj any, _ bool) {
	if s, ok := obj.(*streamv1alpha1.Session); ok && h.feed.matches(s) {
		h.feed.setShared(h.key, s, nil)
	}
}

func (h sharedSessionEvents) OnUpdate(oldObj, newObj any) {
	s, ok := newObj.(*streamv1alpha1.Session)
	if !ok || !resourceVersionChanged(oldObj, newObj) {
		return
	}
	if h.feed.matches(s) {
		h.feed.setShared(h.key, s, nil)
	} else {
		h.feed.setShared(h.key, nil, s)
	}
}

func (h sharedSessionEvents) OnDelete(obj any) {
	if s, ok := deletedObject(obj).(*streamv1alpha1.Session); ok {
		h.feed.setShared(h.key, nil, s)
	}
}
