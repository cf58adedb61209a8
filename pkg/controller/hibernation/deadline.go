package hibernation

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/sessionready"
)

// IdleTimeout is the session's idleTimeout, or the platform default when it
// has none; zero means never.
func IdleTimeout(s *streamv1alpha1.Session, platformDefault time.Duration) time.Duration {
	if s.Spec.IdleTimeout == nil {
		return platformDefault
	}
	return s.Spec.IdleTimeout.Duration
}

// IdleSince is when the session was last in use, from persisted status
// only: the latest of its creation, when it last became Running, its last
// connection, activity and disconnect.
func IdleSince(s *streamv1alpha1.Session) time.Time {
	since := s.CreationTimestamp.Time
	for _, t := range []*metav1.Time{sessionready.RunningSince(s), s.Status.LastConnection, s.Status.LastActivity, s.Status.LastDisconnect} {
		if t != nil && t.After(since) {
			since = t.Time
		}
	}
	return since
}

// HibernateAt is when a session will hibernate if nobody connects, and
// false when it will not: it must want to run, be Running, have no viewer
// (live ones in liveConnections, and none counted in status, so the
// disconnect time is recorded) and an idle timeout.
func HibernateAt(s *streamv1alpha1.Session, liveConnections int, platformDefault time.Duration) (time.Time, bool) {
	if s.DeletionTimestamp != nil || s.Spec.State != streamv1alpha1.SessionStateRunning || s.Status.Phase != streamv1alpha1.SessionPhaseRunning {
		return time.Time{}, false
	}
	if liveConnections > 0 || s.Status.ActiveConnections > 0 {
		return time.Time{}, false
	}
	idle := IdleTimeout(s, platformDefault)
	if idle <= 0 {
		return time.Time{}, false
	}
	return IdleSince(s).Add(idle), true
}

// IdleWarningAt is when the owner of a session that hibernates at
// hibernateAt is warned: lead before it. A lead of zero never warns.
func IdleWarningAt(hibernateAt time.Time, lead time.Duration) (time.Time, bool) {
	if lead <= 0 {
		return time.Time{}, false
	}
	return hibernateAt.Add(-lead), true
}

// IdleWarningMessage says when a session hibernates, in the IdleWarning
// condition and its Event. It names the deadline, so two warnings with one
// message are warnings of one deadline.
func IdleWarningMessage(hibernateAt time.Time) string {
	return fmt.Sprintf("Hibernating at %s unless someone connects", hibernateAt.UTC().Format(time.RFC3339))
}

// IdleWarning is the IdleWarning condition that a session hibernating at
// hibernateAt carries at now, or nil while its warning is not due yet.
// current is the condition as stored: a warning of the same deadline keeps
// its transition time, a warning of another deadline (a viewer came and
// went, the idle timeout changed) is a new one, transitioning now.
func IdleWarning(current *metav1.Condition, hibernateAt time.Time, lead time.Duration, now time.Time) *metav1.Condition {
	warnAt, ok := IdleWarningAt(hibernateAt, lead)
	if !ok || now.Before(warnAt) {
		return nil
	}
	warning := &metav1.Condition{
		Type: stream.SessionConditionIdleWarning, Status: metav1.ConditionTrue, Reason: stream.SessionReasonHibernatingSoon,
		Message: IdleWarningMessage(hibernateAt), LastTransitionTime: metav1.NewTime(now),
	}
	if SameIdleWarning(current, warning) {
		warning.LastTransitionTime = current.LastTransitionTime
	}
	return warning
}

// SameIdleWarning tells whether two IdleWarning conditions (nil for none)
// warn of the same deadline; a warning that is not True warns of none.
func SameIdleWarning(a, b *metav1.Condition) bool {
	warns := func(c *metav1.Condition) bool { return c != nil && c.Status == metav1.ConditionTrue }
	if !warns(a) || !warns(b) {
		return warns(a) == warns(b)
	}
	return a.Message == b.Message
}

// NextCheck is when a session that hibernates at hibernateAt must be looked
// at again: at its warning while that is ahead, else at the deadline.
func NextCheck(hibernateAt time.Time, lead time.Duration, now time.Time) time.Time {
	if warnAt, ok := IdleWarningAt(hibernateAt, lead); ok && now.Before(warnAt) {
		return warnAt
	}
	return hibernateAt
}

// WakingConnection returns a connection that asks a hibernated session to
// start: one created after the session stopped being Ready (connections
// left from before the hibernation do not count), or nil.
func WakingConnection(s *streamv1alpha1.Session, conns []*streamv1alpha1.Connection) *streamv1alpha1.Connection {
	if s.DeletionTimestamp != nil || s.Spec.State != streamv1alpha1.SessionStateHibernated {
		return nil
	}
	var asleepSince time.Time
	if t := sessionready.NotReadySince(s); t != nil {
		asleepSince = t.Time
	} else if s.Status.Phase != streamv1alpha1.SessionPhaseHibernated {
		// Still shutting down (Ready until the pod is gone): only newer
		// connections than now could count; wait for the transition.
		return nil
	}
	var newest *streamv1alpha1.Connection
	for _, c := range conns {
		if c.CreationTimestamp.Time.Before(asleepSince) {
			continue
		}
		if newest == nil || c.CreationTimestamp.After(newest.CreationTimestamp.Time) {
			newest = c
		}
	}
	return newest
}
