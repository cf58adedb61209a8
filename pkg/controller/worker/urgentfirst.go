package worker

import (
	"container/list"

	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"
)

// NewUrgentFirstQueue is a rate-limited workqueue, as
// workqueue.NewTypedRateLimitingQueueWithConfig builds it, whose waiting
// keys are handed out urgent ones first and each kind first in, first out.
// urgent is asked when a key is queued and again when it is added while it
// waits (workqueue calls Touch then), so a waiting key can move up but never
// down. The workqueue's own rules are unchanged: a key waits at most once,
// and no two workers hold the same key. urgent runs under the queue's lock:
// it must be quick and must not add to the queue (a lister lookup is fine).
func NewUrgentFirstQueue(name string, clk clock.WithTicker, urgent func(string) bool) workqueue.TypedRateLimitingInterface[string] {
	order := newUrgentFirst(urgent)
	queue := workqueue.NewTypedWithConfig(workqueue.TypedQueueConfig[string]{Name: name, Clock: clk, Queue: order})
	delaying := workqueue.NewTypedDelayingQueueWithConfig(workqueue.TypedDelayingQueueConfig[string]{Name: name, Clock: clk, Queue: queue})
	return workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: name, Clock: clk, DelayingQueue: delaying})
}

// urgentFirst is the order of a workqueue's waiting keys: two FIFO lists,
// urgent and other, and where each key is. The workqueue calls it under its
// lock and pushes a key only when it is not waiting already.
type urgentFirst[T comparable] struct {
	urgent  func(T) bool
	lists   [2]list.List // urgent, other
	waiting map[T]*list.Element
}

var _ workqueue.Queue[string] = &urgentFirst[string]{}

type waitingKey[T comparable] struct {
	key    T
	urgent bool
}

func newUrgentFirst[T comparable](urgent func(T) bool) *urgentFirst[T] {
	return &urgentFirst[T]{urgent: urgent, waiting: map[T]*list.Element{}}
}

func (q *urgentFirst[T]) Push(key T) {
	urgent := q.urgent(key)
	q.waiting[key] = q.list(urgent).PushBack(waitingKey[T]{key, urgent})
}

// Touch moves a waiting key that has become urgent to the end of the
// urgent list.
func (q *urgentFirst[T]) Touch(key T) {
	e, ok := q.waiting[key]
	if !ok || e.Value.(waitingKey[T]).urgent || !q.urgent(key) {
		return
	}
	q.lists[1].Remove(e)
	q.waiting[key] = q.lists[0].PushBack(waitingKey[T]{key, true})
}

func (q *urgentFirst[T]) Len() int { return q.lists[0].Len() + q.lists[1].Len() }

// Pop is called only when Len is positive.
func (q *urgentFirst[T]) Pop() T {
	l := &q.lists[0]
	if l.Len() == 0 {
		l = &q.lists[1]
	}
	key := l.Remove(l.Front()).(waitingKey[T]).key
	delete(q.waiting, key)
	return key
}

func (q *urgentFirst[T]) list(urgent bool) *list.List {
	if urgent {
		return &q.lists[0]
	}
	return &q.lists[1]
}
