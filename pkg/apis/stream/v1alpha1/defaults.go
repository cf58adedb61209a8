package v1alpha1

import (
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// Defaults of the old backend (reference.md), kept so existing manifests behave the same.
const (
	DefaultIdleTimeout        = 30 * time.Minute
	DefaultMaxSessionDuration = 8 * time.Hour
	DefaultVNCPort            = 3000
	DefaultVNCProtocol        = "websocket"
	DefaultWebAppPath         = "/"
	// DefaultHomeVolumeSize is the size of a new home-<user> claim when the
	// platform configuration sets no spec.home.volumeSize: the default of
	// streamspace-controller's --home-size, and what SessionQuotas charge
	// for a claim not yet made.
	DefaultHomeVolumeSize = "10Gi"
)

func addDefaultingFuncs(scheme *runtime.Scheme) error {
	return RegisterDefaults(scheme)
}

// SetDefaults_SessionSpec fills the old backend's defaults. The idle
// timeout is not among them: the server fills it at creation from the
// platform configuration (admission plugin StreamSpacePlatformDefaults),
// DefaultIdleTimeout when that sets none.
func SetDefaults_SessionSpec(obj *SessionSpec) {
	if obj.State == "" {
		obj.State = SessionStateRunning
	}
	if obj.PersistentHome == nil {
		t := true
		obj.PersistentHome = &t
	}
	if obj.MaxSessionDuration == nil {
		obj.MaxSessionDuration = &metav1.Duration{Duration: DefaultMaxSessionDuration}
		if obj.Schedule != nil {
			// A scheduled session lives across many working days; its
			// schedule, not its age, ends each of them.
			obj.MaxSessionDuration.Duration = 0
		}
	}
}

// SetDefaults_TemplateSpec infers the app type and fills endpoint defaults.
func SetDefaults_TemplateSpec(obj *TemplateSpec) {
	if obj.VNC == nil && obj.KasmVNC != nil {
		// The old key: moved here so that every later step sees one field.
		obj.VNC, obj.KasmVNC = obj.KasmVNC, nil
	}
	if obj.AppType == "" {
		obj.AppType = AppTypeDesktop
		if obj.WebApp != nil && obj.WebApp.Enabled {
			obj.AppType = AppTypeWebApp
		}
	}
	if v := obj.VNC; v != nil && v.Enabled {
		if v.Port == 0 {
			v.Port = DefaultVNCPort
		}
		if v.Protocol == "" {
			v.Protocol = DefaultVNCProtocol
		}
	}
	if w := obj.WebApp; w != nil && w.Enabled && w.Path == "" {
		w.Path = DefaultWebAppPath
	}
}

// SetDefaults_TemplatePort defaults the protocol to TCP.
func SetDefaults_TemplatePort(obj *TemplatePort) {
	if obj.Protocol == "" {
		obj.Protocol = corev1.ProtocolTCP
	}
}

// SetDefaults_ConnectionStatus marks a new connection active.
func SetDefaults_ConnectionStatus(obj *ConnectionStatus) {
	if obj.State == "" {
		obj.State = ConnectionStateActive
	}
}

// UsesHome tells whether a session keeps its user's home on a claim
// (spec.persistentHome, true unless set false); the pod mounts it where the
// template mounts user-home.
func UsesHome(s *Session) bool {
	return s.Spec.PersistentHome == nil || *s.Spec.PersistentHome
}

// DefaultPoolMaxAge is how long an unclaimed pool workload waits before it
// is replaced, when the pool says nothing.
const DefaultPoolMaxAge = 24 * time.Hour

// SetDefaults_SessionPoolSpec fills the pool's maxAge.
func SetDefaults_SessionPoolSpec(obj *SessionPoolSpec) {
	if obj.MaxAge == nil {
		obj.MaxAge = &metav1.Duration{Duration: DefaultPoolMaxAge}
	}
}

// SetDefaults_SessionSchedule reads a schedule without a time zone in UTC,
// and says so.
func SetDefaults_SessionSchedule(obj *SessionSchedule) {
	if obj.TimeZone == "" {
		obj.TimeZone = "UTC"
	}
}
