package sessionworkload

import (
	"strings"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
)

func authTestSession() (*streamv1alpha1.Session, *streamv1alpha1.Template) {
	tpl := &streamv1alpha1.Template{Spec: streamv1alpha1.TemplateSpec{
		BaseImage: "lscr.io/linuxserver/firefox:latest",
		KasmVNC:   &streamv1alpha1.VNCConfig{Enabled: true},
	}}
	s := &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: "desk", Namespace: "team"},
		Spec:       streamv1alpha1.SessionSpec{User: "alice", Template: "firefox", State: streamv1alpha1.SessionStateRunning},
	}
	return s, tpl
}

func TestIngressForwardAuthAnnotations(t *testing.T) {
	s, tpl := authTestSession()
	opts := Options{
		IngressDomain:    "sessions.example.org",
		SessionAuth:      SessionAuthForward,
		SessionAuthURL:   "http://streamspace-bridge.streamspace-system.svc:8080/auth/sessions/",
		SessionSigninURL: "https://streamspace.example.org/auth/login",
	}
	ing := desiredIngress(s, tpl, opts)
	want := map[string]string{
		AuthURLAnnotation:             "http://streamspace-bridge.streamspace-system.svc:8080/auth/sessions/team/desk",
		AuthSigninAnnotation:          "https://streamspace.example.org/auth/login?rd=$scheme://$host$escaped_request_uri",
		AuthResponseHeadersAnnotation: "X-Streamspace-User",
		AuthMethodAnnotation:          "GET",
		stream.SessionNameAnnotation:  "desk",
	}
	for k, v := range want {
		if got := ing.Annotations[k]; got != v {
			t.Errorf("annotation %s = %q, want %q", k, got, v)
		}
	}
	if got := ing.Spec.Rules[0].Host; got != "desk-team.sessions.example.org" {
		t.Errorf("host %q", got)
	}

	// Without a sign-in page a browser gets the 401 itself.
	noSignin := opts
	noSignin.SessionSigninURL = ""
	if a := desiredIngress(s, tpl, noSignin).Annotations; a[AuthSigninAnnotation] != "" || a[AuthURLAnnotation] == "" {
		t.Errorf("without a sign-in URL: %v", a)
	}

	// Turning forward-auth off removes every auth annotation, and every
	// change of the flags changes the hash, so existing Ingresses are
	// updated (ensureIngress compares hashes).
	off := opts
	off.SessionAuth, off.SessionAuthURL, off.SessionSigninURL = SessionAuthNone, "", ""
	plain := desiredIngress(s, tpl, off)
	for k := range plain.Annotations {
		if strings.HasPrefix(k, "nginx.ingress.kubernetes.io/") {
			t.Errorf("--session-auth=none still sets %s", k)
		}
	}
	otherURL := opts
	otherURL.SessionAuthURL = "http://bridge.other.svc:8080/auth/sessions"
	hashes := map[string]string{}
	for name, o := range map[string]Options{"forward": opts, "no sign-in": noSignin, "none": off, "other URL": otherURL} {
		h := desiredIngress(s, tpl, o).Annotations[stream.SpecHashAnnotation]
		if prev, dup := hashes[h]; dup {
			t.Errorf("%s and %s have the same spec hash", name, prev)
		}
		hashes[h] = name
	}
	if desiredIngress(s, tpl, opts).Annotations[stream.SpecHashAnnotation] != ing.Annotations[stream.SpecHashAnnotation] {
		t.Error("the same options give different hashes")
	}
}

func TestValidateSessionAuth(t *testing.T) {
	const authURL = "http://bridge.streamspace-system.svc:8080/auth/sessions"
	for _, tc := range []struct {
		name    string
		opts    Options
		wantErr string
	}{
		{name: "no ingress, no auth", opts: Options{SessionAuth: SessionAuthForward}},
		{name: "ingress with auth", opts: Options{IngressDomain: "s.example.org", SessionAuth: SessionAuthForward, SessionAuthURL: authURL, SessionSigninURL: "https://ss.example.org/auth/login"}},
		{name: "ingress, deliberately open", opts: Options{IngressDomain: "s.example.org", SessionAuth: SessionAuthNone}},
		{name: "ingress without auth URL", opts: Options{IngressDomain: "s.example.org", SessionAuth: SessionAuthForward}, wantErr: "--session-auth=none"},
		{name: "none with a URL", opts: Options{SessionAuth: SessionAuthNone, SessionAuthURL: authURL}, wantErr: "drop --session-auth-url"},
		{name: "unknown mode", opts: Options{SessionAuth: "basic"}, wantErr: `--session-auth "basic"`},
		{name: "sign-in without auth", opts: Options{SessionAuth: SessionAuthForward, SessionSigninURL: "https://ss.example.org/auth/login"}, wantErr: "needs --session-auth-url"},
		{name: "relative URL", opts: Options{SessionAuth: SessionAuthForward, SessionAuthURL: "/auth/sessions"}, wantErr: "http or https"},
		{name: "query in URL", opts: Options{SessionAuth: SessionAuthForward, SessionAuthURL: authURL + "?x=1"}, wantErr: "no query"},
		{name: "nginx variable in URL", opts: Options{SessionAuth: SessionAuthForward, SessionAuthURL: "http://bridge/$host"}, wantErr: "must not contain $"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.opts.HomeSize = "1Gi"
			err := tc.opts.Validate()
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("refused: %v", err)
			case tc.wantErr != "" && err == nil:
				t.Errorf("accepted, want an error saying %q", tc.wantErr)
			case tc.wantErr != "" && !strings.Contains(err.Error(), tc.wantErr):
				t.Errorf("error %q does not say %q", err, tc.wantErr)
			}
		})
	}
}
