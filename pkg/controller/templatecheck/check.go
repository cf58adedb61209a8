// Package templatecheck says what would stop a session of a Template from
// running: the API's validation, run again on stored templates, and checks
// that only matter at run time.
package templatecheck

import (
	"fmt"
	"regexp"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/apis/stream/validation"
)

// imageReference is the grammar of a container image reference:
// [registry[:port]/]path[:tag][@digest], lower-case path components.
var imageReference = regexp.MustCompile(`^(?:[a-zA-Z0-9.-]+(?::[0-9]+)?/)?[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$`)

// Check returns what would stop a session of t from running: the API's
// validation (a template stored before a rule was added is checked again)
// and what only matters at run time: the image reference, requests within
// limits, and an endpoint port that is not declared with another protocol.
func Check(t *streamv1alpha1.Template) field.ErrorList {
	spec := field.NewPath("spec")
	// A template stored before a default existed is checked as the API
	// would store it today.
	defaulted := t.DeepCopy()
	streamv1alpha1.SetObjectDefaults_Template(defaulted)
	var internal stream.TemplateSpec
	if err := streamv1alpha1.Convert_v1alpha1_TemplateSpec_To_stream_TemplateSpec(&defaulted.Spec, &internal, nil); err != nil {
		return field.ErrorList{field.InternalError(spec, fmt.Errorf("convert the template: %w", err))}
	}
	errs := validation.ValidateTemplateSpec(&internal, spec)

	if image := defaulted.Spec.BaseImage; image != "" && !imageReference.MatchString(image) {
		errs = append(errs, field.Invalid(spec.Child("baseImage"), image, "is not a valid container image reference"))
	}
	res := defaulted.Spec.DefaultResources
	for name, limit := range res.Limits {
		if req, ok := res.Requests[name]; ok && req.Cmp(limit) > 0 {
			errs = append(errs, field.Invalid(spec.Child("defaultResources", "requests").Key(string(name)), req.String(),
				fmt.Sprintf("must not exceed the limit %s", limit.String())))
		}
	}
	endpoints := map[int32]*field.Path{}
	if v := internal.VNC; v != nil && v.Enabled {
		endpoints[v.Port] = spec.Child("vnc", "port")
	}
	if w := internal.WebApp; w != nil && w.Enabled {
		endpoints[w.Port] = spec.Child("webapp", "port")
	}
	for i, p := range defaulted.Spec.Ports {
		if path, ok := endpoints[p.ContainerPort]; ok && p.Protocol != corev1.ProtocolTCP {
			errs = append(errs, field.Invalid(spec.Child("ports").Index(i).Child("protocol"), p.Protocol,
				fmt.Sprintf("port %d is the endpoint in %s, which is served over TCP", p.ContainerPort, path)))
		}
	}
	return errs
}
