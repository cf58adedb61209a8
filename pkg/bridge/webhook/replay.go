package webhook

import (
	"container/list"
	"sync"
	"time"

	"k8s.io/utils/clock"
)

// deliveryStore remembers the deliveries seen within ttl, at most max of
// them (the oldest is forgotten first). It is in memory: each bridge
// replica has its own; what the replicas share is the annotation the
// trigger writes on the repositories (AnnotationTrigger).
type deliveryStore struct {
	clock clock.PassiveClock
	ttl   time.Duration
	max   int

	mu    sync.Mutex
	order *list.List // of *delivery, oldest first
	byKey map[string]*list.Element
}

type delivery struct {
	key  string
	seen time.Time
}

func newDeliveryStore(c clock.PassiveClock, ttl time.Duration, max int) *deliveryStore {
	return &deliveryStore{clock: c, ttl: ttl, max: max, order: list.New(), byKey: map[string]*list.Element{}}
}

// firstSeen records keys and reports whether none of them was seen within
// ttl; when one was, nothing is recorded and the time it was seen is returned.
func (s *deliveryStore) firstSeen(keys ...string) (bool, time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for e := s.order.Front(); e != nil && now.Sub(e.Value.(*delivery).seen) >= s.ttl; e = s.order.Front() {
		s.order.Remove(e)
		delete(s.byKey, e.Value.(*delivery).key)
	}
	for _, k := range keys {
		if e, ok := s.byKey[k]; ok {
			return false, e.Value.(*delivery).seen
		}
	}
	for _, k := range keys {
		s.byKey[k] = s.order.PushBack(&delivery{key: k, seen: now})
	}
	for s.order.Len() > s.max {
		e := s.order.Front()
		s.order.Remove(e)
		delete(s.byKey, e.Value.(*delivery).key)
	}
	return true, time.Time{}
}

// forget drops keys, so that a delivery whose processing failed may be sent again.
func (s *deliveryStore) forget(keys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if e, ok := s.byKey[k]; ok {
			s.order.Remove(e)
			delete(s.byKey, k)
		}
	}
}
