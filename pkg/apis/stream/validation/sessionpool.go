package validation

import (
	"errors"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/sessionschedule"
)

// MaxPoolReplicas bounds the ready workloads one pool keeps: each is a
// running pod with the template's resources.
const MaxPoolReplicas = 100

// maxExpressionLength bounds a cron expression: the longest sensible one
// lists every minute and is far shorter.
const maxExpressionLength = 256

// ValidateSessionPool checks a new pool.
func ValidateSessionPool(p *stream.SessionPool) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&p.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateSessionPoolSpec(&p.Spec, field.NewPath("spec"))...)
}

// ValidateSessionPoolUpdate lets everything but the template change: a pool
// of another template is another pool.
func ValidateSessionPoolUpdate(p, old *stream.SessionPool) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&p.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateSessionPoolSpec(&p.Spec, field.NewPath("spec"))...)
	return append(allErrs, apimachineryvalidation.ValidateImmutableField(p.Spec.Template, old.Spec.Template, field.NewPath("spec", "template"))...)
}

// ValidateSessionPoolStatusUpdate checks what the controller writes.
func ValidateSessionPoolStatusUpdate(p, old *stream.SessionPool) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&p.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	fld := field.NewPath("status")
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(p.Status.Replicas), fld.Child("replicas"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(p.Status.ReadyReplicas), fld.Child("readyReplicas"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(p.Status.Claimed, fld.Child("claimed"))...)
	return allErrs
}

func validateSessionPoolSpec(spec *stream.SessionPoolSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.Template == "" {
		allErrs = append(allErrs, field.Required(fld.Child("template"), "the name of a Template in this namespace"))
	} else {
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(spec.Template, false) {
			allErrs = append(allErrs, field.Invalid(fld.Child("template"), spec.Template, msg))
		}
	}
	if spec.Replicas < 0 || spec.Replicas > MaxPoolReplicas {
		allErrs = append(allErrs, field.Invalid(fld.Child("replicas"), spec.Replicas, "must be between 0 and 100"))
	}
	if spec.User != "" {
		allErrs = append(allErrs, ValidateUserName(spec.User, fld.Child("user"))...)
	}
	if spec.MaxAge != nil && spec.MaxAge.Duration < 0 {
		allErrs = append(allErrs, field.Invalid(fld.Child("maxAge"), spec.MaxAge.Duration.String(), "must not be negative (0s keeps workloads until claimed)"))
	}
	return allErrs
}

// validateSessionSchedule checks that a schedule has a start or a stop, and
// that each parses in its time zone.
func validateSessionSchedule(s *stream.SessionSchedule, fld *field.Path) field.ErrorList {
	if s == nil {
		return nil
	}
	var allErrs field.ErrorList
	if s.Start == "" && s.Stop == "" {
		allErrs = append(allErrs, field.Required(fld, "a start or a stop cron expression"))
	}
	for _, part := range []struct{ name, expr string }{{"start", s.Start}, {"stop", s.Stop}} {
		if len(part.expr) > maxExpressionLength {
			allErrs = append(allErrs, field.TooLong(fld.Child(part.name), "" /*unused*/, maxExpressionLength))
		}
	}
	if len(allErrs) > 0 {
		return allErrs
	}
	if _, err := sessionschedule.Parse(s.Start, s.Stop, s.TimeZone); err != nil {
		var pe *sessionschedule.PartError
		if errors.As(err, &pe) {
			value := map[string]string{"start": s.Start, "stop": s.Stop, "timeZone": s.TimeZone}[pe.Part]
			return field.ErrorList{field.Invalid(fld.Child(pe.Part), value, pe.Err.Error())}
		}
		return field.ErrorList{field.Invalid(fld, s, err.Error())}
	}
	return nil
}
