package validation

import (
	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// ValidateSessionQuota checks a new session quota.
func ValidateSessionQuota(q *stream.SessionQuota) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&q.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateSessionQuotaSpec(&q.Spec, field.NewPath("spec"))...)
}

// ValidateSessionQuotaUpdate checks a spec update.
func ValidateSessionQuotaUpdate(q, old *stream.SessionQuota) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&q.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, validateSessionQuotaSpec(&q.Spec, field.NewPath("spec"))...)
}

// ValidateSessionQuotaStatusUpdate checks the usage admission and the controller write.
func ValidateSessionQuotaStatusUpdate(q, old *stream.SessionQuota) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&q.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	fld := field.NewPath("status")
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(q.Status.ObservedGeneration, fld.Child("observedGeneration"))...)
	seen := sets.New[string]()
	for i, u := range q.Status.Usage {
		p := fld.Child("usage").Index(i)
		allErrs = append(allErrs, ValidateUserName(u.User, p.Child("user"))...)
		if seen.Has(u.User) {
			allErrs = append(allErrs, field.Duplicate(p.Child("user"), u.User))
		}
		seen.Insert(u.User)
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(u.Sessions), p.Child("sessions"))...)
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(u.RunningSessions), p.Child("runningSessions"))...)
	}
	for i, c := range q.Status.Pending {
		p := fld.Child("pending").Index(i)
		allErrs = append(allErrs, ValidateUserName(c.User, p.Child("user"))...)
		if c.Session == "" {
			allErrs = append(allErrs, field.Required(p.Child("session"), "namespace/name of the session charged"))
		}
	}
	allErrs = append(allErrs, metav1validation.ValidateConditions(q.Status.Conditions, fld.Child("conditions"))...)
	return allErrs
}

func validateSessionQuotaSpec(spec *stream.SessionQuotaSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	sub := fld.Child("subjects")
	s := &spec.Subjects
	switch {
	case s.All && (len(s.Users) > 0 || len(s.Groups) > 0):
		allErrs = append(allErrs, field.Invalid(sub.Child("all"), s.All, "all: true applies to everyone; leave users and groups empty"))
	case !s.All && len(s.Users) == 0 && len(s.Groups) == 0:
		allErrs = append(allErrs, field.Required(sub, "name users, groups, or set all: true"))
	}
	names := func(list []string, p *field.Path) {
		seen := sets.New[string]()
		for i, n := range list {
			allErrs = append(allErrs, ValidateUserName(n, p.Index(i))...)
			if seen.Has(n) {
				allErrs = append(allErrs, field.Duplicate(p.Index(i), n))
			}
			seen.Insert(n)
		}
	}
	names(s.Users, sub.Child("users"))
	names(s.Groups, sub.Child("groups"))

	lim := fld.Child("limits")
	l := &spec.Limits
	if l.MaxSessions != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*l.MaxSessions), lim.Child("maxSessions"))...)
	}
	if l.MaxRunningSessions != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(*l.MaxRunningSessions), lim.Child("maxRunningSessions"))...)
	}
	for name, q := range map[string]*resource.Quantity{"cpu": l.CPU, "memory": l.Memory, "homeStorage": l.HomeStorage} {
		if q != nil && q.Sign() < 0 {
			allErrs = append(allErrs, field.Invalid(lim.Child(name), q.String(), "must not be negative"))
		}
	}
	if l.MaxIdleTimeout != nil && l.MaxIdleTimeout.Duration <= 0 {
		allErrs = append(allErrs, field.Invalid(lim.Child("maxIdleTimeout"), l.MaxIdleTimeout.Duration.String(), "must be positive (leave it out for no limit)"))
	}
	if l.MaxSessionDuration != nil && l.MaxSessionDuration.Duration <= 0 {
		allErrs = append(allErrs, field.Invalid(lim.Child("maxSessionDuration"), l.MaxSessionDuration.Duration.String(), "must be positive (leave it out for no limit)"))
	}
	return allErrs
}
