// Package validation checks catalog.stream.space objects with field paths.
package validation

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"strings"

	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	streamvalidation "github.com/streamspace/controlplane/pkg/apis/stream/validation"
	"github.com/streamspace/controlplane/pkg/gitcatalog/giturl"
)

var (
	authTypes  = sets.New(string(catalog.AuthTypeNone), string(catalog.AuthTypeSSH), string(catalog.AuthTypeToken), string(catalog.AuthTypeBasic))
	repoPhases = sets.New("", string(catalog.RepositoryPhasePending), string(catalog.RepositoryPhaseSyncing), string(catalog.RepositoryPhaseReady), string(catalog.RepositoryPhaseFailed))
	// scp-like Git addresses: git@github.com:org/repo.git
	scpLikeURL = regexp.MustCompile(`^[A-Za-z0-9._-]+@[A-Za-z0-9.-]+:[^\s]+$`)
)

// ValidateTemplateRepository checks a new repository.
func ValidateTemplateRepository(r *catalog.TemplateRepository) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&r.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateRepositorySpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateTemplateRepositoryUpdate checks an updated repository.
func ValidateTemplateRepositoryUpdate(r, old *catalog.TemplateRepository) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, validateRepositorySpec(&r.Spec, field.NewPath("spec"))...)
}

// ValidateTemplateRepositoryStatusUpdate checks what the sync writes.
func ValidateTemplateRepositoryStatusUpdate(r, old *catalog.TemplateRepository) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	if !repoPhases.Has(string(r.Status.Phase)) {
		allErrs = append(allErrs, field.NotSupported(field.NewPath("status", "phase"), r.Status.Phase, sets.List(repoPhases)[1:]))
	}
	return append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(r.Status.TemplateCount), field.NewPath("status", "templateCount"))...)
}

func validateRepositorySpec(spec *catalog.TemplateRepositorySpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, validateGitURL(spec.URL, fld.Child("url"))...)
	allErrs = append(allErrs, validateAuthTransport(spec, fld)...)
	if spec.Branch == "" || strings.ContainsAny(spec.Branch, " \t\n~^:?*[\\") || strings.Contains(spec.Branch, "..") ||
		strings.HasPrefix(spec.Branch, "-") || strings.HasPrefix(spec.Branch, "/") || strings.HasSuffix(spec.Branch, "/") || len(spec.Branch) > 255 {
		allErrs = append(allErrs, field.Invalid(fld.Child("branch"), spec.Branch, "must be a valid Git branch name"))
	}
	if spec.Path != "" {
		clean := path.Clean(spec.Path)
		if path.IsAbs(spec.Path) || clean == ".." || strings.HasPrefix(clean, "../") {
			allErrs = append(allErrs, field.Invalid(fld.Child("path"), spec.Path, "must be a relative path inside the repository"))
		}
	}
	if spec.SyncInterval != nil && spec.SyncInterval.Duration < 0 {
		allErrs = append(allErrs, field.Invalid(fld.Child("syncInterval"), spec.SyncInterval.Duration.String(), "must not be negative"))
	}
	af := fld.Child("auth")
	if !authTypes.Has(string(spec.Auth.Type)) {
		allErrs = append(allErrs, field.NotSupported(af.Child("type"), spec.Auth.Type, sets.List(authTypes)))
	}
	if spec.Auth.Type != catalog.AuthTypeNone && (spec.Auth.SecretRef == nil || spec.Auth.SecretRef.Name == "") {
		allErrs = append(allErrs, field.Required(af.Child("secretRef", "name"), "the Secret with the credentials"))
	}
	if ref := spec.Auth.SecretRef; ref != nil {
		if ref.Name != "" {
			for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(ref.Name, false) {
				allErrs = append(allErrs, field.Invalid(af.Child("secretRef", "name"), ref.Name, msg))
			}
		}
		if ref.Namespace != "" {
			for _, msg := range utilvalidation.IsDNS1123Label(ref.Namespace) {
				allErrs = append(allErrs, field.Invalid(af.Child("secretRef", "namespace"), ref.Namespace, msg))
			}
		}
	}
	return allErrs
}

// validateGitURL never echoes a URL that may hold a secret: errors show its
// redacted form (giturl.Redact).
func validateGitURL(raw string, fld *field.Path) field.ErrorList {
	if raw == "" {
		return field.ErrorList{field.Required(fld, "the Git repository to sync")}
	}
	shown := giturl.Redact(raw)
	if len(raw) > 2048 || strings.ContainsAny(raw, " \t\n\r") {
		return field.ErrorList{field.Invalid(fld, shown, "must be a URL without whitespace")}
	}
	if scpLikeURL.MatchString(raw) && !strings.Contains(raw, "://") {
		return nil
	}
	u, err := url.Parse(raw)
	if err != nil || !sets.New("https", "http", "ssh", "git", "file").Has(u.Scheme) || (u.Scheme != "file" && u.Host == "") {
		return field.ErrorList{field.Invalid(fld, shown, "must be an https://, http://, ssh://, git:// or file:// URL, or user@host:path")}
	}
	if u.User != nil {
		_, hasPassword := u.User.Password()
		// An SSH user name (ssh://git@host/...) says which account to log in
		// as; anything else there is a token or a password.
		if u.Scheme != "ssh" || hasPassword || u.User.Username() == "" {
			return field.ErrorList{field.Invalid(fld, shown, "must not contain credentials or a user name (only ssh:// URLs may name a user): put credentials in the Secret named by auth.secretRef")}
		}
	}
	// Some hosts take tokens in the query; a clone URL needs neither query nor fragment.
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return field.ErrorList{field.Invalid(fld, shown, "must not have a query or a fragment: put credentials in the Secret named by auth.secretRef")}
	}
	return nil
}

// validateAuthTransport refuses auth types that the URL's scheme would carry
// in clear or not at all.
func validateAuthTransport(spec *catalog.TemplateRepositorySpec, fld *field.Path) field.ErrorList {
	raw := spec.URL
	scheme := "ssh"
	if strings.Contains(raw, "://") {
		u, err := url.Parse(raw)
		if err != nil {
			return nil // validateGitURL reports it
		}
		scheme = u.Scheme
	} else if !scpLikeURL.MatchString(raw) {
		return nil
	}
	switch spec.Auth.Type {
	case catalog.AuthTypeToken, catalog.AuthTypeBasic:
		if scheme == "http" {
			return field.ErrorList{field.Invalid(fld.Child("url"), giturl.Redact(raw), fmt.Sprintf("auth type %s needs an https:// URL: credentials are never sent over plain http", spec.Auth.Type))}
		}
		if scheme != "https" {
			return field.ErrorList{field.Invalid(fld.Child("auth", "type"), spec.Auth.Type, fmt.Sprintf("works with https:// URLs only, not %s", scheme))}
		}
	case catalog.AuthTypeSSH:
		if scheme != "ssh" {
			return field.ErrorList{field.Invalid(fld.Child("auth", "type"), spec.Auth.Type, fmt.Sprintf("works with ssh:// and user@host:path URLs only, not %s", scheme))}
		}
	}
	return nil
}

// ValidateCatalogTemplate checks a catalog template written by the sync.
func ValidateCatalogTemplate(t *catalog.CatalogTemplate) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&t.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateCatalogTemplateSpec(&t.Spec, field.NewPath("spec"))...)
}

// ValidateCatalogTemplateUpdate checks an updated catalog template.
func ValidateCatalogTemplateUpdate(t, old *catalog.CatalogTemplate) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&t.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateCatalogTemplateSpec(&t.Spec, field.NewPath("spec"))...)
	return append(allErrs, apimachineryvalidation.ValidateImmutableField(t.Spec.Repository, old.Spec.Repository, field.NewPath("spec", "repository"))...)
}

// ValidateCatalogTemplateStatusUpdate checks the install count.
func ValidateCatalogTemplateStatusUpdate(t, old *catalog.CatalogTemplate) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&t.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, apimachineryvalidation.ValidateNonnegativeField(t.Status.InstallCount, field.NewPath("status", "installCount"))...)
}

func validateCatalogTemplateSpec(spec *catalog.CatalogTemplateSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if spec.Repository == "" {
		allErrs = append(allErrs, field.Required(fld.Child("repository"), "the TemplateRepository it came from"))
	}
	if len(spec.Category) > 256 {
		allErrs = append(allErrs, field.TooLong(fld.Child("category"), "", 256))
	}
	return append(allErrs, streamvalidation.ValidateTemplateSpec(&spec.Template, fld.Child("template"))...)
}
