package benchstack

import (
	"context"
	"fmt"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/yaml"
)

// CRDSessions is the Session of stream.space/v1alpha1 installed a second
// time as a CustomResourceDefinition, the alternative the benchmarks
// compare with.
var CRDSessions = schema.GroupVersionResource{Group: "bench.stream.space", Version: "v1alpha1", Resource: "sessions"}

var crds = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}

// sessionCRD is the Session of stream.space/v1alpha1 as a CRD: the same
// fields and defaults, spec.user selectable like on our server.
const sessionCRD = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: sessions.bench.stream.space
spec:
  group: bench.stream.space
  scope: Namespaced
  names: {plural: sessions, singular: session, kind: Session, shortNames: [bss]}
  versions:
  - name: v1alpha1
    served: true
    storage: true
    subresources: {status: {}}
    selectableFields:
    - jsonPath: .spec.user
    additionalPrinterColumns:
    - {name: User, type: string, jsonPath: .spec.user}
    - {name: Template, type: string, jsonPath: .spec.template}
    - {name: State, type: string, jsonPath: .spec.state}
    - {name: Phase, type: string, jsonPath: .status.phase}
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec:
            type: object
            required: [template]
            properties:
              user: {type: string}
              template: {type: string}
              state: {type: string, enum: [running, hibernated, terminated], default: running}
              resources:
                type: object
                properties:
                  requests: {type: object, additionalProperties: {type: string}}
                  limits: {type: object, additionalProperties: {type: string}}
              persistentHome: {type: boolean, default: true}
              idleTimeout: {type: string, default: 30m}
              maxSessionDuration: {type: string, default: 8h}
              tags: {type: array, items: {type: string}}
          status:
            type: object
            properties:
              phase: {type: string}
              url: {type: string}
              podName: {type: string}
              activeConnections: {type: integer}
`

// InstallSessionCRD creates the CRD and waits until it is Established and served.
func InstallSessionCRD(ctx context.Context, cfg *rest.Config) error {
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	obj := &unstructured.Unstructured{}
	if err := yaml.Unmarshal([]byte(sessionCRD), &obj.Object); err != nil {
		return fmt.Errorf("parse the Session CRD: %w", err)
	}
	if _, err := dyn.Resource(crds).Create(ctx, obj, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create the Session CRD: %w", err)
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		crd, err := dyn.Resource(crds).Get(ctx, obj.GetName(), metav1.GetOptions{})
		if err != nil {
			return false, nil
		}
		conditions, _, _ := unstructured.NestedSlice(crd.Object, "status", "conditions")
		for _, c := range conditions {
			cond, _ := c.(map[string]any)
			if cond["type"] == "Established" && cond["status"] == "True" {
				_, err := dyn.Resource(CRDSessions).List(ctx, metav1.ListOptions{Limit: 1})
				return err == nil, nil
			}
		}
		return false, nil
	})
}
