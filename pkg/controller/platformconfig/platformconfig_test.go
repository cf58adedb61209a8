package platformconfig

import (
	"context"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/tools/cache"

	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned/fake"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
)

func TestNilSourceIsTheFlags(t *testing.T) {
	var s *Source
	if s.DefaultIdleTimeout(7*time.Minute) != 7*time.Minute || !s.AutoHibernation() || s.StaleConnectionTimeout(time.Minute) != time.Minute ||
		s.SyncInterval(time.Hour) != time.Hour || s.DefaultResources() != nil {
		t.Error("a nil source does not answer the flags")
	}
	if d, c := s.Ingress("flag.example.org", "nginx"); d != "flag.example.org" || c != "nginx" {
		t.Errorf("a nil source's ingress = %q %q", d, c)
	}
}

// The configuration's fields win over the flags; what it leaves unset is the flag's.
func TestConfigurationOverFlags(t *testing.T) {
	off := false
	size := resource.MustParse("20Gi")
	client := fake.NewSimpleClientset(&streamv1alpha1.PlatformConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: streamv1alpha1.PlatformConfigurationName},
		Spec: streamv1alpha1.PlatformConfigurationSpec{
			Ingress:  streamv1alpha1.IngressConfiguration{Domain: "sessions.example.org"},
			Sessions: streamv1alpha1.SessionConfiguration{DefaultIdleTimeout: &metav1.Duration{Duration: 5 * time.Minute}, AutoHibernation: &off},
			Home:     streamv1alpha1.HomeConfiguration{VolumeSize: &size},
		},
	})
	factory := streaminformers.NewSharedInformerFactory(client, 0)
	s := New(factory)
	changed := make(chan struct{}, 10)
	if err := s.OnChange(func() { changed <- struct{}{} }); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.HasSynced) {
		t.Fatal("the configuration did not sync")
	}
	select {
	case <-changed:
	case <-time.After(10 * time.Second):
		t.Error("no change was signalled for the configuration's arrival")
	}
	if s.DefaultIdleTimeout(30*time.Minute) != 5*time.Minute || s.AutoHibernation() {
		t.Error("the configuration's session settings do not win over the flags")
	}
	if s.StaleConnectionTimeout(time.Minute) != time.Minute || s.SyncInterval(time.Hour) != time.Hour {
		t.Error("settings the configuration leaves unset are not the flags'")
	}
	if d, c := s.Ingress("flag.example.org", "nginx"); d != "sessions.example.org" || c != "nginx" {
		t.Errorf("ingress = %q %q, want the configuration's domain and the flag's class", d, c)
	}
	if got, class := s.Home(resource.MustParse("10Gi"), "fast"); got.Cmp(size) != 0 || class != "fast" {
		t.Errorf("home = %s %q, want 20Gi and the flag's class", got.String(), class)
	}
}

// A change of the configuration enqueues every object of the lister.
func TestRequeueOnChange(t *testing.T) {
	client := fake.NewSimpleClientset(
		&streamv1alpha1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: "alice", Name: "desk"}},
		&streamv1alpha1.Session{ObjectMeta: metav1.ObjectMeta{Namespace: "bob", Name: "desk"}},
	)
	factory := streaminformers.NewSharedInformerFactory(client, 0)
	s := New(factory)
	sessions := factory.Stream().V1alpha1().Sessions()
	var mu sync.Mutex
	enqueued := sets.New[string]()
	if err := RequeueOnChange(s, sessions.Lister().List, func(sess *streamv1alpha1.Session) {
		mu.Lock()
		defer mu.Unlock()
		enqueued.Insert(sess.Namespace + "/" + sess.Name)
	}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), s.HasSynced, sessions.Informer().HasSynced) {
		t.Fatal("the informers did not sync")
	}
	mu.Lock()
	if enqueued.Len() != 0 {
		t.Errorf("enqueued %v before any configuration existed", sets.List(enqueued))
	}
	mu.Unlock()

	if _, err := client.StreamV1alpha1().PlatformConfigurations().Create(ctx, &streamv1alpha1.PlatformConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: streamv1alpha1.PlatformConfigurationName},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	want := sets.New("alice/desk", "bob/desk")
	err := wait.PollUntilContextTimeout(ctx, 10*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return enqueued.Equal(want), nil
	})
	if err != nil {
		mu.Lock()
		defer mu.Unlock()
		t.Errorf("after the configuration was created: enqueued %v, want %v", sets.List(enqueued), sets.List(want))
	}
}
