package connectionstate

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

var t0 = time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)

func at(d time.Duration) *metav1.Time { t := metav1.NewTime(t0.Add(d)); return &t }

func conn(created, heartbeat time.Duration) *streamv1alpha1.Connection {
	return &streamv1alpha1.Connection{
		ObjectMeta: metav1.ObjectMeta{CreationTimestamp: *at(created)},
		Status:     streamv1alpha1.ConnectionStatus{ConnectedAt: at(created), LastHeartbeat: at(heartbeat)},
	}
}

func TestCounters(t *testing.T) {
	now := t0.Add(time.Hour)
	cases := []struct {
		name           string
		status         streamv1alpha1.SessionStatus
		conns          []*streamv1alpha1.Connection
		disconnectedAt time.Time
		saw            bool
		want           streamv1alpha1.SessionStatus
	}{
		{
			name:  "first viewer",
			conns: []*streamv1alpha1.Connection{conn(time.Minute, time.Minute)},
			want:  streamv1alpha1.SessionStatus{ActiveConnections: 1, LastConnection: at(time.Minute), LastActivity: at(time.Minute)},
		},
		{
			name:   "a heartbeat within the resolution is not written",
			status: streamv1alpha1.SessionStatus{ActiveConnections: 1, LastConnection: at(time.Minute), LastActivity: at(time.Minute)},
			conns:  []*streamv1alpha1.Connection{conn(time.Minute, time.Minute+10*time.Second)},
			want:   streamv1alpha1.SessionStatus{ActiveConnections: 1, LastConnection: at(time.Minute), LastActivity: at(time.Minute)},
		},
		{
			name:   "a heartbeat past the resolution is",
			status: streamv1alpha1.SessionStatus{ActiveConnections: 1, LastConnection: at(time.Minute), LastActivity: at(time.Minute)},
			conns:  []*streamv1alpha1.Connection{conn(time.Minute, 2*time.Minute)},
			want:   streamv1alpha1.SessionStatus{ActiveConnections: 1, LastConnection: at(time.Minute), LastActivity: at(2 * time.Minute)},
		},
		{
			name:           "the last viewer leaves",
			status:         streamv1alpha1.SessionStatus{ActiveConnections: 1, LastConnection: at(time.Minute), LastActivity: at(2 * time.Minute)},
			disconnectedAt: t0.Add(3 * time.Minute), saw: true,
			want: streamv1alpha1.SessionStatus{LastConnection: at(time.Minute), LastActivity: at(3 * time.Minute), LastDisconnect: at(3 * time.Minute)},
		},
		{
			name:   "a delete the controller missed (restart) is noticed now",
			status: streamv1alpha1.SessionStatus{ActiveConnections: 2, LastConnection: at(time.Minute)},
			conns:  []*streamv1alpha1.Connection{conn(time.Minute, time.Minute)},
			want:   streamv1alpha1.SessionStatus{ActiveConnections: 1, LastConnection: at(time.Minute), LastActivity: at(time.Minute), LastDisconnect: &metav1.Time{Time: now}},
		},
		{
			name:           "a disconnect between seconds is stored at the next one, never before the viewer left",
			status:         streamv1alpha1.SessionStatus{ActiveConnections: 1, LastConnection: at(time.Minute)},
			disconnectedAt: t0.Add(3*time.Minute + 300*time.Millisecond), saw: true,
			want: streamv1alpha1.SessionStatus{LastConnection: at(time.Minute), LastActivity: at(3*time.Minute + time.Second), LastDisconnect: at(3*time.Minute + time.Second)},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := Counters(c.status, c.conns, now, c.disconnectedAt, c.saw, 30*time.Second)
			if got.ActiveConnections != c.want.ActiveConnections || !same(got.LastConnection, c.want.LastConnection) ||
				!same(got.LastActivity, c.want.LastActivity) || !same(got.LastDisconnect, c.want.LastDisconnect) {
				t.Errorf("Counters =\n  active %d conn %v activity %v disconnect %v\nwant\n  active %d conn %v activity %v disconnect %v",
					got.ActiveConnections, got.LastConnection, got.LastActivity, got.LastDisconnect,
					c.want.ActiveConnections, c.want.LastConnection, c.want.LastActivity, c.want.LastDisconnect)
			}
		})
	}
}

func same(a, b *metav1.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b)
}
