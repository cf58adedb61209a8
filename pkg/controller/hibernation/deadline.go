package hibernation

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

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
