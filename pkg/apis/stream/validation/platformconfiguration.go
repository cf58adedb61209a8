package validation

import (
	"fmt"
	"strings"
	"time"
	"unicode"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

// ValidatePlatformConfiguration checks the platform's settings. There is
// one configuration, named "cluster".
func ValidatePlatformConfiguration(c *stream.PlatformConfiguration) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&c.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if c.Name != stream.PlatformConfigurationName {
		allErrs = append(allErrs, field.Invalid(field.NewPath("metadata", "name"), c.Name, "the platform has one configuration, named \""+stream.PlatformConfigurationName+"\""))
	}
	return append(allErrs, validatePlatformConfigurationSpec(&c.Spec, field.NewPath("spec"))...)
}

// ValidatePlatformConfigurationUpdate checks a change of the settings.
func ValidatePlatformConfigurationUpdate(c, old *stream.PlatformConfiguration) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&c.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, validatePlatformConfigurationSpec(&c.Spec, field.NewPath("spec"))...)
}

func validatePlatformConfigurationSpec(spec *stream.PlatformConfigurationSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	ingress := fld.Child("ingress")
	if d := spec.Ingress.Domain; d != "" {
		for _, msg := range validation.IsDNS1123Subdomain(d) {
			allErrs = append(allErrs, field.Invalid(ingress.Child("domain"), d, msg))
		}
	}
	if n := spec.Ingress.ClassName; n != "" {
		for _, msg := range validation.IsDNS1123Subdomain(n) {
			allErrs = append(allErrs, field.Invalid(ingress.Child("className"), n, msg))
		}
	}
	sessions := fld.Child("sessions")
	allErrs = append(allErrs, validateDuration(spec.Sessions.DefaultIdleTimeout, sessions.Child("defaultIdleTimeout"), 0, "must not be negative (0 never hibernates)")...)
	allErrs = append(allErrs, validateDuration(spec.Sessions.StaleConnectionTimeout, sessions.Child("staleConnectionTimeout"), time.Second, "must be at least 1s (viewers send a heartbeat every 30s)")...)
	if r := spec.Sessions.DefaultResources; r != nil {
		allErrs = append(allErrs, ValidateResources(r, sessions.Child("defaultResources"))...)
	}
	home := fld.Child("home")
	if q := spec.Home.VolumeSize; q != nil && q.Sign() <= 0 {
		allErrs = append(allErrs, field.Invalid(home.Child("volumeSize"), q.String(), "must be positive"))
	}
	if n := spec.Home.StorageClassName; n != "" {
		for _, msg := range validation.IsDNS1123Subdomain(n) {
			allErrs = append(allErrs, field.Invalid(home.Child("storageClassName"), n, msg))
		}
	}
	allErrs = append(allErrs, validateDuration(spec.Catalog.SyncInterval, fld.Child("catalog", "syncInterval"), 0, "must not be negative (0 syncs only on request)")...)
	return append(allErrs, validatePricing(&spec.Pricing, fld.Child("pricing"))...)
}

// maxCurrencyLength bounds spec.pricing.currency: a code such as EUR, or a
// short name such as credits.
const maxCurrencyLength = 16

func validatePricing(p *stream.PricingConfiguration, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if c := p.Currency; len(c) > maxCurrencyLength || strings.IndexFunc(c, func(r rune) bool { return !unicode.IsPrint(r) || unicode.IsSpace(r) }) >= 0 {
		allErrs = append(allErrs, field.Invalid(fld.Child("currency"), c, fmt.Sprintf("must be at most %d printable characters without spaces, e.g. EUR", maxCurrencyLength)))
	}
	price := func(value string, fld *field.Path) {
		if _, err := stream.ParsePrice(value); err != nil {
			allErrs = append(allErrs, field.Invalid(fld, value, err.Error()))
		}
	}
	price(p.CPUCoreHour, fld.Child("cpuCoreHour"))
	price(p.MemoryGiBHour, fld.Child("memoryGiBHour"))
	seen := map[string]bool{}
	for i, t := range p.Templates {
		at := fld.Child("templates").Index(i)
		if t.Template == "" {
			allErrs = append(allErrs, field.Required(at.Child("template"), "the name of a Template"))
		} else {
			for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(t.Template, false) {
				allErrs = append(allErrs, field.Invalid(at.Child("template"), t.Template, msg))
			}
		}
		if seen[t.Template] {
			allErrs = append(allErrs, field.Duplicate(at.Child("template"), t.Template))
		}
		seen[t.Template] = true
		if t.SessionHour == "" {
			allErrs = append(allErrs, field.Required(at.Child("sessionHour"), "the price of an hour of a running session"))
		} else {
			price(t.SessionHour, at.Child("sessionHour"))
		}
	}
	return allErrs
}

func validateDuration(d *metav1.Duration, fld *field.Path, min time.Duration, msg string) field.ErrorList {
	if d != nil && d.Duration < min {
		return field.ErrorList{field.Invalid(fld, d.Duration.String(), msg)}
	}
	return nil
}
