package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	rbacv1 "k8s.io/api/rbac/v1"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
)

// TestKubernetesControllersUseOurAPI: kube-controller-manager's namespace
// controller, garbage collector and resource quota controller work with our
// groups as with built-in ones (they talk protobuf, discover every group and
// list, watch and delete through it).
func TestKubernetesControllersUseOurAPI(t *testing.T) {
	ss, kube := clients(t, "admin")

	t.Run("namespace deletion", func(t *testing.T) {
		ns := newNamespace(t, kube, "nsdel")
		mustKubectl(t, "admin", "", "-n", ns, "apply", "-f", "../../artifacts/samples/templates.yaml")
		createSession(t, ss, ns, "desk", "firefox")
		connect(t, ss, ns, "desk")
		waitDeployment(t, kube, ns, "desk")
		empty := newNamespace(t, kube, "nsdel-empty")

		for _, name := range []string{ns, empty} {
			if err := kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{}); err != nil {
				t.Fatalf("delete namespace %s: %v", name, err)
			}
		}
		began := time.Now()
		for _, name := range []string{ns, empty} {
			waitNamespaceGone(t, kube, name)
		}
		t.Logf("namespaces with and without our objects deleted in %s", time.Since(began).Round(time.Millisecond))
		// The database holds nothing of the namespace any more.
		if got := mustKubectl(t, "admin", "", "get", "sessions,templates,connections", "-n", ns, "-o", "name"); strings.TrimSpace(got) != "" {
			t.Errorf("left behind in deleted namespace %s: %s", ns, got)
		}
	})

	t.Run("garbage collector, background", func(t *testing.T) {
		ns := newNamespace(t, kube, "gc")
		mustKubectl(t, "admin", "", "-n", ns, "apply", "-f", "../../artifacts/samples/templates.yaml")
		s := createSession(t, ss, ns, "desk", "firefox")
		conn := connect(t, ss, ns, "desk")
		waitDeployment(t, kube, ns, "desk")
		cm := ownedConfigMap(t, kube, s, "desk-notes", false, nil)

		background := metav1.DeletePropagationBackground
		if err := ss.StreamV1alpha1().Sessions(ns).Delete(context.Background(), "desk", metav1.DeleteOptions{PropagationPolicy: &background}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, "the session's dependents deleted by the garbage collector", func() (bool, error) {
			left := []string{}
			if _, err := kube.AppsV1().Deployments(ns).Get(context.Background(), "desk", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				left = append(left, "deployment")
			}
			if _, err := kube.CoreV1().Services(ns).Get(context.Background(), "desk", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				left = append(left, "service")
			}
			if _, err := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), cm.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				left = append(left, "configmap")
			}
			if _, err := ss.StreamV1alpha1().Connections(ns).Get(context.Background(), conn, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				left = append(left, "connection")
			}
			if len(left) > 0 {
				return false, fmt.Errorf("still there: %v", left)
			}
			return true, nil
		})
	})

	t.Run("garbage collector, foreground", func(t *testing.T) {
		ns := newNamespace(t, kube, "gcfg")
		mustKubectl(t, "admin", "", "-n", ns, "apply", "-f", "../../artifacts/samples/templates.yaml")
		s := createSession(t, ss, ns, "desk", "firefox")
		waitDeployment(t, kube, ns, "desk")
		// A dependent that blocks its owner's deletion and is itself held
		// by a finalizer: the session must wait for it.
		cm := ownedConfigMap(t, kube, s, "desk-held", true, []string{"e2e.stream.space/hold"})

		mustKubectl(t, "admin", "", "-n", ns, "delete", "session", "desk", "--cascade=foreground", "--wait=false")
		eventually(t, time.Minute, "the session waiting in foreground deletion", func() (bool, error) {
			got, err := ss.StreamV1alpha1().Sessions(ns).Get(context.Background(), "desk", metav1.GetOptions{})
			if err != nil {
				return false, err
			}
			held, _ := kube.CoreV1().ConfigMaps(ns).Get(context.Background(), cm.Name, metav1.GetOptions{})
			return got.DeletionTimestamp != nil && hasString(got.Finalizers, metav1.FinalizerDeleteDependents) &&
				held != nil && held.DeletionTimestamp != nil, nil
		})
		// Its unblocked children go first.
		eventually(t, time.Minute, "the session's deployment deleted first", func() (bool, error) {
			_, err := kube.AppsV1().Deployments(ns).Get(context.Background(), "desk", metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
		if _, err := ss.StreamV1alpha1().Sessions(ns).Get(context.Background(), "desk", metav1.GetOptions{}); err != nil {
			t.Fatalf("the session went before its blocking dependent: %v", err)
		}
		patch := []byte(`{"metadata":{"finalizers":null}}`)
		if _, err := kube.CoreV1().ConfigMaps(ns).Patch(context.Background(), cm.Name, "application/merge-patch+json", patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, 2*time.Minute, "the session deleted once its dependents are", func() (bool, error) {
			_, err := ss.StreamV1alpha1().Sessions(ns).Get(context.Background(), "desk", metav1.GetOptions{})
			return apierrors.IsNotFound(err), err
		})
	})

	t.Run("resource quota", func(t *testing.T) {
		ns := newNamespace(t, kube, "quota")
		mustKubectl(t, "admin", "", "-n", ns, "apply", "-f", "../../artifacts/samples/templates.yaml")
		const counted = "count/sessions.stream.space"
		q := &corev1.ResourceQuota{
			ObjectMeta: metav1.ObjectMeta{Name: "sessions"},
			Spec:       corev1.ResourceQuotaSpec{Hard: corev1.ResourceList{counted: resource.MustParse("2")}},
		}
		if _, err := kube.CoreV1().ResourceQuotas(ns).Create(context.Background(), q, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// kube-controller-manager computes the first usage.
		waitQuotaUsed(t, kube, ns, counted, 0)
		createSession(t, ss, ns, "one", "firefox")
		createSession(t, ss, ns, "two", "firefox")
		_, err := ss.StreamV1alpha1().Sessions(ns).Create(context.Background(), sessionObject("three", "firefox"), metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "exceeded quota") {
			t.Fatalf("third session with a quota of 2: %v, want 403 exceeded quota", err)
		}
		waitQuotaUsed(t, kube, ns, counted, 2)
		if err := ss.StreamV1alpha1().Sessions(ns).Delete(context.Background(), "one", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		// The quota monitor sees the deletion through its watch and frees the slot.
		waitQuotaUsed(t, kube, ns, counted, 1)
		createSession(t, ss, ns, "three", "firefox")
	})

	t.Run("deletecollection", func(t *testing.T) {
		ns := newNamespace(t, kube, "delcol")
		mustKubectl(t, "admin", "", "-n", ns, "apply", "-f", "../../artifacts/samples/templates.yaml")
		for _, name := range []string{"a", "b", "c"} {
			createSession(t, ss, ns, name, "firefox")
		}
		connect(t, ss, ns, "a")
		mustKubectl(t, "admin", "", "-n", ns, "delete", "sessions", "--all")
		mustKubectl(t, "admin", "", "-n", ns, "delete", "connections,templates", "--all")
		eventually(t, time.Minute, "every object of the namespace deleted", func() (bool, error) {
			got, err := kubectl(t, "admin", "", "get", "sessions,templates,connections", "-n", ns, "-o", "name")
			return err == nil && strings.TrimSpace(got) == "", fmt.Errorf("left: %s (%v)", got, err)
		})
	})

	t.Run("kube-controller-manager log", func(t *testing.T) {
		// Errors about our groups other than their being unavailable (a
		// 503, or discovery marking them stale, while a test restarts
		// streamspace-apiserver) mean one of its controllers cannot work
		// with us.
		f, err := os.Open(stack.LogFile("kube-controller-manager"))
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		scanner := bufio.NewScanner(f)
		scanner.Buffer(make([]byte, 1<<20), 1<<20)
		var bad []string
		for scanner.Scan() {
			line := scanner.Text()
			if strings.HasPrefix(line, "E") && aboutOurGroups.MatchString(line) &&
				!strings.Contains(line, "the server is currently unable to handle the request") &&
				!strings.Contains(line, "stale GroupVersion discovery") {
				bad = append(bad, line)
			}
		}
		if len(bad) > 0 {
			t.Errorf("kube-controller-manager logged %d errors about our groups, e.g.\n%s", len(bad), strings.Join(bad[:min(len(bad), 5)], "\n"))
		}
	})
}

// aboutOurGroups matches log lines that name our groups or kinds.
var aboutOurGroups = regexp.MustCompile(`stream\.space|v1alpha1\.(Session|Template|Connection|TemplateRepository|CatalogTemplate)(List)?\b`)

func newNamespace(t *testing.T, kube kubernetes.Interface, prefix string) string {
	t.Helper()
	name := uniqueName(prefix)
	if _, err := kube.CoreV1().Namespaces().Create(context.Background(), sessionsNamespace(name), metav1.CreateOptions{}); err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	t.Cleanup(func() {
		err := kube.CoreV1().Namespaces().Delete(context.Background(), name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			t.Errorf("delete namespace %s: %v", name, err)
		}
	})
	return name
}

// sessionsNamespace is a namespace where streamspace-controller may create
// session workloads (artifacts/rbac/policy-controller-namespaces.yaml).
func sessionsNamespace(name string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{
		stream.SessionsNamespaceLabel: stream.SessionsNamespaceEnabled,
	}}}
}

// createSessionsNamespace creates a namespace enabled for sessions with
// kubectl and deletes it when the test ends.
func createSessionsNamespace(t *testing.T, namespace string) {
	t.Helper()
	mustKubectl(t, "admin", "", "create", "namespace", namespace)
	t.Cleanup(func() { _, _ = kubectl(t, "admin", "", "delete", "namespace", namespace, "--wait=false") })
	mustKubectl(t, "admin", "", "label", "namespace", namespace, stream.SessionsNamespaceLabel+"="+stream.SessionsNamespaceEnabled)
}

// createSharedNamespace makes a sessions namespace that several people
// share, as the old backend kept everyone's sessions in one: each of users
// is bound to streamspace-user there, and the sample templates are in it.
func createSharedNamespace(t *testing.T, namespace string, users ...string) {
	t.Helper()
	createSessionsNamespace(t, namespace)
	binding := &rbacv1.RoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: "streamspace-users"},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "streamspace-user"},
	}
	for _, u := range users {
		binding.Subjects = append(binding.Subjects, rbacv1.Subject{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: u})
	}
	_, adminKube := clients(t, "admin")
	if _, err := adminKube.RbacV1().RoleBindings(namespace).Create(context.Background(), binding, metav1.CreateOptions{}); err != nil {
		t.Fatalf("bind streamspace-user to %v in %s: %v", users, namespace, err)
	}
	mustKubectl(t, "admin", "", "-n", namespace, "apply", "-f", "../../artifacts/samples/templates.yaml")
}

func sessionObject(name, template string) *streamv1alpha1.Session {
	return &streamv1alpha1.Session{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       streamv1alpha1.SessionSpec{Template: template},
	}
}

func createSession(t *testing.T, ss clientset.Interface, ns, name, template string) *streamv1alpha1.Session {
	t.Helper()
	s, err := ss.StreamV1alpha1().Sessions(ns).Create(context.Background(), sessionObject(name, template), metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create session %s/%s: %v", ns, name, err)
	}
	return s
}

// connect attaches a viewer to a session and returns the Connection's name.
func connect(t *testing.T, ss clientset.Interface, ns, session string) string {
	t.Helper()
	var resp struct {
		ConnectionID string `json:"connectionId"`
	}
	data, err := ss.StreamV1alpha1().RESTClient().Post().Namespace(ns).Resource("sessions").Name(session).SubResource("connect").
		Body([]byte("{}")).SetHeader("Content-Type", "application/json").DoRaw(context.Background())
	if err != nil {
		t.Fatalf("connect to %s/%s: %v", ns, session, err)
	}
	mustDecode(t, string(data), &resp)
	if resp.ConnectionID == "" {
		t.Fatalf("connect to %s/%s: no connectionId in %s", ns, session, data)
	}
	return resp.ConnectionID
}

func waitDeployment(t *testing.T, kube kubernetes.Interface, ns, name string) {
	t.Helper()
	eventually(t, time.Minute, "deployment "+ns+"/"+name, func() (bool, error) {
		_, err := kube.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		return err == nil, err
	})
}

// ownedConfigMap creates a ConfigMap that a Session owns.
func ownedConfigMap(t *testing.T, kube kubernetes.Interface, s *streamv1alpha1.Session, name string, block bool, finalizers []string) *corev1.ConfigMap {
	t.Helper()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{
		Name:       name,
		Finalizers: finalizers,
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: streamv1alpha1.SchemeGroupVersion.String(), Kind: "Session",
			Name: s.Name, UID: s.UID, BlockOwnerDeletion: &block,
		}},
	}}
	created, err := kube.CoreV1().ConfigMaps(s.Namespace).Create(context.Background(), cm, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create configmap owned by session %s: %v", s.Name, err)
	}
	return created
}

func waitNamespaceGone(t *testing.T, kube kubernetes.Interface, name string) {
	t.Helper()
	eventually(t, time.Minute, "namespace "+name+" deleted", func() (bool, error) {
		ns, err := kube.CoreV1().Namespaces().Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return true, nil
		}
		if err != nil {
			return false, err
		}
		for _, c := range ns.Status.Conditions {
			if c.Status == corev1.ConditionTrue && (c.Type == corev1.NamespaceDeletionContentFailure || c.Type == corev1.NamespaceDeletionDiscoveryFailure) {
				return false, fmt.Errorf("%s: %s", c.Type, c.Message)
			}
		}
		return false, fmt.Errorf("phase %s", ns.Status.Phase)
	})
}

func waitQuotaUsed(t *testing.T, kube kubernetes.Interface, ns string, name corev1.ResourceName, want int64) {
	t.Helper()
	eventually(t, time.Minute, "quota usage of "+string(name), func() (bool, error) {
		q, err := kube.CoreV1().ResourceQuotas(ns).Get(context.Background(), "sessions", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		used, ok := q.Status.Used[name]
		return ok && used.Value() == want, fmt.Errorf("used %v, want %d", q.Status.Used, want)
	})
}

func hasString(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}
