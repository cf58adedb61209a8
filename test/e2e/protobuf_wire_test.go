package e2e

// The wire under the protobuf tests: recorded exchanges, raw REST clients and
// decoders that read protobuf without the typed clients.

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/runtime/serializer/streaming"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
)

// wireExchange is what a recording transport saw of one request.
type wireExchange struct {
	method, path, sent, received string
	status                       int
}

type wireRecorder struct {
	mu        sync.Mutex
	exchanges []wireExchange
}

func (w *wireRecorder) wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err == nil {
			w.mu.Lock()
			w.exchanges = append(w.exchanges, wireExchange{req.Method, req.URL.Path, req.Header.Get("Content-Type"), resp.Header.Get("Content-Type"), resp.StatusCode})
			w.mu.Unlock()
		}
		return resp, err
	})
}

// check fails the test unless every body sent and received was of mediaType.
func (w *wireRecorder) check(t *testing.T, mediaType string) {
	t.Helper()
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.exchanges) == 0 {
		t.Errorf("no requests recorded")
	}
	for _, x := range w.exchanges {
		if (x.sent != "" && x.sent != mediaType) || !hasMediaType(x.received, mediaType) {
			t.Errorf("%s %s sent %q and received %q, want %s both ways", x.method, x.path, x.sent, x.received, mediaType)
		}
	}
	w.exchanges = nil
}

// hasMediaType: contentType is mediaType, with or without parameters.
func hasMediaType(contentType, mediaType string) bool {
	got, _, err := mime.ParseMediaType(contentType)
	return err == nil && got == mediaType
}

// wireClients are the admin's clientset with its default (protobuf) and one
// configured for JSON, each recording what goes over the wire.
func wireClients(t *testing.T) (pb clientset.Interface, pbWire *wireRecorder, js clientset.Interface, jsWire *wireRecorder) {
	t.Helper()
	cfg, err := stack.RESTConfig("admin")
	if err != nil {
		t.Fatal(err)
	}
	pbWire, jsWire = &wireRecorder{}, &wireRecorder{}
	// The generated clientset's default is protobuf.
	pbConfig := rest.CopyConfig(cfg)
	pbConfig.Wrap(pbWire.wrap)
	if pb, err = clientset.NewForConfig(pbConfig); err != nil {
		t.Fatal(err)
	}
	jsConfig := rest.CopyConfig(cfg)
	jsConfig.ContentType = runtime.ContentTypeJSON
	jsConfig.Wrap(jsWire.wrap)
	if js, err = clientset.NewForConfig(jsConfig); err != nil {
		t.Fatal(err)
	}
	return pb, pbWire, js, jsWire
}

// wireREST is a REST client of the admin asking for accept, and a plain
// HTTP client of the same configuration for watches, whose headers the
// REST client does not show.
func wireREST(t *testing.T, accept string) (rest.Interface, *http.Client) {
	t.Helper()
	cfg, err := stack.RESTConfig("admin")
	if err != nil {
		t.Fatal(err)
	}
	gv := streamv1alpha1.SchemeGroupVersion // required; the paths used are absolute
	cfg.GroupVersion = &gv
	cfg.APIPath = "/apis"
	cfg.NegotiatedSerializer = serializer.NewCodecFactory(wireScheme).WithoutConversion()
	cfg.AcceptContentTypes = accept
	cfg.ContentType = runtime.ContentTypeProtobuf
	rc, err := rest.RESTClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return rc, hc
}

// path is the URL path of the resource's collection (name "") or of one
// object or its subresource.
func (r wireResource) path(namespace, name string, subresource ...string) string {
	parts := []string{"/apis", r.gv.Group, r.gv.Version}
	if r.namespaced {
		parts = append(parts, "namespaces", namespace)
	}
	parts = append(parts, r.resource)
	if name != "" {
		parts = append(parts, name)
	}
	return strings.Join(append(parts, subresource...), "/")
}

// decodeProtobuf checks a 200 in protobuf and decodes it.
func decodeProtobuf(result rest.Result) (runtime.Object, error) {
	var code int
	var contentType string
	raw, err := result.StatusCode(&code).ContentType(&contentType).Raw()
	if err != nil {
		return nil, fmt.Errorf("answered %d (%s): %w", code, contentType, err)
	}
	if code != http.StatusOK || !hasMediaType(contentType, runtime.ContentTypeProtobuf) {
		return nil, fmt.Errorf("answered %d with Content-Type %q, want 200 in %s", code, contentType, runtime.ContentTypeProtobuf)
	}
	obj, _, err := protobufSerializer.Decode(raw, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("decode %d bytes of protobuf: %w", len(raw), err)
	}
	return obj, nil
}

// describeList is describe of every item of a list, sorted.
func describeList(list runtime.Object) ([]string, error) {
	items, err := meta.ExtractList(list)
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(items))
	for _, item := range items {
		out = append(out, describe(item))
	}
	slices.Sort(out)
	return out, nil
}

// watchFirstEvent opens a watch of one object in accept and decodes its
// first event (the object as it is: ADDED) with the protobuf serializer.
func watchFirstEvent(ctx context.Context, rc rest.Interface, hc *http.Client, accept, path, name string) (watchType string, obj runtime.Object, err error) {
	u := rc.Get().AbsPath(path).Param("watch", "true").Param("fieldSelector", "metadata.name="+name).URL()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return "", nil, err
	}
	req.Header.Set("Accept", accept)
	resp, err := hc.Do(req)
	if err != nil {
		return "", nil, err
	}
	defer resp.Body.Close()
	contentType := resp.Header.Get("Content-Type")
	mediaType, params, _ := mime.ParseMediaType(contentType)
	if resp.StatusCode != http.StatusOK || mediaType != runtime.ContentTypeProtobuf || params["stream"] != "watch" {
		return "", nil, fmt.Errorf("answered %d with Content-Type %q, want 200 in %s;stream=watch", resp.StatusCode, contentType, runtime.ContentTypeProtobuf)
	}
	event, err := decodeWatchEvent(resp.Body)
	if err != nil {
		return "", nil, err
	}
	obj, _, err = protobufSerializer.Decode(event.Object.Raw, nil, nil)
	if err != nil {
		return "", nil, fmt.Errorf("decode the object of a %s event: %w", event.Type, err)
	}
	return event.Type, obj, nil
}

// keepConnectionAlive writes a heartbeat an hour ahead into a connection's
// status (through the status subresource), so that the controller does not
// reap it during the test.
func keepConnectionAlive(ctx context.Context, t *testing.T, ss clientset.Interface, namespace, name string) {
	t.Helper()
	connections := ss.StreamV1alpha1().Connections(namespace)
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		c, err := connections.Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		c.Status.State = streamv1alpha1.ConnectionStateActive
		c.Status.LastHeartbeat = &metav1.Time{Time: time.Now().Add(time.Hour)}
		_, err = connections.UpdateStatus(ctx, c, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatalf("update the status of connection %s in protobuf: %v", name, err)
	}
}

// decodeWatchEvent reads the next event of a protobuf watch: length-delimited
// frames of WatchEvents, whose objects are protobuf messages of their own.
func decodeWatchEvent(body io.ReadCloser) (*metav1.WatchEvent, error) {
	frames := streaming.NewDecoder(protobuf.LengthDelimitedFramer.NewFrameReader(body), protobuf.NewRawSerializer(wireScheme, wireScheme))
	var event metav1.WatchEvent
	if _, _, err := frames.Decode(nil, &event); err != nil {
		return nil, fmt.Errorf("read a watch event: %w", err)
	}
	return &event, nil
}
