// Package sessionquota enforces SessionQuotas on Sessions, the way
// Kubernetes' ResourceQuota admission enforces ResourceQuotas: on a create,
// on an update that adds to what a session counts for (waking it, raising
// its requests) and on a connect that wakes a hibernated session (only for
// a caller the owner rule lets connect; package ownership), each quota
// matching the session's owner is found among the quotas as of now (a
// create: the informer's copy, guarding the session's write with it, see
// quotas; anything else: a consistent list in process,
// initializer.Storage), read from storage, the change is checked
// against the owner's usage in its status, and the usage is charged with
// an update that carries the quota's resourceVersion as a precondition,
// retried on conflict. Postgres serialises those updates, so two requests
// racing for the last slot, on one replica or on two, cannot both be
// charged. The charge is also recorded as pending under the session's
// name; the sessionquota controller recomputes usage from the stored
// sessions and home claims and drops a pending charge once the session
// shows it, or after a grace period when the change was never stored.
//
// Home storage: a created session with a persistent home whose user has no
// home claim in its namespace (read live from kube-apiserver, by the name
// the session controller gives it) and no other session there that will
// get one is charged the size of the claim the session controller will
// make: the platform configuration's spec.home.volumeSize, else the
// default of the controller's --home-size (10Gi). The controller's flag is
// not visible here; a cluster that changes it should set volumeSize too.
//
// The owner is spec.user. When the owner makes the request, their groups
// are the caller's, exactly as kube-apiserver authenticated them. When
// someone else does (an admin creating a session for them with the assign
// verb, a controller waking it), the owner's groups are the ones
// streamspace-apiserver recorded in their User from their latest request
// (status.groups; docs/identity.md), so group quotas apply to them too.
// The User is read live through the loopback client, and only when a
// quota names groups: the read is as fresh as the storage, where an
// informer would add a lag of its own and hold every User in each
// replica's memory for a path only admins and controllers take. What stays
// inexact
// is the record itself: groups as of the person's latest request,
// which the recorder writes just after it (a change at the identity
// provider counts from the person's next request on), and none for a
// person who never made one, to whom only user and all quotas apply.
package sessionquota

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metainternalversion "k8s.io/apimachinery/pkg/apis/meta/internalversion"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/conversion"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/apiserver/pkg/admission"
	genericadmissioninitializer "k8s.io/apiserver/pkg/admission/initializer"
	"k8s.io/apiserver/pkg/authorization/authorizer"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/retry"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/admission/initializer"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/naming"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/ownership"
	quota "github.com/streamspace/controlplane/pkg/sessionquota"
	"github.com/streamspace/controlplane/pkg/storage/readguard"
)

// PluginName is the name of the admission plugin.
const PluginName = "StreamSpaceSessionQuota"

// Register adds the plugin to the registry.
func Register(plugins *admission.Plugins) {
	plugins.Register(PluginName, func(io.Reader) (admission.Interface, error) {
		return New(), nil
	})
}

// New returns the plugin, without its client.
func New() *Plugin {
	return &Plugin{Handler: admission.NewHandler(admission.Create, admission.Update), now: time.Now}
}

// Plugin charges and enforces SessionQuotas.
type Plugin struct {
	*admission.Handler
	authorizer     authorizer.Authorizer
	client         versioned.Interface
	kube           kubernetes.Interface
	storage        *initializer.Storage
	configurations streamlisters.PlatformConfigurationLister
	quotaLister    streamlisters.SessionQuotaLister
	quotaInformer  cache.SharedIndexInformer
	now            func() time.Time
}

var (
	_ admission.ValidationInterface = &Plugin{}
	_                               = initializer.WantsClient(&Plugin{})
	_                               = initializer.WantsInformers(&Plugin{})
	_                               = initializer.WantsStorage(&Plugin{})
	_                               = genericadmissioninitializer.WantsAuthorizer(&Plugin{})
	_                               = genericadmissioninitializer.WantsExternalKubeClientSet(&Plugin{})
)

// SetExternalKubeClientSet implements
// genericadmissioninitializer.WantsExternalKubeClientSet: home claims are
// read through it.
func (p *Plugin) SetExternalKubeClientSet(kube kubernetes.Interface) { p.kube = kube }

// SetAuthorizer implements genericadmissioninitializer.WantsAuthorizer.
func (p *Plugin) SetAuthorizer(a authorizer.Authorizer) { p.authorizer = a }

// SetClient implements initializer.WantsClient: quotas are charged
// through it.
func (p *Plugin) SetClient(client versioned.Interface) { p.client = client }

// SetStorage implements initializer.WantsStorage: quotas and sessions are
// read from it.
func (p *Plugin) SetStorage(s *initializer.Storage) { p.storage = s }

// SetInformers implements initializer.WantsInformers: the platform
// configuration (the size of a new home claim) is read from its informer,
// and session creates match quotas from the quota informer's copy (quotas).
func (p *Plugin) SetInformers(f externalversions.SharedInformerFactory) {
	configurations := f.Stream().V1alpha1().PlatformConfigurations()
	p.configurations = configurations.Lister()
	quotas := f.Stream().V1alpha1().SessionQuotas()
	p.quotaLister, p.quotaInformer = quotas.Lister(), quotas.Informer()
	p.SetReadyFunc(func() bool {
		return configurations.Informer().HasSynced() && p.quotaInformer.HasSynced() &&
			p.storage.Lister(quotasResource) != nil && p.storage.Lister(sessionsResource) != nil
	})
}

// ValidateInitialization implements admission.InitializationValidator.
func (p *Plugin) ValidateInitialization() error {
	if p.client == nil {
		return fmt.Errorf("%s needs the loopback client of the stream.space API", PluginName)
	}
	if p.configurations == nil {
		return fmt.Errorf("%s needs an informer of the platform configuration", PluginName)
	}
	if p.storage == nil {
		return fmt.Errorf("%s needs the storage of the stream.space API", PluginName)
	}
	if p.authorizer == nil {
		return fmt.Errorf("%s needs an authorizer", PluginName)
	}
	if p.kube == nil {
		return fmt.Errorf("%s needs a client of kube-apiserver to read home claims", PluginName)
	}
	return nil
}

// change is what admission checks: one session of one person, what it
// counted for before and after, and which checks apply.
type change struct {
	person    quota.Person
	namespace string
	key       string
	// generation is the session's metadata.generation after the change.
	generation int64
	old, new   quota.Contribution
	// durations are checked on a create and when an update changes them.
	checkDurations    bool
	idle, maxDuration *metav1.Duration
	// newHome: a create of a session with a persistent home; new.Home is
	// the size of the claim it will get, when it gets one (homeClaimSize).
	newHome bool
}

func (c *change) increases() bool {
	return c.new.Sessions > c.old.Sessions || c.new.Running > c.old.Running ||
		c.new.CPU.Cmp(c.old.CPU) > 0 || c.new.Memory.Cmp(c.old.Memory) > 0 || c.new.Home.Cmp(c.old.Home) > 0
}

// Validate refuses, with 403, a session change that exceeds a quota, and charges it.
func (p *Plugin) Validate(ctx context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != stream.Resource("sessions") {
		return nil
	}
	ch, err := p.changeOf(ctx, a)
	if err != nil || ch == nil {
		return err
	}
	if !ch.checkDurations && !ch.newHome && !ch.increases() {
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request: session quotas are not loaded"))
	}
	all, err := p.quotas(ctx, a)
	if err != nil {
		return err
	}
	// The owner's groups are the caller's when the owner asks; otherwise
	// the ones recorded for them.
	if caller := a.GetUserInfo(); (caller == nil || caller.GetName() != ch.person.User) && namesGroups(all) {
		if ch.person.Groups, err = p.recordedGroups(ctx, ch.person.User); err != nil {
			return err
		}
	}
	var matching []*streamv1alpha1.SessionQuota
	for _, q := range all {
		if quota.Matches(q.Spec.Subjects, ch.person) {
			matching = append(matching, q)
		}
	}
	if ch.newHome && limitsHome(matching) {
		if ch.new.Home, err = p.homeClaimSize(ctx, a.GetNamespace(), ch.person.User); err != nil {
			return err
		}
	}
	for _, q := range matching {
		if ch.checkDurations {
			if err := quota.CheckDurations(q, ch.person.User, ch.idle, ch.maxDuration); err != nil {
				return admission.NewForbidden(a, err)
			}
		}
		if ch.increases() {
			if err := p.charge(ctx, q.Name, ch, a.IsDryRun()); err != nil {
				var exceeded *quota.ExceededError
				if errors.As(err, &exceeded) {
					return admission.NewForbidden(a, err)
				}
				return err
			}
		}
	}
	return nil
}

// changeOf reads the session change a request makes; nil when it makes none
// that quotas count.
func (p *Plugin) changeOf(ctx context.Context, a admission.Attributes) (*change, error) {
	// The owner's groups, when the owner is the caller.
	person := func(owner string) quota.Person {
		pp := quota.Person{User: owner}
		if u := a.GetUserInfo(); u != nil && u.GetName() == owner {
			pp.Groups = u.GetGroups()
		}
		return pp
	}
	switch {
	case a.GetOperation() == admission.Create && a.GetSubresource() == "":
		s, ok := a.GetObject().(*stream.Session)
		if !ok {
			return nil, nil
		}
		return &change{
			person: person(s.Spec.User), namespace: a.GetNamespace(), key: quota.Key(a.GetNamespace(), s.Name), generation: s.Generation,
			new:            quota.Of(string(s.Spec.State), s.Spec.Resources.Requests),
			checkDurations: true, idle: s.Spec.IdleTimeout, maxDuration: s.Spec.MaxSessionDuration,
			newHome: needsHomeClaim(s),
		}, nil
	case a.GetOperation() == admission.Update && a.GetSubresource() == "":
		s, ok1 := a.GetObject().(*stream.Session)
		old, ok2 := a.GetOldObject().(*stream.Session)
		if !ok1 || !ok2 {
			return nil, nil
		}
		ch := &change{
			person: person(old.Spec.User), namespace: a.GetNamespace(), key: quota.Key(a.GetNamespace(), s.Name), generation: s.Generation,
			old:  quota.Of(string(old.Spec.State), old.Spec.Resources.Requests),
			new:  quota.Of(string(s.Spec.State), s.Spec.Resources.Requests),
			idle: s.Spec.IdleTimeout, maxDuration: s.Spec.MaxSessionDuration,
		}
		ch.checkDurations = !durationEqual(s.Spec.IdleTimeout, old.Spec.IdleTimeout) || !durationEqual(s.Spec.MaxSessionDuration, old.Spec.MaxSessionDuration)
		// Turning spec.persistentHome on gives the session a home claim too.
		ch.newHome = needsHomeClaim(s) && !needsHomeClaim(old) && s.Spec.User == old.Spec.User
		return ch, nil
	case a.GetOperation() == admission.Create && a.GetSubresource() == "connect":
		// Connect wakes a hibernated session: read it to know whether it would.
		s, err := p.client.StreamV1alpha1().Sessions(a.GetNamespace()).Get(ctx, a.GetName(), metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			// The connect handler answers a missing session itself.
			return nil, nil
		}
		if err != nil {
			// Not knowing whether the connect wakes the session, it may
			// not pass uncharged.
			return nil, apierrors.NewInternalError(fmt.Errorf("read session %s/%s to charge its wake: %w", a.GetNamespace(), a.GetName(), err))
		}
		if s.Spec.State != streamv1alpha1.SessionStateHibernated || s.DeletionTimestamp != nil {
			return nil, nil
		}
		// Only a caller the owner rule lets connect wakes the session; the
		// connect handler refuses anyone else (it applies the rule before
		// admission too), and their request must not charge the owner. An
		// authorizer that could not answer refuses the connect rather than
		// letting it wake the session uncharged.
		caller := a.GetUserInfo()
		if caller == nil {
			return nil, nil // the connect handler refuses an anonymous caller
		}
		if caller.GetName() != s.Spec.User {
			allowed, _, err := ownership.MayAssign(ctx, p.authorizer, caller, ownership.Object{
				Resource: streamv1alpha1.SchemeGroupVersion.WithResource("sessions"), Namespace: s.Namespace, Name: s.Name, Owner: s.Spec.User,
			})
			switch {
			case !allowed && err != nil:
				return nil, apierrors.NewInternalError(fmt.Errorf("decide whether %q may connect to session %s/%s: %w", caller.GetName(), s.Namespace, s.Name, err))
			case !allowed:
				return nil, nil
			}
		}
		return &change{
			person: person(s.Spec.User), namespace: s.Namespace, key: quota.Key(s.Namespace, s.Name), generation: s.Generation + 1,
			old: quota.OfSession(s),
			new: quota.Of(string(streamv1alpha1.SessionStateRunning), s.Spec.Resources.Requests),
		}, nil
	}
	return nil, nil
}

// limitsHome tells whether a quota limits home storage.
func limitsHome(quotas []*streamv1alpha1.SessionQuota) bool {
	for _, q := range quotas {
		if q.Spec.Limits.HomeStorage != nil {
			return true
		}
	}
	return false
}

// homeClaimSize is the home storage a new session of user in namespace
// adds: the size of the claim the session controller will make for it, or
// zero when the user already has a claim there (by the name the controller
// uses, which takes over any claim of that name) or another stored session
// there that will get one. Both are read live (the claim from
// kube-apiserver, the sessions from storage): an informer of sessions
// could still lack a session the controller has already seen stored, whose
// pending charge it has therefore dropped (charge checks the pending
// charges of sessions not stored yet).
func (p *Plugin) homeClaimSize(ctx context.Context, namespace, user string) (resource.Quantity, error) {
	_, err := p.kube.CoreV1().PersistentVolumeClaims(namespace).Get(ctx, naming.HomeClaimName(user), metav1.GetOptions{})
	if err == nil {
		return resource.Quantity{}, nil
	}
	if !apierrors.IsNotFound(err) {
		return resource.Quantity{}, apierrors.NewInternalError(fmt.Errorf("read the home claim of user %q in namespace %s: %w", user, namespace, err))
	}
	sessions, err := p.storedSessions(ctx, namespace, user)
	if err != nil {
		return resource.Quantity{}, err
	}
	for _, s := range sessions {
		if quota.NeedsHomeClaim(s) {
			return resource.Quantity{}, nil
		}
	}
	return p.newClaimSize()
}

// newClaimSize is the size of a new home claim: the platform
// configuration's spec.home.volumeSize, else the default of the session
// controller's --home-size.
func (p *Plugin) newClaimSize() (resource.Quantity, error) {
	c, err := p.configurations.Get(streamv1alpha1.PlatformConfigurationName)
	if err == nil && c.Spec.Home.VolumeSize != nil {
		return c.Spec.Home.VolumeSize.DeepCopy(), nil
	}
	if err != nil && !apierrors.IsNotFound(err) {
		return resource.Quantity{}, apierrors.NewInternalError(fmt.Errorf("read the platform configuration: %w", err))
	}
	return resource.MustParse(streamv1alpha1.DefaultHomeVolumeSize), nil
}

// pendingHome tells whether a pending charge of another session of user in
// namespace, younger than the grace period, already counts a new home claim
// there: the sessions share it.
func pendingHome(pending []streamv1alpha1.QuotaCharge, user, namespace, key string, now time.Time) bool {
	for _, c := range pending {
		if c.User == user && c.Session != key && !c.HomeStorage.IsZero() && strings.HasPrefix(c.Session, namespace+"/") &&
			now.Sub(c.Time.Time) <= quota.PendingGrace {
			return true
		}
	}
	return false
}

// homeUsage is each person's home storage from the home claims of the
// cluster, read live (quota.HomeUsage).
func (p *Plugin) homeUsage(ctx context.Context, sessions map[string]*streamv1alpha1.Session, live []streamv1alpha1.QuotaCharge) (map[string]resource.Quantity, error) {
	list, err := p.kube.CoreV1().PersistentVolumeClaims(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: quota.HomeClaimSelector.String()})
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("list home claims: %w", err))
	}
	claims := make([]*corev1.PersistentVolumeClaim, 0, len(list.Items))
	for i := range list.Items {
		claims = append(claims, &list.Items[i])
	}
	size, err := p.newClaimSize()
	if err != nil {
		return nil, err
	}
	return quota.HomeUsage(quota.HomeClaims(claims), sessions, live, size), nil
}

// namesGroups tells whether a quota matches people by group.
func namesGroups(quotas []*streamv1alpha1.SessionQuota) bool {
	for _, q := range quotas {
		if len(q.Spec.Subjects.Groups) > 0 {
			return true
		}
	}
	return false
}

// recordedGroups returns the groups recorded in user's User: those of
// their latest request. A person never seen has none.
func (p *Plugin) recordedGroups(ctx context.Context, user string) ([]string, error) {
	u, err := p.client.StreamV1alpha1().Users().Get(ctx, user, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("read the groups of user %q: %w", user, err))
	}
	return u.Status.Groups, nil
}

// needsHomeClaim tells whether the session controller gives a session a
// home claim (as quota.NeedsHomeClaim, on the internal type).
func needsHomeClaim(s *stream.Session) bool {
	return (s.Spec.PersistentHome == nil || *s.Spec.PersistentHome) && s.DeletionTimestamp == nil &&
		s.Spec.State != stream.SessionStateTerminated
}

func durationEqual(a, b *metav1.Duration) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Duration == b.Duration
}

// chargeBackoff retries a charge that lost a race for the quota's
// resourceVersion; many creates at once each need a turn.
var chargeBackoff = wait.Backoff{Steps: 60, Duration: 5 * time.Millisecond, Factor: 1.3, Jitter: 1, Cap: 250 * time.Millisecond}

// charge checks the change against the live quota and records it in the
// quota's status, with the quota's resourceVersion as precondition.
func (p *Plugin) charge(ctx context.Context, name string, ch *change, dryRun bool) error {
	client := p.client.StreamV1alpha1().SessionQuotas()
	attempts := 0
	err := retry.RetryOnConflict(chargeBackoff, func() error {
		attempts++
		q, err := client.Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil // deleted since it was listed: it no longer limits
		}
		if err != nil {
			return err
		}
		var used quota.Contribution
		if i := quota.FindUsage(&q.Status, ch.person.User); i >= 0 {
			used = quota.Usage(q.Status.Usage[i])
		} else {
			// First charge of this person: start from their stored
			// sessions (and home claims, when the quota limits them).
			sessions, err := p.storedSessions(ctx, metav1.NamespaceAll, ch.person.User)
			if err != nil {
				return err
			}
			byKey := quota.Index(sessions)
			live := quota.LivePending(q.Status.Pending, byKey, p.now())
			var home map[string]resource.Quantity
			if q.Spec.Limits.HomeStorage != nil {
				if home, err = p.homeUsage(ctx, byKey, live); err != nil {
					return err
				}
			}
			used = quota.PersonUsage(ch.person.User, byKey, live, home)
		}
		add := ch.new
		if !add.Home.IsZero() && pendingHome(q.Status.Pending, ch.person.User, ch.namespace, ch.key, p.now()) {
			add.Home = resource.Quantity{}
		}
		if err := quota.Check(q, ch.person.User, used, ch.old, add); err != nil {
			return err
		}
		if dryRun {
			return nil
		}
		quota.SetUsage(&q.Status, ch.person.User, used.Sub(ch.old).Add(add))
		quota.Charge(&q.Status, streamv1alpha1.QuotaCharge{
			User: ch.person.User, Session: ch.key, Generation: ch.generation, Running: add.Running > 0,
			CPU: add.CPU, Memory: add.Memory, HomeStorage: add.Home, Time: metav1.NewTime(p.now()),
		})
		_, err = client.UpdateStatus(ctx, q, metav1.UpdateOptions{FieldManager: "streamspace-apiserver-quota"})
		return err
	})
	if err != nil && apierrors.IsConflict(err) {
		return apierrors.NewTooManyRequests(fmt.Sprintf("session quota %s is busy: gave up charging it after %d conflicting updates; try again", name, attempts), 1)
	}
	if err == nil {
		klog.FromContext(ctx).V(4).Info("charged session quota", "quota", name, "user", ch.person.User, "session", ch.key, "attempts", attempts)
	}
	return err
}

var (
	quotasResource   = stream.Resource("sessionquotas")
	sessionsResource = stream.Resource("sessions")
)

// quotas returns every SessionQuota as of now: a quota created a moment
// ago applies to the next request at once, on any replica. A session create
// decides from the informer's copy and guards the session's write with the
// resourceVersion that copy reflects (package readguard): the storage writes
// the session only if no quota was created, deleted or changed in its spec
// since, in the same transaction, and otherwise the create is admitted again
// with a consistent list from storage, which every other change (updates,
// wakes, dry runs, whose writes are not guarded) reads from the start. The
// copy spares the create a database round trip.
func (p *Plugin) quotas(ctx context.Context, a admission.Attributes) ([]*streamv1alpha1.SessionQuota, error) {
	g := readguard.From(ctx)
	if g == nil || g.Consistent || a.GetOperation() != admission.Create || a.GetSubresource() != "" || a.IsDryRun() {
		return p.storedQuotas(ctx)
	}
	seen, ok := storeResourceVersion(p.quotaInformer.GetIndexer())
	if !ok {
		return p.storedQuotas(ctx)
	}
	all, err := p.quotaLister.List(labels.Everything())
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("list session quotas: %w", err))
	}
	g.Set(quotasResource, seen)
	return all, nil
}

// storeResourceVersion is the resourceVersion an informer's store reflects
// at least: read before the store is listed, the list then holds every
// change up to it (a later change only makes the guard stricter). It is the
// store's own (cache.Store.LastStoreSyncResourceVersion, set under the lock
// of the write that made it true), not the informer's
// LastSyncResourceVersion: that one is the reflector's, which moves when
// an event enters the informer's queue, before the store has it, so a copy
// read under it can miss a change it claims to reflect. ok is false when the
// store does not track it (client-go's AtomicFIFO feature off) or has not
// synced.
func storeResourceVersion(store cache.Store) (rv int64, ok bool) {
	rv, err := strconv.ParseInt(store.LastStoreSyncResourceVersion(), 10, 64)
	return rv, err == nil && rv > 0
}

// storedQuotas lists every SessionQuota from storage, consistently.
func (p *Plugin) storedQuotas(ctx context.Context) ([]*streamv1alpha1.SessionQuota, error) {
	obj, err := p.storage.Lister(quotasResource).List(ctx, &metainternalversion.ListOptions{})
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("list session quotas: %w", err))
	}
	list, ok := obj.(*stream.SessionQuotaList)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("list session quotas: got %T", obj))
	}
	return external(list.Items, streamv1alpha1.Convert_stream_SessionQuota_To_v1alpha1_SessionQuota)
}

// storedSessions lists user's sessions in namespace (every namespace for
// metav1.NamespaceAll) from storage: a consistent list, through the
// watch cache's index of spec.user.
func (p *Plugin) storedSessions(ctx context.Context, namespace, user string) ([]*streamv1alpha1.Session, error) {
	obj, err := p.storage.Lister(sessionsResource).List(genericapirequest.WithNamespace(ctx, namespace), &metainternalversion.ListOptions{
		FieldSelector: fields.OneTermEqualSelector("spec.user", user),
	})
	if err != nil {
		return nil, apierrors.NewInternalError(fmt.Errorf("list the sessions of user %q: %w", user, err))
	}
	list, ok := obj.(*stream.SessionList)
	if !ok {
		return nil, apierrors.NewInternalError(fmt.Errorf("list sessions: got %T", obj))
	}
	return external(list.Items, streamv1alpha1.Convert_stream_Session_To_v1alpha1_Session)
}

// external converts stored (internal) objects to the v1alpha1 types the
// quota rules are written for.
func external[In, Out any](items []In, convert func(*In, *Out, conversion.Scope) error) ([]*Out, error) {
	out := make([]*Out, len(items))
	for i := range items {
		out[i] = new(Out)
		if err := convert(&items[i], out[i], nil); err != nil {
			return nil, apierrors.NewInternalError(fmt.Errorf("convert a stored %T: %w", &items[i], err))
		}
	}
	return out, nil
}
