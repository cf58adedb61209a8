// Package limits bounds what one client IP or one user may take of the
// bridge: request rates, open WebSocket feeds and open log streams.
package limits

import (
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/streamspace/controlplane/pkg/bridge/httpjson"
	"golang.org/x/time/rate"
	"k8s.io/utils/lru"
)

// Limits bound what one client IP or one user may take of the bridge. A
// request over a limit is answered 429 with Retry-After. Zero rates and
// counts mean no limit.
type Limits struct {
	// RequestsPerIP and BurstPerIP: token bucket per client IP, for every
	// request (before its token is looked at).
	RequestsPerIP float64
	BurstPerIP    int
	// RequestsPerUser and BurstPerUser: token bucket per user, for requests
	// with a token kube-apiserver accepted.
	RequestsPerUser float64
	BurstPerUser    int
	// FeedsPerUser bounds the WebSocket feeds one user has open at once
	// (logs feeds included).
	FeedsPerUser int
	// LogStreamsPerUser bounds one user's open logs feeds; each holds a log
	// stream from kube-apiserver (and the kubelet behind it).
	LogStreamsPerUser int
	// LogStreamsPerContainer bounds the open logs feeds of one container,
	// whoever opens them.
	LogStreamsPerContainer int
	// MaxTrackedClients bounds how many IPs and users have a rate limiter
	// at once (least recently seen first out).
	MaxTrackedClients int
}

// Default are the limits of a bridge configured with none.
func Default() Limits {
	return Limits{
		RequestsPerIP: 200, BurstPerIP: 400,
		RequestsPerUser: 25, BurstPerUser: 100,
		FeedsPerUser:           32,
		LogStreamsPerUser:      8,
		LogStreamsPerContainer: 4,
		MaxTrackedClients:      10000,
	}
}

// feedRetryAfter is what a client over a count limit is told to wait: a
// feed slot frees when another feed of the user closes, which the bridge
// cannot predict.
const feedRetryAfter = 10 * time.Second

// Limiter enforces Limits.
type Limiter struct {
	limits Limits
	now    func() time.Time

	mu         sync.Mutex
	ips        *lru.Cache // client IP → *rate.Limiter
	users      *lru.Cache // user name → *rate.Limiter
	feeds      map[string]int
	logs       map[string]int
	containers map[string]int
}

// New builds a Limiter with nothing taken yet.
func New(l Limits) *Limiter {
	if l.MaxTrackedClients <= 0 {
		l.MaxTrackedClients = Default().MaxTrackedClients
	}
	return &Limiter{
		limits: l, now: time.Now,
		ips: lru.New(l.MaxTrackedClients), users: lru.New(l.MaxTrackedClients),
		feeds: map[string]int{}, logs: map[string]int{}, containers: map[string]int{},
	}
}

// AllowIP takes one request from ip's bucket, or answers 429.
func (l *Limiter) AllowIP(w http.ResponseWriter, ip string) bool {
	return l.allow(w, l.ips, ip, l.limits.RequestsPerIP, l.limits.BurstPerIP, "client IP "+ip)
}

// AllowUser takes one request from user's bucket, or answers 429.
func (l *Limiter) AllowUser(w http.ResponseWriter, user string) bool {
	return l.allow(w, l.users, user, l.limits.RequestsPerUser, l.limits.BurstPerUser, "user "+user)
}

func (l *Limiter) allow(w http.ResponseWriter, buckets *lru.Cache, key string, perSecond float64, burst int, who string) bool {
	if perSecond <= 0 {
		return true
	}
	now := l.now()
	l.mu.Lock()
	var bucket *rate.Limiter
	if v, ok := buckets.Get(key); ok {
		bucket = v.(*rate.Limiter)
	} else {
		bucket = rate.NewLimiter(rate.Limit(perSecond), max(burst, 1))
		buckets.Add(key, bucket)
	}
	l.mu.Unlock()
	reservation := bucket.ReserveN(now, 1)
	delay := reservation.DelayFrom(now)
	if reservation.OK() && delay == 0 {
		return true
	}
	reservation.CancelAt(now)
	rateLimited.WithLabelValues("requests").Inc()
	writeTooManyRequests(w, delay, fmt.Sprintf("too many requests from %s (at most %g per second, bursts of %d)", who, perSecond, burst))
	return false
}

// FeedSlot is a place for one open feed; Release it when the feed ends.
type FeedSlot struct {
	release func()
}

// Release frees the slot; more calls do nothing.
func (s FeedSlot) Release() { s.release() }

// AcquireFeed takes a feed slot of user, and for a logs feed (container
// non-empty) a log stream slot of the user and of the container; or answers
// 429 and returns false.
func (l *Limiter) AcquireFeed(w http.ResponseWriter, user, container string) (FeedSlot, bool) {
	slot, refusal := l.takeFeedSlot(user, container)
	if refusal != "" {
		writeTooManyRequests(w, feedRetryAfter, refusal)
		return FeedSlot{}, false
	}
	return slot, true
}

func (l *Limiter) takeFeedSlot(user, container string) (FeedSlot, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	type slotCheck struct {
		metric, what string
		limit, open  int
	}
	checks := []slotCheck{{"feeds", "feeds of user " + user, l.limits.FeedsPerUser, l.feeds[user]}}
	if container != "" {
		checks = append(checks,
			slotCheck{"user_log_streams", "log streams of user " + user, l.limits.LogStreamsPerUser, l.logs[user]},
			slotCheck{"container_log_streams", "log streams of container " + container, l.limits.LogStreamsPerContainer, l.containers[container]})
	}
	for _, c := range checks {
		if c.limit > 0 && c.open >= c.limit {
			rateLimited.WithLabelValues(c.metric).Inc()
			return FeedSlot{}, fmt.Sprintf("too many open %s (at most %d); close one first", c.what, c.limit)
		}
	}
	l.feeds[user]++
	if container != "" {
		l.logs[user]++
		l.containers[container]++
	}
	var once sync.Once
	return FeedSlot{release: func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			decrement(l.feeds, user)
			if container != "" {
				decrement(l.logs, user)
				decrement(l.containers, container)
			}
		})
	}}, ""
}

// decrement keeps the count maps as small as what is open.
func decrement(m map[string]int, key string) {
	if m[key] <= 1 {
		delete(m, key)
		return
	}
	m[key]--
}

// writeTooManyRequests answers 429 with Retry-After in whole seconds (at
// least 1).
func writeTooManyRequests(w http.ResponseWriter, retryAfter time.Duration, message string) {
	seconds := int(math.Ceil(retryAfter.Seconds()))
	if seconds < 1 {
		seconds = 1
	}
	w.Header().Set("Retry-After", strconv.Itoa(seconds))
	httpjson.Status(w, http.StatusTooManyRequests, "TooManyRequests", message)
}
