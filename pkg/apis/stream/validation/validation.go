// Package validation checks stream.space objects and reports every problem
// with its field path, so clients get a 422 that names the field.
package validation

import (
	"fmt"
	"net/url"
	"path"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	pathvalidation "k8s.io/apimachinery/pkg/api/validation/path"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	utilvalidation "k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/streamspace/controlplane/pkg/apis/stream"
)

const (
	maxUserLength = 253
	maxTags       = 64
	maxTagLength  = 128
	maxTextLength = 4096
)

var (
	sessionStates    = sets.New(string(stream.SessionStateRunning), string(stream.SessionStateHibernated), string(stream.SessionStateTerminated))
	sessionPhases    = sets.New("", string(stream.SessionPhasePending), string(stream.SessionPhaseRunning), string(stream.SessionPhaseHibernated), string(stream.SessionPhaseFailed), string(stream.SessionPhaseTerminated))
	connectionStates = sets.New("", string(stream.ConnectionStateActive), string(stream.ConnectionStateStale), string(stream.ConnectionStateDisconnected))
	appTypes         = sets.New(string(stream.AppTypeDesktop), string(stream.AppTypeWebApp))
	vncProtocols     = sets.New("rfb", "websocket")
	portProtocols    = sets.New(string(corev1.ProtocolTCP), string(corev1.ProtocolUDP), string(corev1.ProtocolSCTP))
	resourceNames    = sets.New(string(corev1.ResourceCPU), string(corev1.ResourceMemory), string(corev1.ResourceEphemeralStorage))
	// KnownCapabilities are the capabilities the web client understands.
	KnownCapabilities = sets.New("Network", "Audio", "Clipboard", "USB", "Printing")
)

// ValidateSession checks a new session.
func ValidateSession(s *stream.Session) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&s.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateSessionSpec(&s.Spec, field.NewPath("spec"))...)
}

// ValidateSessionUpdate checks a spec update: the owner and template are fixed.
func ValidateSessionUpdate(s, old *stream.Session) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&s.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateSessionSpec(&s.Spec, field.NewPath("spec"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(s.Spec.User, old.Spec.User, field.NewPath("spec", "user"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(s.Spec.Template, old.Spec.Template, field.NewPath("spec", "template"))...)
	return allErrs
}

// ValidateSessionStatusUpdate checks what the controller writes.
func ValidateSessionStatusUpdate(s, old *stream.Session) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&s.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	fld := field.NewPath("status")
	st := &s.Status
	if !sessionPhases.Has(string(st.Phase)) {
		allErrs = append(allErrs, field.NotSupported(fld.Child("phase"), st.Phase, sets.List(sessionPhases)[1:]))
	}
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(int64(st.ActiveConnections), fld.Child("activeConnections"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(st.ObservedGeneration, fld.Child("observedGeneration"))...)
	if st.URL != "" {
		allErrs = append(allErrs, validateURL(st.URL, fld.Child("url"), "http", "https")...)
	}
	allErrs = append(allErrs, validateText(st.Message, fld.Child("message"))...)
	allErrs = append(allErrs, metav1validation.ValidateConditions(st.Conditions, fld.Child("conditions"))...)
	return allErrs
}

func validateSessionSpec(spec *stream.SessionSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, ValidateUserName(spec.User, fld.Child("user"))...)
	if spec.Template == "" {
		allErrs = append(allErrs, field.Required(fld.Child("template"), "the name of a Template in this namespace"))
	} else {
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(spec.Template, false) {
			allErrs = append(allErrs, field.Invalid(fld.Child("template"), spec.Template, msg))
		}
	}
	if !sessionStates.Has(string(spec.State)) {
		allErrs = append(allErrs, field.NotSupported(fld.Child("state"), spec.State, sets.List(sessionStates)))
	}
	allErrs = append(allErrs, ValidateResources(&spec.Resources, fld.Child("resources"))...)
	if spec.IdleTimeout != nil && spec.IdleTimeout.Duration < 0 {
		allErrs = append(allErrs, field.Invalid(fld.Child("idleTimeout"), spec.IdleTimeout.Duration.String(), "must not be negative (0s never hibernates)"))
	}
	if spec.MaxSessionDuration != nil && spec.MaxSessionDuration.Duration < 0 {
		allErrs = append(allErrs, field.Invalid(fld.Child("maxSessionDuration"), spec.MaxSessionDuration.Duration.String(), "must not be negative (0s means no limit)"))
	}
	allErrs = append(allErrs, validateTags(spec.Tags, fld.Child("tags"))...)
	allErrs = append(allErrs, validateSessionSchedule(spec.Schedule, fld.Child("schedule"))...)
	return allErrs
}

// ValidateUserName checks a user name as Kubernetes authenticators produce them
// (plain names, e-mail addresses, system:serviceaccount:ns:name).
func ValidateUserName(user string, fld *field.Path) field.ErrorList {
	switch {
	case user == "":
		return field.ErrorList{field.Required(fld, "defaults to the authenticated user")}
	case len(user) > maxUserLength:
		return field.ErrorList{field.TooLong(fld, "" /*unused*/, maxUserLength)}
	case strings.ContainsAny(user, "\x00\n\r\t/"):
		return field.ErrorList{field.Invalid(fld, user, "must not contain control characters or '/'")}
	}
	return nil
}

// ValidateResources checks requests and limits: known names, non-negative
// quantities, and requests not above limits.
func ValidateResources(r *stream.ResourceRequirements, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	check := func(list corev1.ResourceList, p *field.Path) {
		for name, q := range list {
			if !resourceNames.Has(string(name)) {
				allErrs = append(allErrs, field.NotSupported(p.Key(string(name)), name, sets.List(resourceNames)))
				continue
			}
			if q.Sign() < 0 {
				allErrs = append(allErrs, field.Invalid(p.Key(string(name)), q.String(), "must not be negative"))
			}
		}
	}
	check(r.Requests, fld.Child("requests"))
	check(r.Limits, fld.Child("limits"))
	for name, req := range r.Requests {
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			allErrs = append(allErrs, field.Invalid(fld.Child("requests").Key(string(name)), req.String(), fmt.Sprintf("must be less than or equal to the %s limit (%s)", name, lim.String())))
		}
	}
	return allErrs
}

// ValidateTemplate checks a new template.
func ValidateTemplate(t *stream.Template) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&t.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, ValidateTemplateSpec(&t.Spec, field.NewPath("spec"))...)
}

// ValidateTemplateUpdate checks an updated template.
func ValidateTemplateUpdate(t, old *stream.Template) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&t.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, ValidateTemplateSpec(&t.Spec, field.NewPath("spec"))...)
}

// ValidateTemplateStatusUpdate checks what the template validator writes.
func ValidateTemplateStatusUpdate(t, old *stream.Template) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&t.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateText(t.Status.Message, field.NewPath("status", "message"))...)
	return append(allErrs, metav1validation.ValidateConditions(t.Status.Conditions, field.NewPath("status", "conditions"))...)
}

// ValidateTemplateSpec checks a template as written by people or found in a catalog.
func ValidateTemplateSpec(spec *stream.TemplateSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if strings.TrimSpace(spec.DisplayName) == "" {
		allErrs = append(allErrs, field.Required(fld.Child("displayName"), "the name shown to people"))
	} else if len(spec.DisplayName) > 256 {
		allErrs = append(allErrs, field.TooLong(fld.Child("displayName"), "", 256))
	}
	allErrs = append(allErrs, validateText(spec.Description, fld.Child("description"))...)
	if len(spec.Category) > 256 {
		allErrs = append(allErrs, field.TooLong(fld.Child("category"), "", 256))
	}
	if spec.Icon != "" {
		allErrs = append(allErrs, validateURL(spec.Icon, fld.Child("icon"), "http", "https")...)
	}
	allErrs = append(allErrs, validateImage(spec.BaseImage, fld.Child("baseImage"))...)
	allErrs = append(allErrs, ValidateResources(&spec.DefaultResources, fld.Child("defaultResources"))...)

	portNames := sets.New[string]()
	for i, p := range spec.Ports {
		pf := fld.Child("ports").Index(i)
		if p.Name != "" {
			for _, msg := range utilvalidation.IsValidPortName(p.Name) {
				allErrs = append(allErrs, field.Invalid(pf.Child("name"), p.Name, msg))
			}
			if portNames.Has(p.Name) {
				allErrs = append(allErrs, field.Duplicate(pf.Child("name"), p.Name))
			}
			portNames.Insert(p.Name)
		}
		allErrs = append(allErrs, validatePort(p.ContainerPort, pf.Child("containerPort"))...)
		if !portProtocols.Has(string(p.Protocol)) {
			allErrs = append(allErrs, field.NotSupported(pf.Child("protocol"), p.Protocol, sets.List(portProtocols)))
		}
	}
	envNames := sets.New[string]()
	for i, e := range spec.Env {
		ef := fld.Child("env").Index(i)
		for _, msg := range utilvalidation.IsEnvVarName(e.Name) {
			allErrs = append(allErrs, field.Invalid(ef.Child("name"), e.Name, msg))
		}
		if envNames.Has(e.Name) {
			allErrs = append(allErrs, field.Duplicate(ef.Child("name"), e.Name))
		}
		envNames.Insert(e.Name)
	}
	mountPaths := sets.New[string]()
	for i, m := range spec.VolumeMounts {
		mf := fld.Child("volumeMounts").Index(i)
		for _, msg := range utilvalidation.IsDNS1123Label(m.Name) {
			allErrs = append(allErrs, field.Invalid(mf.Child("name"), m.Name, msg))
		}
		if !path.IsAbs(m.MountPath) || path.Clean(m.MountPath) != m.MountPath {
			allErrs = append(allErrs, field.Invalid(mf.Child("mountPath"), m.MountPath, "must be a clean absolute path"))
		}
		if mountPaths.Has(m.MountPath) {
			allErrs = append(allErrs, field.Duplicate(mf.Child("mountPath"), m.MountPath))
		}
		mountPaths.Insert(m.MountPath)
	}
	if v := spec.VNC; v != nil && v.Enabled {
		allErrs = append(allErrs, validatePort(v.Port, fld.Child("vnc", "port"))...)
		if !vncProtocols.Has(v.Protocol) {
			allErrs = append(allErrs, field.NotSupported(fld.Child("vnc", "protocol"), v.Protocol, sets.List(vncProtocols)))
		}
	}
	if w := spec.WebApp; w != nil && w.Enabled {
		allErrs = append(allErrs, validatePort(w.Port, fld.Child("webapp", "port"))...)
		if !strings.HasPrefix(w.Path, "/") {
			allErrs = append(allErrs, field.Invalid(fld.Child("webapp", "path"), w.Path, "must start with '/'"))
		}
		if w.HealthCheck != "" && !strings.HasPrefix(w.HealthCheck, "/") {
			allErrs = append(allErrs, field.Invalid(fld.Child("webapp", "healthCheck"), w.HealthCheck, "must be a path starting with '/'"))
		}
	}
	switch {
	case !appTypes.Has(string(spec.AppType)):
		allErrs = append(allErrs, field.NotSupported(fld.Child("appType"), spec.AppType, sets.List(appTypes)))
	case spec.AppType == stream.AppTypeDesktop && (spec.VNC == nil || !spec.VNC.Enabled) && len(spec.Ports) == 0:
		allErrs = append(allErrs, field.Required(fld.Child("vnc"), "a desktop template needs vnc.enabled or at least one port"))
	case spec.AppType == stream.AppTypeWebApp && (spec.WebApp == nil || !spec.WebApp.Enabled):
		allErrs = append(allErrs, field.Required(fld.Child("webapp"), "a webapp template needs webapp.enabled and webapp.port"))
	}
	for i, c := range spec.Capabilities {
		if len(c) == 0 || len(c) > 63 {
			allErrs = append(allErrs, field.Invalid(fld.Child("capabilities").Index(i), c, "must be 1-63 characters"))
		}
	}
	allErrs = append(allErrs, validateTags(spec.Tags, fld.Child("tags"))...)
	if src := spec.Source; src != nil {
		sf := fld.Child("source", "catalogTemplate")
		if src.CatalogTemplate == "" {
			allErrs = append(allErrs, field.Required(sf, "the name of the CatalogTemplate to install"))
		}
		for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(src.CatalogTemplate, false) {
			allErrs = append(allErrs, field.Invalid(sf, src.CatalogTemplate, msg))
		}
	}
	return allErrs
}

// ValidateConnection checks a new connection.
func ValidateConnection(c *stream.Connection) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&c.ObjectMeta, true, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	return append(allErrs, validateConnectionSpec(&c.Spec, field.NewPath("spec"))...)
}

// ValidateConnectionUpdate checks an update: a connection never moves to
// another session or viewer.
func ValidateConnectionUpdate(c, old *stream.Connection) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&c.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	allErrs = append(allErrs, validateConnectionSpec(&c.Spec, field.NewPath("spec"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateImmutableField(c.Spec, old.Spec, field.NewPath("spec"))...)
	return allErrs
}

// ValidateConnectionStatusUpdate checks a status write.
func ValidateConnectionStatusUpdate(c, old *stream.Connection) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&c.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	if !connectionStates.Has(string(c.Status.State)) {
		allErrs = append(allErrs, field.NotSupported(field.NewPath("status", "state"), c.Status.State, sets.List(connectionStates)[1:]))
	}
	return allErrs
}

func validateConnectionSpec(spec *stream.ConnectionSpec, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, validateSessionName(spec.Session, fld.Child("session"))...)
	allErrs = append(allErrs, ValidateUserName(spec.User, fld.Child("user"))...)
	if spec.ClientIP != "" {
		allErrs = append(allErrs, utilvalidation.IsValidIP(fld.Child("clientIP"), spec.ClientIP)...)
	}
	if len(spec.UserAgent) > 1024 {
		allErrs = append(allErrs, field.TooLong(fld.Child("userAgent"), "", 1024))
	}
	return append(allErrs, validateConnectionRole(spec, fld)...)
}

func validatePort(port int32, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range utilvalidation.IsValidPortNum(int(port)) {
		allErrs = append(allErrs, field.Invalid(fld, port, msg))
	}
	return allErrs
}

func validateImage(image string, fld *field.Path) field.ErrorList {
	switch {
	case image == "":
		return field.ErrorList{field.Required(fld, "the container image of the application")}
	case strings.TrimSpace(image) != image || strings.ContainsAny(image, " \t\n\r"):
		return field.ErrorList{field.Invalid(fld, image, "must not contain whitespace")}
	case len(image) > 1024:
		return field.ErrorList{field.TooLong(fld, "", 1024)}
	}
	return nil
}

func validateURL(raw string, fld *field.Path, schemes ...string) field.ErrorList {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || !sets.New(schemes...).Has(u.Scheme) {
		return field.ErrorList{field.Invalid(fld, raw, fmt.Sprintf("must be an absolute %s URL", strings.Join(schemes, " or ")))}
	}
	return nil
}

func validateText(s string, fld *field.Path) field.ErrorList {
	if len(s) > maxTextLength {
		return field.ErrorList{field.TooLong(fld, "", maxTextLength)}
	}
	return nil
}

func validateTags(tags []string, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(tags) > maxTags {
		allErrs = append(allErrs, field.TooMany(fld, len(tags), maxTags))
	}
	for i, t := range tags {
		if t == "" || len(t) > maxTagLength || strings.ContainsAny(t, "\x00\n\r") {
			allErrs = append(allErrs, field.Invalid(fld.Index(i), t, fmt.Sprintf("must be 1-%d printable characters", maxTagLength)))
		}
	}
	return allErrs
}

var userRoles = sets.New(string(stream.UserRoleAdmin), string(stream.UserRoleUser))

// ValidateUser checks a User the API server records: its name is a
// Kubernetes username (path segment rules: no '/', not "." or "..").
func ValidateUser(u *stream.User) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&u.ObjectMeta, false, validateUserObjectName, field.NewPath("metadata"))
	return append(allErrs, validateUserStatus(&u.Status, field.NewPath("status"))...)
}

// ValidateUserUpdate checks a new record of a known User.
func ValidateUserUpdate(u, old *stream.User) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&u.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	return append(allErrs, validateUserStatus(&u.Status, field.NewPath("status"))...)
}

func validateUserObjectName(name string, prefix bool) []string {
	msgs := pathvalidation.ValidatePathSegmentName(name, prefix)
	if len(name) > maxUserLength {
		msgs = append(msgs, fmt.Sprintf("must be no more than %d characters", maxUserLength))
	}
	if strings.ContainsAny(name, "\x00\n\r\t") {
		msgs = append(msgs, "must not contain control characters")
	}
	return msgs
}

func validateUserStatus(s *stream.UserStatus, fld *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if !userRoles.Has(string(s.Role)) {
		allErrs = append(allErrs, field.NotSupported(fld.Child("role"), s.Role, sets.List(userRoles)))
	}
	for name, v := range map[string]string{"uid": s.UID, "email": s.Email, "displayName": s.DisplayName} {
		if len(v) > maxTextLength {
			allErrs = append(allErrs, field.TooLong(fld.Child(name), "" /*unused*/, maxTextLength))
		}
	}
	return allErrs
}

// APIKey lifetimes: a key without spec.expiresAt expires after
// DefaultAPIKeyLifetime; none lives longer than MaxAPIKeyLifetime.
const (
	DefaultAPIKeyLifetime = 30 * 24 * time.Hour
	MaxAPIKeyLifetime     = 90 * 24 * time.Hour
	maxDescriptionLength  = 1024
)

// ValidateAPIKey checks a new API key: it acts as a person (not a system:
// identity), and expires after its creation and at most MaxAPIKeyLifetime
// later.
func ValidateAPIKey(k *stream.APIKey) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMeta(&k.ObjectMeta, false, apimachineryvalidation.NameIsDNSSubdomain, field.NewPath("metadata"))
	if strings.Contains(k.Name, "_") {
		// A DNS subdomain has none: the token's parts are separated by '_'.
		allErrs = append(allErrs, field.Invalid(field.NewPath("metadata", "name"), k.Name, "must not contain '_'"))
	}
	spec := field.NewPath("spec")
	allErrs = append(allErrs, ValidateUserName(k.Spec.User, spec.Child("user"))...)
	if strings.HasPrefix(k.Spec.User, "system:") {
		allErrs = append(allErrs, field.Invalid(spec.Child("user"), k.Spec.User,
			"API keys act as people: system: identities (ServiceAccounts, components) have credentials of their own"))
	}
	created := k.CreationTimestamp.Time
	if created.IsZero() {
		created = time.Now()
	}
	switch exp := k.Spec.ExpiresAt; {
	case exp == nil:
		allErrs = append(allErrs, field.Required(spec.Child("expiresAt"), "when the key stops working"))
	case !exp.After(created):
		allErrs = append(allErrs, field.Invalid(spec.Child("expiresAt"), exp.UTC().Format(time.RFC3339), "must be in the future"))
	case exp.Sub(created) > MaxAPIKeyLifetime+time.Minute:
		allErrs = append(allErrs, field.Invalid(spec.Child("expiresAt"), exp.UTC().Format(time.RFC3339),
			fmt.Sprintf("must be at most %d days after the key's creation", int(MaxAPIKeyLifetime.Hours()/24))))
	}
	if len(k.Spec.Description) > maxDescriptionLength {
		allErrs = append(allErrs, field.TooLong(spec.Child("description"), "" /*unused*/, maxDescriptionLength))
	}
	for i, g := range k.Spec.Groups {
		if g == "" || strings.ContainsAny(g, "\x00\n\r\t") {
			allErrs = append(allErrs, field.Invalid(spec.Child("groups").Index(i), g, "must be a non-empty group name without control characters"))
		}
	}
	return allErrs
}

// ValidateAPIKeyUpdate allows changes to the description and metadata only:
// whom a key acts as, with which groups and until when is fixed at its
// creation.
func ValidateAPIKeyUpdate(k, old *stream.APIKey) field.ErrorList {
	allErrs := apimachineryvalidation.ValidateObjectMetaUpdate(&k.ObjectMeta, &old.ObjectMeta, field.NewPath("metadata"))
	spec, oldSpec := k.Spec, old.Spec
	spec.Description, oldSpec.Description = "", ""
	if !apiequality.Semantic.DeepEqual(spec, oldSpec) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("spec"), "only spec.description of an API key may change: mint a new key instead"))
	}
	if len(k.Spec.Description) > maxDescriptionLength {
		allErrs = append(allErrs, field.TooLong(field.NewPath("spec", "description"), "" /*unused*/, maxDescriptionLength))
	}
	return append(allErrs, apimachineryvalidation.ValidateImmutableField(k.Status.TokenHash, old.Status.TokenHash, field.NewPath("status", "tokenHash"))...)
}

// validateSessionName checks a reference to a Session in the same namespace.
func validateSessionName(name string, fld *field.Path) field.ErrorList {
	if name == "" {
		return field.ErrorList{field.Required(fld, "the name of a Session in this namespace")}
	}
	var allErrs field.ErrorList
	for _, msg := range apimachineryvalidation.NameIsDNSSubdomain(name, false) {
		allErrs = append(allErrs, field.Invalid(fld, name, msg))
	}
	return allErrs
}
