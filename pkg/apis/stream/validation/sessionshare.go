package validation

import (
	"time"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

var (
	shareRoles      = sets.New(string(stream.ShareRoleView), string(stream.ShareRoleControl))
	connectionRoles = sets.New("", string(stream.ConnectionRoleOwner), string(stream.ConnectionRoleControl), string(stream.ConnectionRoleView))
)

// ValidateSessionShare checks a new share: a session name, exactly one of
// user and group, a role, and an expiry in the future.
func ValidateSessionShare(s *stream.SessionShare) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&s.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	allErrs = append(allErrs, validateSessionShareSpec(&s.Spec, field.NewPath("spec"))...)
	if exp := s.Spec.ExpiresAt; exp != nil && !exp.After(time.Now()) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("spec", "expiresAt"), exp.UTC().Format(time.RFC3339), "must be in the future"))
	}
	return allErrs
}

// ValidateSessionShareUpdate allows the role and the expiry to change; the
// session and who it is shared with are fixed (share with someone else by
// creating another share).
func ValidateSessionShareUpdate(s, old *stream.SessionShare) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&s.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	spec := field.NewPath("spec")
	allErrs = append(allErrs, validateSessionShareSpec(&s.Spec, spec)...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(s.Spec.Session, old.Spec.Session, spec.Child("session"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(s.Spec.User, old.Spec.User, spec.Child("user"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(s.Spec.Group, old.Spec.Group, spec.Child("group"))...)
	return allErrs
}

// ValidateSessionShareStatusUpdate checks a status write: the owner is the
// server's to set.
func ValidateSessionShareStatusUpdate(s, old *stream.SessionShare) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&s.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, apimachineryvalidation.ValidateImmutableField(s.Status.Owner, old.Status.Owner, field.NewPath("status", "owner"))...)
}

func validateSessionShareSpec(spec *stream.SessionShareSpec, fld *field.Path) field.ErrorList {
	allErrs := validateSessionName(spec.Session, fld.Child("session"))
	switch {
	case spec.User == "" && spec.Group == "":
		allErrs = append(allErrs, field.Required(fld.Child("user"), "the user (or, in spec.group, the group) to share the session with"))
	case spec.User != "" && spec.Group != "":
		allErrs = append(allErrs, field.Forbidden(fld.Child("group"), "a share names one user or one group, not both: create one share for each"))
	case spec.User != "":
		allErrs = append(allErrs, ValidateUserName(spec.User, fld.Child("user"))...)
	default:
		allErrs = append(allErrs, validateGroupName(spec.Group, fld.Child("group"))...)
	}
	if !shareRoles.Has(string(spec.Role)) {
		allErrs = append(allErrs, field.NotSupported(fld.Child("role"), spec.Role, sets.List(shareRoles)))
	}
	return allErrs
}

func validateGroupName(group string, fld *field.Path) field.ErrorList {
	switch {
	case len(group) > maxUserLength:
		return field.ErrorList{field.TooLong(fld, "" /*unused*/, maxUserLength)}
	case group == "system:authenticated" || group == "system:unauthenticated":
		return field.ErrorList{field.Invalid(fld, group, "a session is shared with people, not with everyone")}
	}
	for _, c := range group {
		if c < 0x20 || c == 0x7f {
			return field.ErrorList{field.Invalid(fld, group, "must not contain control characters")}
		}
	}
	return nil
}

// validateConnectionRole checks the role and share a connection records.
func validateConnectionRole(spec *stream.ConnectionSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if !connectionRoles.Has(string(spec.Role)) {
		allErrs = append(allErrs, field.NotSupported(fld.Child("role"), spec.Role, sets.List(connectionRoles)[1:]))
	}
	if spec.Share != "" {
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(spec.Share, false) {
			allErrs = append(allErrs, field.Invalid(fld.Child("share"), spec.Share, msg))
		}
		if spec.Role == stream.ConnectionRoleOwner || spec.Role == "" {
			allErrs = append(allErrs, field.Invalid(fld.Child("role"), spec.Role, "a connection opened through a share has the share's role"))
		}
	}
	return allErrs
}
