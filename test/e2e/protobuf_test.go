package e2e

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	utilruntime "k8s.io/apimachinery/pkg/util/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/util/retry"

	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	clientsetscheme "github.com/streamspace/controlplane/pkg/generated/clientset/versioned/scheme"
)

// What kube-controller-manager's namespace controller, garbage collector and
// quota monitor send to every aggregated API, and protobuf alone.
var protobufAccepts = []string{
	runtime.ContentTypeProtobuf + ", " + runtime.ContentTypeJSON,
	runtime.ContentTypeProtobuf,
}

// wireScheme decodes what the server sends: both API groups, meta/v1's
// Status and WatchEvent, and meta.k8s.io/v1's PartialObjectMetadataList.
var wireScheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	utilruntime.Must(clientsetscheme.AddToScheme(s))
	utilruntime.Must(metav1.AddMetaToScheme(s))
	metav1.AddToGroupVersion(s, schema.GroupVersion{Version: "v1"})
	return s
}()

var protobufSerializer = protobuf.NewSerializer(wireScheme, wireScheme)

// wireResource is one resource of the API as these tests drive it.
type wireResource struct {
	gv         schema.GroupVersion
	resource   string
	namespaced bool
	client     func(ss clientset.Interface, namespace string) typedClient
	// object is the i-th object of a run, named name.
	object func(name string, i int) runtime.Object
	// mutate is the update the test makes.
	mutate func(obj runtime.Object)
}

// typedClient is the part of a generated typed client the tests use.
type typedClient struct {
	get    func(ctx context.Context, name string) (runtime.Object, error)
	create func(ctx context.Context, obj runtime.Object) (runtime.Object, error)
	update func(ctx context.Context, obj runtime.Object) (runtime.Object, error)
}

type getCreateUpdater[T runtime.Object] interface {
	Get(ctx context.Context, name string, opts metav1.GetOptions) (T, error)
	Create(ctx context.Context, obj T, opts metav1.CreateOptions) (T, error)
	Update(ctx context.Context, obj T, opts metav1.UpdateOptions) (T, error)
}

func typed[T runtime.Object](c getCreateUpdater[T]) typedClient {
	return typedClient{
		get: func(ctx context.Context, name string) (runtime.Object, error) {
			return c.Get(ctx, name, metav1.GetOptions{})
		},
		create: func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
			return c.Create(ctx, obj.(T), metav1.CreateOptions{})
		},
		update: func(ctx context.Context, obj runtime.Object) (runtime.Object, error) {
			return c.Update(ctx, obj.(T), metav1.UpdateOptions{})
		},
	}
}

// wireResources are the five resources; prefix keeps the cluster-scoped
// names of one test run apart from other tests'.
func wireResources(prefix string) []wireResource {
	return []wireResource{{
		gv: streamv1alpha1.SchemeGroupVersion, resource: "templates", namespaced: true,
		client: func(ss clientset.Interface, ns string) typedClient { return typed(ss.StreamV1alpha1().Templates(ns)) },
		object: func(name string, i int) runtime.Object {
			return &streamv1alpha1.Template{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: streamv1alpha1.TemplateSpec{
				DisplayName: "Wire", BaseImage: fmt.Sprintf("example.org/wire:%d", i), VNC: &streamv1alpha1.VNCConfig{Enabled: true, Port: 5901},
				Ports: []streamv1alpha1.TemplatePort{{Name: "vnc", ContainerPort: 5901}},
			}}
		},
		mutate: func(obj runtime.Object) { obj.(*streamv1alpha1.Template).Spec.Description = "updated" },
	}, {
		gv: streamv1alpha1.SchemeGroupVersion, resource: "sessions", namespaced: true,
		client: func(ss clientset.Interface, ns string) typedClient { return typed(ss.StreamV1alpha1().Sessions(ns)) },
		object: func(name string, i int) runtime.Object {
			return &streamv1alpha1.Session{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: streamv1alpha1.SessionSpec{
				Template: fmt.Sprintf("wire-templates-%d", i), Tags: []string{"wire"},
				Resources: streamv1alpha1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("1Gi"),
				}},
			}}
		},
		mutate: func(obj runtime.Object) {
			s := obj.(*streamv1alpha1.Session)
			s.Spec.Tags = append(s.Spec.Tags, "updated")
		},
	}, {
		gv: streamv1alpha1.SchemeGroupVersion, resource: "connections", namespaced: true,
		client: func(ss clientset.Interface, ns string) typedClient { return typed(ss.StreamV1alpha1().Connections(ns)) },
		object: func(name string, i int) runtime.Object {
			return &streamv1alpha1.Connection{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: streamv1alpha1.ConnectionSpec{
				Session: fmt.Sprintf("wire-sessions-%d", i), ClientIP: "10.0.0.7",
			}}
		},
		// The spec of a connection is immutable.
		mutate: func(obj runtime.Object) {
			obj.(*streamv1alpha1.Connection).Annotations = map[string]string{"wire": "updated"}
		},
	}, {
		gv: catalogv1alpha1.SchemeGroupVersion, resource: "templaterepositories",
		client: func(ss clientset.Interface, _ string) typedClient {
			return typed(ss.CatalogV1alpha1().TemplateRepositories())
		},
		object: func(name string, i int) runtime.Object {
			return &catalogv1alpha1.TemplateRepository{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: catalogv1alpha1.TemplateRepositorySpec{
				// Never reachable: the sync fails, the objects stay the test's.
				URL: fmt.Sprintf("https://git.invalid/%s.git", name), SyncInterval: &metav1.Duration{},
			}}
		},
		mutate: func(obj runtime.Object) { obj.(*catalogv1alpha1.TemplateRepository).Spec.Path = "updated" },
	}, {
		gv: catalogv1alpha1.SchemeGroupVersion, resource: "catalogtemplates",
		client: func(ss clientset.Interface, _ string) typedClient {
			return typed(ss.CatalogV1alpha1().CatalogTemplates())
		},
		object: func(name string, i int) runtime.Object {
			return &catalogv1alpha1.CatalogTemplate{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: catalogv1alpha1.CatalogTemplateSpec{
				// No TemplateRepository has this name, so no sync prunes it.
				Repository: prefix + "-no-repository", Path: "wire.yaml",
				Template: streamv1alpha1.TemplateSpec{DisplayName: "Wire", BaseImage: fmt.Sprintf("example.org/wire:%d", i), VNC: &streamv1alpha1.VNCConfig{Enabled: true}},
			}}
		},
		mutate: func(obj runtime.Object) { obj.(*catalogv1alpha1.CatalogTemplate).Spec.Category = "updated" },
	}}
}

// name is the i-th object's name: cluster-scoped names carry the prefix.
func (r wireResource) name(prefix string, i int) string {
	if r.namespaced {
		return fmt.Sprintf("wire-%s-%d", r.resource, i)
	}
	return fmt.Sprintf("%s-%s-%d", prefix, r.resource, i)
}

// describe says what the tests compare of an object: its kind and name and
// the fields they set. Decoding into the wrong type or losing a field shows.
func describe(obj runtime.Object) string {
	switch o := obj.(type) {
	case *streamv1alpha1.Template:
		return fmt.Sprintf("Template %s image=%s vnc=%+v ports=%v description=%q", o.Name, o.Spec.BaseImage, *o.Spec.VNC, o.Spec.Ports, o.Spec.Description)
	case *streamv1alpha1.Session:
		return fmt.Sprintf("Session %s template=%s cpu=%s memory=%s tags=%v", o.Name, o.Spec.Template,
			o.Spec.Resources.Requests.Cpu(), o.Spec.Resources.Requests.Memory(), o.Spec.Tags)
	case *streamv1alpha1.Connection:
		return fmt.Sprintf("Connection %s session=%s clientIP=%s annotations=%v", o.Name, o.Spec.Session, o.Spec.ClientIP, o.Annotations)
	case *catalogv1alpha1.TemplateRepository:
		return fmt.Sprintf("TemplateRepository %s url=%s branch=%s path=%s", o.Name, o.Spec.URL, o.Spec.Branch, o.Spec.Path)
	case *catalogv1alpha1.CatalogTemplate:
		return fmt.Sprintf("CatalogTemplate %s repository=%s category=%s image=%s", o.Name, o.Spec.Repository, o.Spec.Category, o.Spec.Template.BaseImage)
	default:
		return fmt.Sprintf("unexpected %T", obj)
	}
}

// wantDescription is describe of the i-th object after the test's update.
func wantDescription(r wireResource, prefix string, i int) string {
	obj := r.object(r.name(prefix, i), i)
	r.mutate(obj)
	switch o := obj.(type) {
	case *streamv1alpha1.Template:
		o.Spec.VNC.Protocol = "websocket" // defaulted
		o.Spec.Ports[0].Protocol = corev1.ProtocolTCP
	case *catalogv1alpha1.TemplateRepository:
		o.Spec.Branch = "main"
	}
	return describe(obj)
}

// TestProtobufServedForEveryResource: every resource answers list, get,
// get of its status, watch and deletecollection in protobuf, for the
// Accept header of kube-controller-manager's clients and for protobuf alone;
// the generated clientset creates, updates and reads in it by default, and
// in JSON when configured for JSON.
func TestProtobufServedForEveryResource(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	prefix := uniqueName("e2e-wire")
	namespace := prefix
	label := map[string]string{"e2e-wire": prefix}
	selector := "e2e-wire=" + prefix
	resources := wireResources(prefix)
	mustKubectl(t, "admin", "", "create", "namespace", namespace)
	t.Cleanup(func() {
		_, _ = kubectl(t, "admin", "", "delete", "namespace", namespace, "--wait=false")
		_, _ = kubectl(t, "admin", "", "delete", "templaterepositories,catalogtemplates", "-l", selector, "--ignore-not-found")
	})
	pb, pbWire, js, jsWire := wireClients(t)

	for i, accept := range protobufAccepts {
		t.Run(fmt.Sprintf("Accept %s", accept), func(t *testing.T) {
			// Create and update with the protobuf clientset.
			for _, r := range resources {
				c := r.client(pb, namespace)
				obj := r.object(r.name(prefix, i), i)
				obj.(metav1.Object).SetLabels(label)
				if _, err := c.create(ctx, obj); err != nil {
					t.Fatalf("create %s in protobuf: %v", r.resource, err)
				}
				if r.resource == "connections" {
					keepConnectionAlive(ctx, t, pb, namespace, r.name(prefix, i))
				}
				err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
					obj, err := c.get(ctx, r.name(prefix, i))
					if err != nil {
						return err
					}
					r.mutate(obj)
					_, err = c.update(ctx, obj)
					return err
				})
				if err != nil {
					t.Fatalf("update %s in protobuf: %v", r.resource, err)
				}
				got, err := c.get(ctx, r.name(prefix, i))
				if err != nil {
					t.Fatalf("get %s in protobuf: %v", r.resource, err)
				}
				if want := wantDescription(r, prefix, i); describe(got) != want {
					t.Errorf("protobuf clientset read %s, want %s", describe(got), want)
				}
			}
			pbWire.check(t, runtime.ContentTypeProtobuf)

			// A clientset configured for JSON speaks JSON.
			for _, r := range resources {
				if _, err := r.client(js, namespace).get(ctx, r.name(prefix, i)); err != nil {
					t.Errorf("get %s with the JSON clientset: %v", r.resource, err)
				}
			}
			jsWire.check(t, runtime.ContentTypeJSON)

			rc, hc := wireREST(t, accept)
			for _, r := range resources {
				name, want := r.name(prefix, i), wantDescription(r, prefix, i)
				list, err := decodeProtobuf(rc.Get().AbsPath(r.path(namespace, "")).Param("labelSelector", selector).Do(ctx))
				if err != nil {
					t.Errorf("list %s: %v", r.resource, err)
				} else if got, err := describeList(list); err != nil || !slices.Equal(got, []string{want}) {
					t.Errorf("list %s: %v (%v), want [%s]", r.resource, got, err, want)
				}
				for _, sub := range [][]string{nil, {"status"}} {
					obj, err := decodeProtobuf(rc.Get().AbsPath(r.path(namespace, name, sub...)).Do(ctx))
					if err != nil {
						t.Errorf("get %s: %v", r.path(namespace, name, sub...), err)
					} else if describe(obj) != want {
						t.Errorf("get %s: %s, want %s", r.path(namespace, name, sub...), describe(obj), want)
					}
				}
				eventType, obj, err := watchFirstEvent(ctx, rc, hc, accept, r.path(namespace, ""), name)
				if err != nil {
					t.Errorf("watch %s: %v", r.resource, err)
				} else if eventType != string(watch.Added) || describe(obj) != want {
					t.Errorf("watch %s: first event %s %s, want ADDED %s", r.resource, eventType, describe(obj), want)
				}
			}

			// Subresources that are actions answer in protobuf too.
			resp, err := pb.StreamV1alpha1().Sessions(namespace).Connect(ctx, fmt.Sprintf("wire-sessions-%d", i), &streamv1alpha1.SessionConnectRequest{ClientIP: "10.0.0.8"}, metav1.CreateOptions{})
			if err != nil || resp.ConnectionID == "" {
				t.Errorf("connect in protobuf: %+v, %v", resp, err)
			} else if beat, err := pb.StreamV1alpha1().Connections(namespace).Heartbeat(ctx, resp.ConnectionID, &streamv1alpha1.ConnectionHeartbeat{}, metav1.CreateOptions{}); err != nil && !apierrors.IsNotFound(err) {
				// (a connection is reaped after a few seconds without heartbeats)
				t.Errorf("heartbeat in protobuf: %v", err)
			} else if err == nil && beat.Status.LastHeartbeat == nil {
				t.Errorf("heartbeat in protobuf answered a connection without lastHeartbeat: %s", describe(beat))
			}
			pbWire.check(t, runtime.ContentTypeProtobuf)

			for _, r := range resources {
				deleted, err := decodeProtobuf(rc.Delete().AbsPath(r.path(namespace, "")).Param("labelSelector", selector).Do(ctx))
				if err != nil {
					t.Errorf("deletecollection %s: %v", r.resource, err)
				} else if got, err := describeList(deleted); err != nil || !slices.Equal(got, []string{wantDescription(r, prefix, i)}) {
					t.Errorf("deletecollection %s answered %v (%v), want the deleted object", r.resource, got, err)
				}
				left, err := decodeProtobuf(rc.Get().AbsPath(r.path(namespace, "")).Param("labelSelector", selector).Do(ctx))
				if err != nil {
					t.Errorf("list %s after deletecollection: %v", r.resource, err)
				} else if items, _ := meta.ExtractList(left); len(items) != 0 {
					t.Errorf("list %s after deletecollection: %d items left", r.resource, len(items))
				}
			}

			// Errors are a meta/v1 Status in protobuf.
			var code int
			raw, _ := rc.Get().AbsPath(resources[1].path(namespace, "no-such-session")).Do(ctx).StatusCode(&code).Raw()
			status, _, err := protobufSerializer.Decode(raw, nil, nil)
			if s, ok := status.(*metav1.Status); code != http.StatusNotFound || err != nil || !ok || s.Reason != metav1.StatusReasonNotFound {
				t.Errorf("get of a missing session: %d, %#v, %v; want 404 with a NotFound Status in protobuf", code, status, err)
			}
		})
	}
}
