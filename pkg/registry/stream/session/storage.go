package session

import (
	"fmt"
	"strings"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
	"github.com/streamspace/controlplane/pkg/sessionschedule"
)

// NewREST returns the storage of sessions and of their status.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*storebuilder.REST, *storebuilder.StatusREST, error) {
	return storebuilder.New(storebuilder.Options[*stream.Session]{
		Resource:    stream.Resource("sessions"),
		Singular:    stream.Resource("session"),
		NewFunc:     func() runtime.Object { return &stream.Session{} },
		NewListFunc: func() runtime.Object { return &stream.SessionList{} },
		Rules:       rules,
		Table:       table,
		ShortNames:  []string{"ss"},
		Categories:  []string{"streamspace"},
	}, scheme, optsGetter)
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "User", Type: "string", Description: "The owner of the session."},
		{Name: "Template", Type: "string", Description: "The template the session runs."},
		{Name: "State", Type: "string", Description: "What the owner wants: running, hibernated or terminated."},
		{Name: "Phase", Type: "string", Description: "What the session is."},
		{Name: "Connections", Type: "integer", Description: "Live viewers."},
		{Name: "Next-Start", Type: "string", Description: "When the schedule next sets the session running, in the schedule's time zone."},
		{Name: "Next-Stop", Type: "string", Description: "When the schedule next hibernates the session, in the schedule's time zone."},
		{Name: "URL", Type: "string", Description: "Where the session is reached."},
		{Name: "Idle-Timeout", Type: "string", Priority: 1, Description: "Hibernates after this long without a viewer."},
		{Name: "Reason", Type: "string", Priority: 1, Description: "Why the session is in its phase."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		s, ok := obj.(*stream.Session)
		if !ok {
			return nil, fmt.Errorf("not a Session: %T", obj)
		}
		idle := ""
		if s.Spec.IdleTimeout != nil {
			idle = strings.TrimSuffix(strings.TrimSuffix(s.Spec.IdleTimeout.Duration.String(), "0s"), "0m")
			if idle == "" {
				idle = "never"
			}
		}
		nextStart, nextStop := scheduleTimes(s)
		return []interface{}{s.Spec.User, s.Spec.Template, string(s.Spec.State), string(s.Status.Phase),
			int64(s.Status.ActiveConnections), nextStart, nextStop, s.Status.URL, idle, s.Status.Reason}, nil
	},
}

// scheduleTimes are the next start and stop the controller recorded, shown
// in the schedule's time zone, so that "08:00" reads as the owner wrote it.
func scheduleTimes(s *stream.Session) (start, stop string) {
	if s.Spec.Schedule == nil || s.Status.Schedule == nil {
		return "", ""
	}
	loc, err := sessionschedule.Location(s.Spec.Schedule.TimeZone)
	if err != nil {
		loc = time.UTC
	}
	show := func(t *metav1.Time) string {
		if t == nil {
			return ""
		}
		return t.In(loc).Format("2006-01-02T15:04Z07:00")
	}
	return show(s.Status.Schedule.NextStart), show(s.Status.Schedule.NextStop)
}
