// Package broadcast fans an ordered stream of changes out to many subscribers.
//
// Publishing never blocks: a subscriber whose buffer is full is dropped and
// marked Lagged, and is expected to catch up from the durable log (the
// history table) and subscribe again. So one slow watcher can neither stall
// the others nor make the process buffer without bound.
package broadcast

import (
	"sync"
	"sync/atomic"
)

// Broadcaster delivers items, in publishing order, to the subscribers whose
// filter accepts them. It tracks the position (resourceVersion) of the last
// item published, so a subscriber knows from where its stream starts.
type Broadcaster[T any] struct {
	mu     sync.Mutex
	subs   map[*Subscription[T]]struct{}
	pos    int64
	closed bool
}

// Subscription is one subscriber's stream. C is closed when the subscription
// is stopped, dropped for lagging, or the broadcaster is closed.
type Subscription[T any] struct {
	C <-chan T

	ch     chan T
	filter func(T) bool
	b      *Broadcaster[T]
	lagged atomic.Bool
}

// New returns a broadcaster whose stream starts after position pos.
func New[T any](pos int64) *Broadcaster[T] {
	return &Broadcaster[T]{subs: map[*Subscription[T]]struct{}{}, pos: pos}
}

// Subscribe returns a subscription that receives every item published from
// now on that filter accepts (all items when filter is nil), and the position
// of the last item published before it: the subscription sees exactly the
// items after that position.
func (b *Broadcaster[T]) Subscribe(buffer int, filter func(T) bool) (*Subscription[T], int64) {
	ch := make(chan T, buffer)
	s := &Subscription[T]{C: ch, ch: ch, filter: filter, b: b}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		close(ch)
		return s, b.pos
	}
	b.subs[s] = struct{}{}
	return s, b.pos
}

// Publish delivers items to the subscribers and moves the position to pos.
func (b *Broadcaster[T]) Publish(pos int64, items ...T) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	for s := range b.subs {
		for _, item := range items {
			if s.filter != nil && !s.filter(item) {
				continue
			}
			select {
			case s.ch <- item:
			default:
				s.lagged.Store(true)
				b.dropLocked(s)
			}
			if s.lagged.Load() {
				break
			}
		}
	}
	if pos > b.pos {
		b.pos = pos
	}
}

// Position is the position of the last item published.
func (b *Broadcaster[T]) Position() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.pos
}

// Subscribers is the number of current subscriptions.
func (b *Broadcaster[T]) Subscribers() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.subs)
}

// Close ends every subscription; later subscriptions start closed.
func (b *Broadcaster[T]) Close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return
	}
	b.closed = true
	for s := range b.subs {
		b.dropLocked(s)
	}
}

func (b *Broadcaster[T]) dropLocked(s *Subscription[T]) {
	if _, ok := b.subs[s]; !ok {
		return
	}
	delete(b.subs, s)
	close(s.ch)
}

// Stop ends the subscription. It is safe to call more than once.
func (s *Subscription[T]) Stop() {
	s.b.mu.Lock()
	defer s.b.mu.Unlock()
	s.b.dropLocked(s)
}

// Lagged reports whether the subscription was dropped because its buffer was full.
func (s *Subscription[T]) Lagged() bool { return s.lagged.Load() }
