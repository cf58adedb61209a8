// Package anyname puts a question in front of the delegated authorizer that
// its cache can answer: may the caller do this to any object of the kind?
//
// The delegated authorizer asks kube-apiserver with a SubjectAccessReview
// and caches the answer by the review's whole spec, the object's name
// included, in an LRU of 8,192 entries for 10 seconds
// (k8s.io/apiserver/plugin/pkg/authorizer/webhook). A request naming an
// object it has not seen in the last 10 seconds is a round trip to
// kube-apiserver. Heartbeats are exactly that: every viewer's Connection has
// its own name and beats every 30 seconds, so each heartbeat missed the cache
// and cost a SubjectAccessReview, and so did every controller's update of a
// Session's status.
//
// Rules that grant a verb on a kind without naming objects (the usual RBAC
// rule: "alice may create connections/heartbeat in namespace alice") allow
// the request for every name. So a request that names an object is first
// asked without the name; the answer is shared by every object of that kind
// in that namespace for that caller and verb, and stays in the cache. Only
// when that answer is not "allow" (the caller holds a rule restricted with
// resourceNames, or none) is the request asked again with its name, as
// before, so every decision RBAC makes is unchanged.
//
// Questions asked at the same moment are asked once: while one unnamed
// question is on its way to kube-apiserver, the same question from other
// requests waits for its answer instead of sending its own. Without that,
// an expired cache entry under load sent one review per waiting request
// (a person's fifty viewers beating, say), and when kube-apiserver was slow
// to answer, the reviews that timed out were not cached, so every heartbeat
// sent another: the reviews themselves became most of kube-apiserver's load.
//
// The unnamed answers are kept here, not in the delegate's cache, so that
// an answer still in use is asked again before it expires: a request that
// finds its answer older than four fifths of its time to live is served that
// answer and starts the review that replaces it in the background. Behind
// the delegate's cache, every person's requests waited for a review each
// time their answer expired (every 10 seconds for a person whose viewers
// beat); now only the first request after a quiet spell does. An answer is
// never served longer after its review was sent than the delegate's cache
// would serve it (--authorization-webhook-cache-authorized-ttl and
// -unauthorized-ttl), so a revoked permission stops being honoured as soon
// as before. These reviews go to a reviewer without a cache of its own (the
// same authorizer chain built with zero TTLs), or a refresh would only read
// the delegate's cached answer back.
//
// The one difference is for an authorizer in kube-apiserver's chain that
// denies a name while allowing the kind unnamed (a deny-capable webhook
// keyed on names): such a denial would not be seen here. Requests through
// the aggregator were already authorized by kube-apiserver with their name
// before they were proxied, so there it still applies.
package anyname

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/singleflight"

	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	"k8s.io/utils/clock"
)

// Options are how long unnamed answers are served.
type Options struct {
	// AllowTTL and DenyTTL are how long after its review was sent an
	// answer that allows, and one that does not, is served: the delegated
	// authorizer's cache TTLs.
	AllowTTL, DenyTTL time.Duration
	// Clock is the real clock unless a test sets another.
	Clock clock.PassiveClock
}

// cacheSize is how many unnamed answers are kept: as many as the delegated
// authorizer's cache keeps reviews.
const cacheSize = 8192

// NewAuthorizer wraps delegate as the package comment describes: reviewer
// answers the unnamed questions, whose answers are kept here, and delegate
// everything else. reviewer must not cache answers itself.
func NewAuthorizer(delegate, reviewer authorizer.Authorizer, opts Options) authorizer.Authorizer {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	q := &questions{reviewer: reviewer, opts: opts, answers: cache.NewLRUExpireCacheWithClock(cacheSize, opts.Clock)}
	return authorizer.AuthorizerFunc(func(ctx context.Context, a authorizer.Attributes) (authorizer.Decision, string, error) {
		if !a.IsResourceRequest() {
			return delegate.Authorize(ctx, a)
		}
		u := unnamed(a)
		key, err := questionKey(u)
		if err != nil {
			return delegate.Authorize(ctx, a)
		}
		ans, err := q.answer(ctx, key, u)
		switch {
		case a.GetName() == "":
			return ans.decision, ans.reason, err
		case err == nil && ans.decision == authorizer.DecisionAllow:
			return ans.decision, ans.reason, nil
		}
		return delegate.Authorize(ctx, a)
	})
}

// questions asks and keeps the unnamed questions' answers.
type questions struct {
	reviewer authorizer.Authorizer
	opts     Options
	answers  *cache.LRUExpireCache
	inFlight singleflight.Group
}

type answer struct {
	decision authorizer.Decision
	reason   string
	// asked is when the review that gave the answer was sent.
	asked time.Time
}

// answer returns the kept answer to u while it is fresh enough, starting
// its refresh when it is near its end, and otherwise asks u (once, however
// many requests wait for it) and waits for the answer.
func (q *questions) answer(ctx context.Context, key string, u authorizer.Attributes) (answer, error) {
	ask := func() (any, error) { return q.ask(key, u) }
	if v, ok := q.answers.Get(key); ok {
		ans := v.(answer)
		if q.opts.Clock.Since(ans.asked) >= q.ttl(ans.decision)*4/5 {
			// The channel is buffered: nobody needs to read it.
			q.inFlight.DoChan(key, ask)
		}
		return ans, nil
	}
	ch := q.inFlight.DoChan(key, ask)
	select {
	case r := <-ch:
		if r.Err != nil {
			return answer{decision: authorizer.DecisionNoOpinion}, r.Err
		}
		return r.Val.(answer), nil
	case <-ctx.Done():
		return answer{decision: authorizer.DecisionNoOpinion}, ctx.Err()
	}
}

// ask sends the review and keeps its answer for its time to live, counted
// from when the review was sent. It runs without any one request's
// deadline, so that one caller's cancellation does not fail the others nor
// a refresh; the reviewer bounds it with its own timeout. Failed reviews
// are not kept.
func (q *questions) ask(key string, u authorizer.Attributes) (any, error) {
	asked := q.opts.Clock.Now()
	decision, reason, err := q.reviewer.Authorize(context.Background(), u)
	if err != nil {
		return nil, err
	}
	ans := answer{decision: decision, reason: reason, asked: asked}
	if left := q.ttl(decision) - q.opts.Clock.Since(asked); left > 0 {
		q.answers.Add(key, ans, left)
	}
	return ans, nil
}

func (q *questions) ttl(d authorizer.Decision) time.Duration {
	if d == authorizer.DecisionAllow {
		return q.opts.AllowTTL
	}
	return q.opts.DenyTTL
}

// questionKey identifies an unnamed question: everything the delegate's
// SubjectAccessReview would carry (the caller's name, uid, groups and
// extra, and the request's attributes). Every part is written with its
// length first, so different questions never share a key; it is built on
// every request, so without reflection.
func questionKey(a authorizer.Attributes) (string, error) {
	u := a.GetUser()
	if u == nil {
		return "", errors.New("no user")
	}
	var b strings.Builder
	b.Grow(256)
	part := func(s string) {
		b.WriteString(strconv.Itoa(len(s)))
		b.WriteByte(':')
		b.WriteString(s)
	}
	list := func(l []string) {
		b.WriteString(strconv.Itoa(len(l)))
		b.WriteByte('[')
		for _, s := range l {
			part(s)
		}
	}
	part(u.GetName())
	part(u.GetUID())
	list(u.GetGroups())
	extra := u.GetExtra()
	keys := make([]string, 0, len(extra))
	for k := range extra {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	b.WriteString(strconv.Itoa(len(keys)))
	b.WriteByte('{')
	for _, k := range keys {
		part(k)
		list(extra[k])
	}
	for _, s := range []string{a.GetVerb(), a.GetNamespace(), a.GetAPIGroup(), a.GetAPIVersion(), a.GetResource(), a.GetSubresource()} {
		part(s)
	}
	if fields, err := a.GetFieldSelector(); len(fields) > 0 || err != nil {
		part(fmt.Sprint(fields, err))
	} else {
		part("")
	}
	if labels, err := a.GetLabelSelector(); len(labels) > 0 || err != nil {
		part(fmt.Sprint(labels, err))
	} else {
		part("")
	}
	return b.String(), nil
}

// unnamed is a with no object name.
func unnamed(a authorizer.Attributes) authorizer.Attributes {
	fieldReqs, fieldErr := a.GetFieldSelector()
	labelReqs, labelErr := a.GetLabelSelector()
	return authorizer.AttributesRecord{
		User:                      a.GetUser(),
		Verb:                      a.GetVerb(),
		Namespace:                 a.GetNamespace(),
		APIGroup:                  a.GetAPIGroup(),
		APIVersion:                a.GetAPIVersion(),
		Resource:                  a.GetResource(),
		Subresource:               a.GetSubresource(),
		ResourceRequest:           true,
		Path:                      a.GetPath(),
		FieldSelectorRequirements: fieldReqs,
		FieldSelectorParsingErr:   fieldErr,
		LabelSelectorRequirements: labelReqs,
		LabelSelectorParsingErr:   labelErr,
	}
}
