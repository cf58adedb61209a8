package feed

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// sessionWarning tells the owner of a session, on the sessions feed, that it
// is about to hibernate for idleness, so the UI can say so while someone can
// still connect.
type sessionWarning struct {
	Type        string     `json:"type"`   // warning
	Reason      string     `json:"reason"` // IdleWarning
	Session     sessionRef `json:"session"`
	HibernateAt string     `json:"hibernateAt"` // RFC 3339
	Message     string     `json:"message"`
	Timestamp   string     `json:"timestamp"`
}

type sessionRef struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
}

// idleWarningOf is the warning a session's status calls for: its
// IdleWarning condition is True and it has a hibernateAt (the hibernation
// controller writes both at once).
func idleWarningOf(s *streamv1alpha1.Session) (sessionWarning, bool) {
	c := meta.FindStatusCondition(s.Status.Conditions, stream.SessionConditionIdleWarning)
	if c == nil || c.Status != metav1.ConditionTrue || s.Status.HibernateAt == nil {
		return sessionWarning{}, false
	}
	return sessionWarning{
		Type: "warning", Reason: stream.SessionConditionIdleWarning,
		Session:     sessionRef{Name: s.Name, Namespace: s.Namespace},
		HibernateAt: s.Status.HibernateAt.UTC().Format(time.RFC3339), Message: c.Message,
	}, true
}

// warningsSent remembers, per session (namespace/name), the hibernateAt of
// the last idle warning sent to one client, so that every watch event of a
// warned session does not warn again.
type warningsSent map[string]string

// next returns the warning to send to owner's client for s, if any: s is
// owner's, and its IdleWarning turned True or names another hibernateAt than
// the last warning sent. A session no longer warned is forgotten, so that
// its next idle period warns again.
func (sent warningsSent) next(owner, key string, s *streamv1alpha1.Session) (sessionWarning, bool) {
	w, ok := idleWarningOf(s)
	if !ok || s.Spec.User != owner {
		delete(sent, key)
		return sessionWarning{}, false
	}
	if last, warned := sent[key]; warned && last == w.HibernateAt {
		return sessionWarning{}, false
	}
	sent[key] = w.HibernateAt
	return w, true
}

// forget drops a deleted session.
func (sent warningsSent) forget(key string) { delete(sent, key) }
