// Package connectionindex indexes the shared Connection informer by session
// and by share, for the controllers that count or wait for a session's
// viewers and those that close a revoked share's connections.
package connectionindex

import (
	"fmt"

	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions/stream/v1alpha1"
)

const (
	// BySessionIndex indexes Connections by "<namespace>/<spec.session>".
	BySessionIndex = "bySession"
	// ByShareIndex indexes the Connections opened through a SessionShare
	// by "<namespace>/<spec.share>"; others are not in it.
	ByShareIndex = "byShare"
)

// IndexBySession adds BySessionIndex to the shared Connection informer,
// once however many controllers ask.
func IndexBySession(informer streaminformers.ConnectionInformer) error {
	return addIndex(informer, BySessionIndex, func(c *streamv1alpha1.Connection) string { return c.Spec.Session })
}

// IndexByShare adds ByShareIndex to the shared Connection informer, once.
func IndexByShare(informer streaminformers.ConnectionInformer) error {
	return addIndex(informer, ByShareIndex, func(c *streamv1alpha1.Connection) string { return c.Spec.Share })
}

// OfSession returns the live (not deleting) connections of a session.
func OfSession(informer streaminformers.ConnectionInformer, namespace, session string) ([]*streamv1alpha1.Connection, error) {
	return live(informer, BySessionIndex, namespace+"/"+session)
}

// OfShare returns the live connections opened through a share.
func OfShare(informer streaminformers.ConnectionInformer, namespace, share string) ([]*streamv1alpha1.Connection, error) {
	return live(informer, ByShareIndex, namespace+"/"+share)
}

// addIndex indexes connections by "<namespace>/<field>", leaving out those
// whose field is empty.
func addIndex(informer streaminformers.ConnectionInformer, name string, field func(*streamv1alpha1.Connection) string) error {
	if _, ok := informer.Informer().GetIndexer().GetIndexers()[name]; ok {
		return nil
	}
	err := informer.Informer().AddIndexers(cache.Indexers{name: func(obj any) ([]string, error) {
		c, ok := obj.(*streamv1alpha1.Connection)
		if !ok || field(c) == "" {
			return nil, nil
		}
		return []string{c.Namespace + "/" + field(c)}, nil
	}})
	if err != nil {
		return fmt.Errorf("index connections (%s): %w", name, err)
	}
	return nil
}

func live(informer streaminformers.ConnectionInformer, index, key string) ([]*streamv1alpha1.Connection, error) {
	objs, err := informer.Informer().GetIndexer().ByIndex(index, key)
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
