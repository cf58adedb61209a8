//go:build tools

// Package tools pins the Kubernetes control-plane binaries used by the local
// stack and the end-to-end tests (kube-apiserver, kube-controller-manager,
// kube-scheduler, kubectl), all at the version of our client libraries.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
