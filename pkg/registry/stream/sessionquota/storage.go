package sessionquota

import (
	"fmt"
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// NewREST returns the storage of SessionQuotas and of their status.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*storebuilder.REST, *storebuilder.StatusREST, error) {
	return storebuilder.New(storebuilder.Options[*stream.SessionQuota]{
		Resource:    stream.Resource("sessionquotas"),
		Singular:    stream.Resource("sessionquota"),
		NewFunc:     func() runtime.Object { return &stream.SessionQuota{} },
		NewListFunc: func() runtime.Object { return &stream.SessionQuotaList{} },
		Rules:       rules,
		Table:       table,
		ShortNames:  []string{"sq"},
		Categories:  []string{"streamspace"},
	}, scheme, optsGetter)
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Subjects", Type: "string", Description: "Who the quota limits, each person separately."},
		{Name: "Max-Sessions", Type: "string", Description: "Sessions a person may have."},
		{Name: "Max-Running", Type: "string", Description: "Running sessions a person may have."},
		{Name: "CPU", Type: "string", Priority: 1, Description: "CPU requests of a person's running sessions."},
		{Name: "Memory", Type: "string", Priority: 1, Description: "Memory requests of a person's running sessions."},
		{Name: "People", Type: "integer", Priority: 1, Description: "People with usage recorded."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		q, ok := obj.(*stream.SessionQuota)
		if !ok {
			return nil, fmt.Errorf("not a SessionQuota: %T", obj)
		}
		l := q.Spec.Limits
		return []interface{}{Subjects(q.Spec.Subjects), count(l.MaxSessions), count(l.MaxRunningSessions),
			quantity(l.CPU), quantity(l.Memory), int64(len(q.Status.Usage))}, nil
	},
}

// Subjects describes a quota's subjects in one line, e.g. "user:alice,group:staff".
func Subjects(s stream.QuotaSubjects) string {
	if s.All {
		return "*"
	}
	parts := make([]string, 0, len(s.Users)+len(s.Groups))
	for _, u := range s.Users {
		parts = append(parts, "user:"+u)
	}
	for _, g := range s.Groups {
		parts = append(parts, "group:"+g)
	}
	return strings.Join(parts, ",")
}

func count(n *int32) string {
	if n == nil {
		return "-"
	}
	return strconv.Itoa(int(*n))
}

func quantity(q *resource.Quantity) string {
	if q == nil {
		return "-"
	}
	return q.String()
}
