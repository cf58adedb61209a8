package connection

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apiserver/pkg/registry/generic"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/registry/resttable"
	"github.com/streamspace/controlplane/pkg/registry/storebuilder"
)

// NewREST returns the storage of Connections and of their status.
func NewREST(scheme *runtime.Scheme, optsGetter generic.RESTOptionsGetter) (*storebuilder.REST, *storebuilder.StatusREST, error) {
	return storebuilder.New(storebuilder.Options[*stream.Connection]{
		Resource:    stream.Resource("connections"),
		Singular:    stream.Resource("connection"),
		NewFunc:     func() runtime.Object { return &stream.Connection{} },
		NewListFunc: func() runtime.Object { return &stream.ConnectionList{} },
		Rules:       rules,
		Table:       table,
		ShortNames:  []string{"conn"},
		Categories:  []string{"streamspace"},
	}, scheme, optsGetter)
}

var table = resttable.Convertor{
	Columns: []metav1.TableColumnDefinition{
		{Name: "Session", Type: "string", Description: "The session viewed."},
		{Name: "User", Type: "string", Description: "The viewer."},
		{Name: "State", Type: "string", Description: "active, stale or disconnected."},
		{Name: "Last-Heartbeat", Type: "string", Description: "Time since the last heartbeat."},
		{Name: "Client-IP", Type: "string", Priority: 1, Description: "The address of the viewer."},
	},
	Row: func(obj runtime.Object) ([]interface{}, error) {
		o, ok := obj.(*stream.Connection)
		if !ok {
			return nil, fmt.Errorf("not a Connection: %T", obj)
		}
		return []interface{}{o.Spec.Session, o.Spec.User, string(o.Status.State), resttable.Since(o.Status.LastHeartbeat), o.Spec.ClientIP}, nil
	},
}
