// +k8s:openapi-gen=true
// +k8s:deepcopy-gen=package
// +k8s:protobuf-gen=package
// +k8s:conversion-gen=github.com/streamspace/controlplane/pkg/apis/catalog
// +k8s:defaulter-gen=TypeMeta
// +groupName=catalog.stream.space
// +k8s:openapi-model-package=com.github.streamspace.controlplane.pkg.apis.catalog.v1alpha1

// Package v1alpha1 is the v1alpha1 version of the catalog.stream.space API.
package v1alpha1
