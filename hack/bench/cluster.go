package main

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/kubernetes"

	"github.com/streamspace/controlplane/internal/benchstack"
	"github.com/streamspace/controlplane/pkg/apis/stream"
)

var (
	ourSessions = schema.GroupVersionResource{Group: "stream.space", Version: "v1alpha1", Resource: "sessions"}
	crdSessions = benchstack.CRDSessions
	crdGroup    = benchstack.CRDSessions.Group
)

func createNamespace(ctx context.Context, kube kubernetes.Interface, name string) error {
	_, err := kube.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{stream.SessionsNamespaceLabel: stream.SessionsNamespaceEnabled}}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("create namespace %s: %w", name, err)
	}
	return nil
}
