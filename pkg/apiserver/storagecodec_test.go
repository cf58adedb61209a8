package apiserver

import (
	"bytes"
	"testing"

	"github.com/google/go-cmp/cmp"
	"k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// protobufMagic starts every object Kubernetes' protobuf serializer writes.
var protobufMagic = []byte{0x6b, 0x38, 0x73, 0x00}

// TestStorageCodec checks that every stored kind round-trips through its
// storage codec in protobuf (the default) and in JSON, that the bytes are
// of the media type asked for except PlatformConfigurations' (always JSON,
// which the configuration view reads), and that rows written in one media
// type are read by the codec of the other.
func TestStorageCodec(t *testing.T) {
	kinds := map[schema.GroupResource]runtime.Object{
		stream.Resource("sessions"):               &stream.Session{},
		stream.Resource("templates"):              &stream.Template{},
		stream.Resource("connections"):            &stream.Connection{},
		stream.Resource("sessionquotas"):          &stream.SessionQuota{},
		stream.Resource("sessionpools"):           &stream.SessionPool{},
		stream.Resource("platformconfigurations"): &stream.PlatformConfiguration{},
		stream.Resource("users"):                  &stream.User{},
		stream.Resource("apikeys"):                &stream.APIKey{},
		catalog.Resource("templaterepositories"):  &catalog.TemplateRepository{},
		catalog.Resource("catalogtemplates"):      &catalog.CatalogTemplate{},
	}
	for group, resources := range map[string]map[string]newREST{stream.GroupName: streamResources, catalog.GroupName: catalogResources} {
		for name := range resources {
			if _, ok := kinds[schema.GroupResource{Group: group, Resource: name}]; !ok {
				t.Errorf("stored resource %s.%s is not covered here", name, group)
			}
		}
	}
	for resource, obj := range kinds {
		t.Run(resource.String(), func(t *testing.T) {
			accessor, err := apimeta.Accessor(obj)
			if err != nil {
				t.Fatal(err)
			}
			accessor.SetName("cluster")
			accessor.SetLabels(map[string]string{"stream.space/user": "alice"})
			encoded := map[string][]byte{}
			for _, mediaType := range []string{runtime.ContentTypeProtobuf, runtime.ContentTypeJSON} {
				codec, err := StorageCodec(resource, mediaType)
				if err != nil {
					t.Fatalf("%s: %v", mediaType, err)
				}
				data, err := runtime.Encode(codec, obj)
				if err != nil {
					t.Fatalf("encode as %s: %v", mediaType, err)
				}
				wantProtobuf := mediaType == runtime.ContentTypeProtobuf && !jsonStoredResources.Has(resource)
				if got := bytes.HasPrefix(data, protobufMagic); got != wantProtobuf {
					t.Errorf("encoded as %s: protobuf %v, want %v (%q...)", mediaType, got, wantProtobuf, data[:min(len(data), 16)])
				}
				encoded[mediaType] = data
			}
			// Decoding applies the defaults, whatever the bytes: every read
			// must give what the JSON codec reads from JSON.
			var want runtime.Object
			for _, reader := range []string{runtime.ContentTypeJSON, runtime.ContentTypeProtobuf} {
				codec, err := StorageCodec(resource, reader)
				if err != nil {
					t.Fatal(err)
				}
				for _, writer := range []string{runtime.ContentTypeJSON, runtime.ContentTypeProtobuf} {
					back := obj.DeepCopyObject()
					if _, _, err := codec.Decode(encoded[writer], nil, back); err != nil {
						t.Fatalf("read %s rows with the %s codec: %v", writer, reader, err)
					}
					if want == nil {
						want = back
						if mustAccessor(t, back).GetName() != "cluster" {
							t.Fatalf("read back without its name: %#v", back)
						}
					} else if !equality.Semantic.DeepEqual(want, back) {
						t.Errorf("read %s rows with the %s codec: %s", writer, reader, cmp.Diff(want, back))
					}
				}
			}
		})
	}
}

func mustAccessor(t *testing.T, obj runtime.Object) metav1.Object {
	t.Helper()
	accessor, err := apimeta.Accessor(obj)
	if err != nil {
		t.Fatal(err)
	}
	return accessor
}
