package v1alpha1

import (
	"fmt"
	"slices"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/streamspace/controlplane/pkg/apis/selectable"
	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// Convert_v1alpha1_ResourceRequirements_To_stream_ResourceRequirements folds
// the old flat {cpu, memory} form into requests and limits. Explicit requests
// and limits win over the flat fields.
func Convert_v1alpha1_ResourceRequirements_To_stream_ResourceRequirements(in *ResourceRequirements, out *stream.ResourceRequirements, s conversion.Scope) error {
	if err := autoConvert_v1alpha1_ResourceRequirements_To_stream_ResourceRequirements(in, out, s); err != nil {
		return err
	}
	out.Requests = withFlat(out.Requests, in.CPU, in.Memory)
	out.Limits = withFlat(out.Limits, in.CPU, in.Memory)
	return nil
}

// Convert_stream_ResourceRequirements_To_v1alpha1_ResourceRequirements writes
// only the Kubernetes form.
func Convert_stream_ResourceRequirements_To_v1alpha1_ResourceRequirements(in *stream.ResourceRequirements, out *ResourceRequirements, s conversion.Scope) error {
	return autoConvert_stream_ResourceRequirements_To_v1alpha1_ResourceRequirements(in, out, s)
}

func withFlat(list corev1.ResourceList, cpu, memory *resource.Quantity) corev1.ResourceList {
	set := func(name corev1.ResourceName, q *resource.Quantity) {
		if q == nil {
			return
		}
		if _, ok := list[name]; ok {
			return
		}
		if list == nil {
			list = corev1.ResourceList{}
		}
		list[name] = q.DeepCopy()
	}
	set(corev1.ResourceCPU, cpu)
	set(corev1.ResourceMemory, memory)
	return list
}

// Convert_v1alpha1_TemplateSpec_To_stream_TemplateSpec accepts the old
// `kasmvnc` key as `vnc`.
func Convert_v1alpha1_TemplateSpec_To_stream_TemplateSpec(in *TemplateSpec, out *stream.TemplateSpec, s conversion.Scope) error {
	if err := autoConvert_v1alpha1_TemplateSpec_To_stream_TemplateSpec(in, out, s); err != nil {
		return err
	}
	if out.VNC == nil && in.KasmVNC != nil {
		out.VNC = &stream.VNCConfig{}
		if err := Convert_v1alpha1_VNCConfig_To_stream_VNCConfig(in.KasmVNC, out.VNC, s); err != nil {
			return err
		}
	}
	return nil
}

// Convert_stream_TemplateSpec_To_v1alpha1_TemplateSpec writes only `vnc`.
func Convert_stream_TemplateSpec_To_v1alpha1_TemplateSpec(in *stream.TemplateSpec, out *TemplateSpec, s conversion.Scope) error {
	return autoConvert_stream_TemplateSpec_To_v1alpha1_TemplateSpec(in, out, s)
}

func addFieldLabelConversions(scheme *runtime.Scheme) error {
	if err := selectable.AddFieldLabelConversions(scheme, SchemeGroupVersion, stream.SelectableKinds); err != nil {
		return err
	}
	// The audit trail is read from its own table by its own fields, which
	// do not include metadata.namespace (events are cluster-scoped, and
	// namespace is the namespace of the object a request acted on).
	err := scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind(stream.AuditEventFields.GroupKind.Kind), func(label, value string) (string, string, error) {
		for _, f := range stream.AuditEventFields.Fields {
			if f.Name == label {
				return label, value, nil
			}
		}
		return "", "", fmt.Errorf("field label not supported: %s", label)
	})
	if err != nil {
		return err
	}
	// Usages are computed; their selectors say what is added up.
	return scheme.AddFieldLabelConversionFunc(SchemeGroupVersion.WithKind("Usage"), func(label, value string) (string, string, error) {
		if slices.Contains(stream.UsageFieldSelectors, label) {
			return label, value, nil
		}
		return "", "", fmt.Errorf("field label not supported: %s", label)
	})
}
