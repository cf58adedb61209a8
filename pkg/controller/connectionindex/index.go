// Package connectionindex indexes the shared Connection informer by session,
// for the controllers that count or wait for a session's viewers.
package connectionindex

import (
	"fmt"

	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions/stream/v1alpha1"
)

// BySessionIndex indexes Connections by "<namespace>/<spec.session>".
const BySessionIndex = "bySession"

// IndexBySession adds BySessionIndex to the shared Connection informer,
// once however many controllers ask.
func IndexBySession(informer streaminformers.ConnectionInformer) error {
	if _, ok := informer.Informer().GetIndexer().GetIndexers()[BySessionIndex]; ok {
		return nil
	}
	err := informer.Informer().AddIndexers(cache.Indexers{BySessionIndex: func(obj any) ([]string, error) {
		c, ok := obj.(*streamv1alpha1.Connection)
		if !ok {
			return nil, nil
		}
		return []string{c.Namespace + "/" + c.Spec.Session}, nil
	}})
	if err != nil {
		return fmt.Errorf("index connections by session: %w", err)
	}
	return nil
}

// OfSession returns the live (not deleting) connections of a session.
func OfSession(informer streaminformers.ConnectionInformer, namespace, session string) ([]*streamv1alpha1.Connection, error) {
	objs, err := informer.Informer().GetIndexer().ByIndex(BySessionIndex, namespace+"/"+session)
	if err != nil {
		return nil, err
	}
	out := make([]*streamv1alpha1.Connection, 0, len(objs))
	for _, o := range objs {
		if c, ok := o.(*streamv1alpha1.Connection); ok && c.DeletionTimestamp == nil {
			out = append(out, c)
		}
	}
	return out, nil
}
