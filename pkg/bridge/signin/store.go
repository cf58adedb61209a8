package signin

import (
	"container/list"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"
)

// signIn is one person's sign-in at this bridge: the tokens the provider
// issued, kept on the server. The browser holds only a random handle.
type signIn struct {
	mu           sync.Mutex // serialises refreshes of this sign-in
	idToken      string
	refreshToken string
	expiry       time.Time // of idToken
	ends         time.Time // the sign-in's absolute end
	person       Person
}

// Person is what the ID token says about who signed in; kube-apiserver
// decides the Kubernetes identity (username, groups) from the same token.
type Person struct {
	Subject string `json:"subject"`
	Name    string `json:"name,omitempty"`
	Email   string `json:"email,omitempty"`
}

// store keeps sign-ins by the hash of their handle (so the map never holds
// a usable cookie value), at most max of them: the least recently used
// goes first. Bounded so that a flood of sign-ins cannot exhaust memory.
type store struct {
	mu    sync.Mutex
	max   int
	items map[string]*list.Element
	order *list.List // front: most recently used
}

type storeEntry struct {
	key string
	in  *signIn
}

func newStore(max int) *store {
	return &store{max: max, items: map[string]*list.Element{}, order: list.New()}
}

func handleKey(handle string) string {
	sum := sha256.Sum256([]byte(handle))
	return hex.EncodeToString(sum[:])
}

func (s *store) put(handle string, in *signIn) (evicted int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := handleKey(handle)
	if el, ok := s.items[key]; ok {
		s.order.Remove(el)
	}
	s.items[key] = s.order.PushFront(&storeEntry{key: key, in: in})
	for s.order.Len() > s.max {
		last := s.order.Back()
		s.order.Remove(last)
		delete(s.items, last.Value.(*storeEntry).key)
		evicted++
	}
	return evicted
}

// get is the sign-in behind handle unless it has ended at now.
func (s *store) get(handle string, now time.Time) *signIn {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := handleKey(handle)
	el, ok := s.items[key]
	if !ok {
		return nil
	}
	in := el.Value.(*storeEntry).in
	if !now.Before(in.ends) {
		s.order.Remove(el)
		delete(s.items, key)
		return nil
	}
	s.order.MoveToFront(el)
	return in
}

// remove forgets the sign-in behind handle and returns it (nil if none).
func (s *store) remove(handle string) *signIn {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := handleKey(handle)
	el, ok := s.items[key]
	if !ok {
		return nil
	}
	s.order.Remove(el)
	delete(s.items, key)
	return el.Value.(*storeEntry).in
}

func (s *store) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.order.Len()
}

// pendingLogin is a sign-in on its way through the provider: the PKCE
// verifier and where to go afterwards, keyed by the state parameter.
type pendingLogin struct {
	verifier string
	returnTo string
	expires  time.Time
}

// pendingLogins holds at most max logins in flight; the oldest goes first.
type pendingLogins struct {
	mu    sync.Mutex
	max   int
	items map[string]*list.Element
	order *list.List
}

type pendingEntry struct {
	state string
	p     pendingLogin
}

func newPendingLogins(max int) *pendingLogins {
	return &pendingLogins{max: max, items: map[string]*list.Element{}, order: list.New()}
}

func (p *pendingLogins) put(state string, login pendingLogin) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.items[state] = p.order.PushFront(&pendingEntry{state: state, p: login})
	for p.order.Len() > p.max {
		last := p.order.Back()
		p.order.Remove(last)
		delete(p.items, last.Value.(*pendingEntry).state)
	}
}

// take removes and returns the login of state if it has not expired.
func (p *pendingLogins) take(state string, now time.Time) (pendingLogin, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	el, ok := p.items[state]
	if !ok {
		return pendingLogin{}, false
	}
	p.order.Remove(el)
	delete(p.items, state)
	login := el.Value.(*pendingEntry).p
	return login, now.Before(login.expires)
}
