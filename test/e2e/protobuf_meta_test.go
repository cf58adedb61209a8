package e2e

import (
	"context"
	"io"
	"mime"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/metadata"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

// asMeta is an Accept clause asking for a meta.k8s.io/v1 kind in mediaType.
func asMeta(mediaType, kind string) string {
	return mediaType + ";as=" + kind + ";g=meta.k8s.io;v=v1"
}

// TestProtobufMetaKindsLikeKubeAPIServer: PartialObjectMetadata(List),
// which the garbage collector's and the quota monitor's metadata informers
// ask for in protobuf, is served in protobuf for list, get and watch;
// Table, which is JSON-only (meta/v1 declares no protobuf for it), is
// refused or falls back exactly as kube-apiserver does it for ConfigMaps.
func TestProtobufMetaKindsLikeKubeAPIServer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	namespace := uniqueName("e2e-wire-meta")
	label := map[string]string{"e2e-wire": namespace}
	selector := "e2e-wire=" + namespace
	createSessionsNamespace(t, namespace)
	ss, kube := clients(t, "admin")
	if _, err := ss.StreamV1alpha1().Sessions(namespace).Create(ctx, &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "meta", Labels: label}, Spec: streamv1alpha1.SessionSpec{Template: "none"},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := kube.CoreV1().ConfigMaps(namespace).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "meta", Labels: label}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ours := "/apis/stream.space/v1alpha1/namespaces/" + namespace + "/sessions"
	theirs := "/api/v1/namespaces/" + namespace + "/configmaps"
	rc, hc := wireREST(t, protobufAccepts[0])

	pb, js := runtime.ContentTypeProtobuf, runtime.ContentTypeJSON
	for _, tc := range []struct {
		name, accept string
		get, watch   bool
		// want is the status and media type ours must answer (and kube-apiserver does).
		wantCode int
		want     string
		wantKind string
	}{
		{name: "list as PartialObjectMetadataList", accept: asMeta(pb, "PartialObjectMetadataList") + "," + asMeta(js, "PartialObjectMetadataList") + "," + js,
			wantCode: http.StatusOK, want: pb, wantKind: "PartialObjectMetadataList"},
		{name: "get as PartialObjectMetadata", get: true, accept: asMeta(pb, "PartialObjectMetadata") + "," + asMeta(js, "PartialObjectMetadata") + "," + js,
			wantCode: http.StatusOK, want: pb, wantKind: "PartialObjectMetadata"},
		{name: "watch as PartialObjectMetadata", watch: true, accept: asMeta(pb, "PartialObjectMetadata") + "," + asMeta(js, "PartialObjectMetadata") + "," + js,
			wantCode: http.StatusOK, want: pb, wantKind: "PartialObjectMetadata"},
		{name: "list as Table, protobuf only", accept: asMeta(pb, "Table"), wantCode: http.StatusNotAcceptable, want: js},
		{name: "get as Table, protobuf only", get: true, accept: asMeta(pb, "Table"), wantCode: http.StatusNotAcceptable, want: js},
		{name: "list as Table, protobuf or JSON", accept: asMeta(pb, "Table") + "," + asMeta(js, "Table"), wantCode: http.StatusOK, want: js, wantKind: "Table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			answer := func(collection string) (int, string, []byte) {
				t.Helper()
				req := rc.Get().AbsPath(collection).Param("labelSelector", selector)
				if tc.get {
					req = rc.Get().AbsPath(collection, "meta")
				}
				if tc.watch {
					req = req.Param("watch", "true")
				}
				httpReq, err := http.NewRequestWithContext(ctx, http.MethodGet, req.URL().String(), nil)
				if err != nil {
					t.Fatal(err)
				}
				httpReq.Header.Set("Accept", tc.accept)
				resp, err := hc.Do(httpReq)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
				var body []byte
				if tc.watch {
					body, err = readWatchFrame(resp)
				} else {
					body, err = io.ReadAll(resp.Body)
				}
				if err != nil {
					t.Fatalf("read the answer to %s: %v", collection, err)
				}
				return resp.StatusCode, mediaType, body
			}
			theirCode, theirType, _ := answer(theirs)
			code, mediaType, body := answer(ours)
			if code != tc.wantCode || mediaType != tc.want || theirCode != tc.wantCode || theirType != tc.want {
				t.Fatalf("answered %d in %s (kube-apiserver for ConfigMaps: %d in %s), want %d in %s",
					code, mediaType, theirCode, theirType, tc.wantCode, tc.want)
			}
			if tc.wantKind == "" {
				return
			}
			if tc.want == js {
				if !strings.Contains(string(body), `"kind":"`+tc.wantKind+`"`) {
					t.Errorf("answered %.200s, want a %s", body, tc.wantKind)
				}
				return
			}
			obj, gvk, err := protobufSerializer.Decode(body, nil, nil)
			if err != nil {
				t.Fatalf("decode %d bytes of protobuf: %v", len(body), err)
			}
			var names []string
			switch o := obj.(type) {
			case *metav1.PartialObjectMetadataList:
				for _, item := range o.Items {
					names = append(names, item.Namespace+"/"+item.Name)
				}
			case *metav1.PartialObjectMetadata:
				names = append(names, o.Namespace+"/"+o.Name)
			}
			if gvk.Kind != tc.wantKind || len(names) != 1 || names[0] != namespace+"/meta" {
				t.Errorf("decoded a %s of %v, want a %s of session %s/meta", gvk.Kind, names, tc.wantKind, namespace)
			}
		})
	}

	// The metadata client of kube-controller-manager's controllers, as they
	// use it; every answer is protobuf.
	cfg, err := stack.RESTConfig("admin")
	if err != nil {
		t.Fatal(err)
	}
	wire := &wireRecorder{}
	cfg.Wrap(wire.wrap)
	metadataClient := metadata.NewForConfigOrDie(cfg)
	sessions := metadataClient.Resource(streamv1alpha1.SchemeGroupVersion.WithResource("sessions")).Namespace(namespace)
	list, err := sessions.List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil || len(list.Items) != 1 || list.Items[0].Name != "meta" {
		t.Fatalf("metadata client list: %v, %v; want session meta", list, err)
	}
	if got, err := sessions.Get(ctx, "meta", metav1.GetOptions{}); err != nil || got.Labels["e2e-wire"] != namespace {
		t.Errorf("metadata client get: %v, %v", got, err)
	}
	w, err := sessions.Watch(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatalf("metadata client watch: %v", err)
	}
	select {
	case ev := <-w.ResultChan():
		if m, ok := ev.Object.(*metav1.PartialObjectMetadata); ev.Type != watch.Added || !ok || m.Name != "meta" {
			t.Errorf("metadata client watch: first event %s %#v, want ADDED of session meta", ev.Type, ev.Object)
		}
	case <-ctx.Done():
		t.Errorf("metadata client watch: no event")
	}
	w.Stop()
	if err := sessions.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: selector}); err != nil {
		t.Errorf("metadata client deletecollection: %v", err)
	}
	// A Status cannot be a PartialObjectMetadata: errors come in the plain
	// application/json the client accepts last, from kube-apiserver too.
	if _, err := sessions.Get(ctx, "meta", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("metadata client get after deletecollection: %v, want NotFound", err)
	}
	if _, err := metadataClient.Resource(corev1.SchemeGroupVersion.WithResource("configmaps")).Namespace(namespace).Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("metadata client get of a missing ConfigMap: %v, want NotFound", err)
	}
	wire.mu.Lock()
	defer wire.mu.Unlock()
	n := len(wire.exchanges)
	if n < 2 {
		t.Fatalf("recorded %d requests", n)
	}
	if ours, theirs := wire.exchanges[n-2], wire.exchanges[n-1]; ours.status != http.StatusNotFound || ours.status != theirs.status || ours.received != theirs.received {
		t.Errorf("metadata client get of a missing object: %d in %q, kube-apiserver %d in %q; want the same", ours.status, ours.received, theirs.status, theirs.received)
	}
	for _, x := range wire.exchanges[:n-2] {
		if !hasMediaType(x.received, runtime.ContentTypeProtobuf) {
			t.Errorf("metadata client: %s %s answered %d in %q, want protobuf", x.method, x.path, x.status, x.received)
		}
	}
}

// readWatchFrame reads the first event of a protobuf watch and returns its
// object; other answers are read whole.
func readWatchFrame(resp *http.Response) ([]byte, error) {
	if mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); resp.StatusCode != http.StatusOK || mediaType != runtime.ContentTypeProtobuf {
		return io.ReadAll(resp.Body)
	}
	event, err := decodeWatchEvent(resp.Body)
	if err != nil {
		return nil, err
	}
	return event.Object.Raw, nil
}
