// Package sessionshare is the controller that carries out SessionShares.
//
// For each share it keeps a Role and a RoleBinding in the share's namespace
// (named sessionshare-<share>, owned by the share, so the garbage collector
// removes them with it) that let the person or group shared with read the
// one session (get, and list and watch with a metadata.name field
// selector) and the share itself (get), connect to the session, and send
// heartbeats for and delete their own connections (the owner rule keeps
// them off everyone else's). The apiserver
// decides the role of each connection when it is opened; this controller
// closes (deletes) the connections opened through a share that is gone,
// expired or whose role changed, and deletes a share at its expiry.
package sessionshare

import (
	"context"
	"fmt"

	rbacv1 "k8s.io/api/rbac/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	rbaclisters "k8s.io/client-go/listers/rbac/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
	"k8s.io/utils/ptr"

	"github.com/streamspace/controlplane/pkg/apis/stream"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/connectionindex"
	"github.com/streamspace/controlplane/pkg/controller/manager"
	"github.com/streamspace/controlplane/pkg/controller/worker"
	clientset "github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	streaminformers "github.com/streamspace/controlplane/pkg/generated/informers/externalversions/stream/v1alpha1"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
)

// Name is the controller's name in --controllers.
const Name = "sessionshare"

const fieldManager = "sessionshare-controller"

// Registration registers the controller; it has no flags.
func Registration() manager.Registration {
	return manager.Registration{Name: Name, New: func(c manager.Context) (manager.Controller, error) { return New(c) }}
}

// Controller carries out SessionShares.
type Controller struct {
	kube         kubernetes.Interface
	stream       clientset.Interface
	shares       streamlisters.SessionShareLister
	connections  streaminformers.ConnectionInformer
	roles        rbaclisters.RoleLister
	roleBindings rbaclisters.RoleBindingLister
	synced       []cache.InformerSynced
	queue        workqueue.TypedRateLimitingInterface[string]
	clock        clock.Clock
}

// New builds the controller.
func New(c manager.Context) (*Controller, error) {
	shares := c.StreamInformers.Stream().V1alpha1().SessionShares()
	connections := c.StreamInformers.Stream().V1alpha1().Connections()
	roles := c.ManagedKubeInformers.Rbac().V1().Roles()
	bindings := c.ManagedKubeInformers.Rbac().V1().RoleBindings()
	ctrl := &Controller{
		kube: c.KubeClient, stream: c.StreamClient,
		shares: shares.Lister(), connections: connections, roles: roles.Lister(), roleBindings: bindings.Lister(),
		synced: []cache.InformerSynced{shares.Informer().HasSynced, connections.Informer().HasSynced,
			roles.Informer().HasSynced, bindings.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: Name, Clock: c.Clock}),
		clock: c.Clock,
	}
	if err := connectionindex.IndexByShare(connections); err != nil {
		return nil, err
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			ctrl.queue.Add(key)
		}
	}
	if _, err := shares.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }, DeleteFunc: enqueue,
	}); err != nil {
		return nil, fmt.Errorf("watch session shares: %w", err)
	}
	// A connection opened through a share is checked against the share,
	// which may have been deleted while this controller was not running.
	byShare := func(obj any) {
		if conn, ok := obj.(*streamv1alpha1.Connection); ok && conn.Spec.Share != "" {
			ctrl.queue.Add(conn.Namespace + "/" + conn.Spec.Share)
		}
	}
	if _, err := connections.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: byShare}); err != nil {
		return nil, fmt.Errorf("watch connections: %w", err)
	}
	// The Role and RoleBinding are put back when someone changes them.
	owner := func(obj any) {
		if m, err := meta.Accessor(obj); err == nil && m.GetLabels()[stream.ShareLabel] != "" {
			ctrl.queue.Add(m.GetNamespace() + "/" + m.GetLabels()[stream.ShareLabel])
		}
	}
	for _, inf := range []cache.SharedIndexInformer{roles.Informer(), bindings.Informer()} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			UpdateFunc: func(_, obj any) { owner(obj) }, DeleteFunc: func(obj any) {
				if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
					obj = d.Obj
				}
				owner(obj)
			},
		}); err != nil {
			return nil, fmt.Errorf("watch share roles: %w", err)
		}
	}
	return ctrl, nil
}

// Run implements manager.Controller.
func (c *Controller) Run(ctx context.Context, workers int) error {
	return worker.Run(ctx, Name, c.synced, worker.Queue{Queue: c.queue, Workers: workers, What: "carry out session share", Sync: c.sync})
}

func (c *Controller) sync(ctx context.Context, key string) error {
	namespace, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	share, err := c.shares.SessionShares(namespace).Get(name)
	if apierrors.IsNotFound(err) || (err == nil && share.DeletionTimestamp != nil) {
		return c.revoke(ctx, namespace, name)
	}
	if err != nil {
		return err
	}
	if exp := share.Spec.ExpiresAt; exp != nil {
		if left := exp.Sub(c.clock.Now()); left > 0 {
			c.queue.AddAfter(key, left)
		} else {
			err := c.stream.StreamV1alpha1().SessionShares(namespace).Delete(ctx, name, metav1.DeleteOptions{
				Preconditions: &metav1.Preconditions{UID: &share.UID},
			})
			if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
				return fmt.Errorf("delete expired share %s: %w", key, err)
			}
			klog.FromContext(ctx).Info("session share expired", "share", klog.KObj(share), "session", share.Spec.Session)
			return c.revoke(ctx, namespace, name)
		}
	}
	if err := c.ensureRBAC(ctx, share); err != nil {
		return c.setGranted(ctx, share, metav1.ConditionFalse, "RBACFailed", err.Error(), err)
	}
	// A connection keeps the role it was opened with: one opened before the
	// role changed is closed, and the viewer reconnects with the new role.
	if err := c.closeConnections(ctx, namespace, name, streamv1alpha1.ConnectionRole(share.Spec.Role)); err != nil {
		return err
	}
	return c.setGranted(ctx, share, metav1.ConditionTrue, "RBACInPlace",
		fmt.Sprintf("%s may read session %s and connect to it as %s", sharedWith(share), share.Spec.Session, share.Spec.Role), nil)
}

// revoke withdraws a share that is gone: its RoleBinding and Role (the
// garbage collector would delete them too, through their owner reference,
// but only after its own discovery and graph have caught up; access is
// withdrawn here at once), and its connections.
func (c *Controller) revoke(ctx context.Context, namespace, share string) error {
	name := RoleName(share)
	if b, err := c.roleBindings.RoleBindings(namespace).Get(name); err == nil && b.Labels[stream.ShareLabel] == share {
		if err := c.kube.RbacV1().RoleBindings(namespace).Delete(ctx, name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &b.UID},
		}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete role binding %s/%s of revoked share: %w", namespace, name, err)
		}
	}
	if r, err := c.roles.Roles(namespace).Get(name); err == nil && r.Labels[stream.ShareLabel] == share {
		if err := c.kube.RbacV1().Roles(namespace).Delete(ctx, name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &r.UID},
		}); err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("delete role %s/%s of revoked share: %w", namespace, name, err)
		}
	}
	return c.closeConnections(ctx, namespace, share, "")
}

// closeConnections deletes the connections opened through the share, all
// of them, or (keep set) those whose role is not keep.
func (c *Controller) closeConnections(ctx context.Context, namespace, share string, keep streamv1alpha1.ConnectionRole) error {
	conns, err := connectionindex.OfShare(c.connections, namespace, share)
	if err != nil {
		return err
	}
	for _, conn := range conns {
		if keep != "" && conn.Spec.Role == keep {
			continue
		}
		err := c.stream.StreamV1alpha1().Connections(namespace).Delete(ctx, conn.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &conn.UID},
		})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			return fmt.Errorf("close connection %s/%s of share %s: %w", namespace, conn.Name, share, err)
		}
		klog.FromContext(ctx).Info("closed a connection of a revoked or changed share",
			"connection", klog.KObj(conn), "share", share, "user", conn.Spec.User, "role", conn.Spec.Role)
	}
	return nil
}

// RoleName is the name of the Role and RoleBinding of a share.
func RoleName(share string) string { return "sessionshare-" + share }

func (c *Controller) ensureRBAC(ctx context.Context, share *streamv1alpha1.SessionShare) error {
	objectMeta := metav1.ObjectMeta{
		Name:      RoleName(share.Name),
		Namespace: share.Namespace,
		Labels:    map[string]string{manager.ManagedByLabel: manager.ManagedByValue, stream.ShareLabel: share.Name},
		OwnerReferences: []metav1.OwnerReference{{
			APIVersion: streamv1alpha1.SchemeGroupVersion.String(), Kind: "SessionShare",
			Name: share.Name, UID: share.UID, Controller: ptr.To(true),
		}},
	}
	role := &rbacv1.Role{ObjectMeta: objectMeta, Rules: Rules(share.Name, share.Spec.Session)}
	current, err := c.roles.Roles(share.Namespace).Get(role.Name)
	switch {
	case apierrors.IsNotFound(err):
		if _, err := c.kube.RbacV1().Roles(share.Namespace).Create(ctx, role, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create role %s: %w", role.Name, err)
		}
	case err != nil:
		return err
	case !apiequality.Semantic.DeepEqual(current.Rules, role.Rules) || !apiequality.Semantic.DeepEqual(current.OwnerReferences, role.OwnerReferences):
		updated := current.DeepCopy()
		updated.Rules, updated.OwnerReferences, updated.Labels = role.Rules, role.OwnerReferences, role.Labels
		if _, err := c.kube.RbacV1().Roles(share.Namespace).Update(ctx, updated, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("update role %s: %w", role.Name, err)
		}
	}
	subject := rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: share.Spec.User}
	if share.Spec.Group != "" {
		subject = rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: share.Spec.Group}
	}
	binding := &rbacv1.RoleBinding{
		ObjectMeta: objectMeta,
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role.Name},
		Subjects:   []rbacv1.Subject{subject},
	}
	currentBinding, err := c.roleBindings.RoleBindings(share.Namespace).Get(binding.Name)
	switch {
	case apierrors.IsNotFound(err):
		if _, err := c.kube.RbacV1().RoleBindings(share.Namespace).Create(ctx, binding, metav1.CreateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("create role binding %s: %w", binding.Name, err)
		}
	case err != nil:
		return err
	case currentBinding.RoleRef != binding.RoleRef:
		// roleRef is immutable: replace the binding.
		if err := c.kube.RbacV1().RoleBindings(share.Namespace).Delete(ctx, binding.Name, metav1.DeleteOptions{
			Preconditions: &metav1.Preconditions{UID: &currentBinding.UID},
		}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("replace role binding %s: %w", binding.Name, err)
		}
		return fmt.Errorf("role binding %s had another role; replaced", binding.Name)
	case !apiequality.Semantic.DeepEqual(currentBinding.Subjects, binding.Subjects) || !apiequality.Semantic.DeepEqual(currentBinding.OwnerReferences, binding.OwnerReferences):
		updated := currentBinding.DeepCopy()
		updated.Subjects, updated.OwnerReferences, updated.Labels = binding.Subjects, binding.OwnerReferences, binding.Labels
		if _, err := c.kube.RbacV1().RoleBindings(share.Namespace).Update(ctx, updated, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil {
			return fmt.Errorf("update role binding %s: %w", binding.Name, err)
		}
	}
	return nil
}

// Rules are what a share lets its person or group do in the namespace.
func Rules(share, session string) []rbacv1.PolicyRule {
	return []rbacv1.PolicyRule{
		{APIGroups: []string{stream.GroupName}, Resources: []string{"sessions"}, ResourceNames: []string{session}, Verbs: []string{"get", "list", "watch"}},
		// The share itself, so a grantee (and the bridge, acting as them)
		// can read their role and expiry; not the namespace's other shares.
		{APIGroups: []string{stream.GroupName}, Resources: []string{"sessionshares"}, ResourceNames: []string{share}, Verbs: []string{"get"}},
		{APIGroups: []string{stream.GroupName}, Resources: []string{"sessions/connect"}, ResourceNames: []string{session}, Verbs: []string{"create"}},
		// Connection names are generated: the owner rule, not the name,
		// limits these to the person's own connections.
		{APIGroups: []string{stream.GroupName}, Resources: []string{"connections/heartbeat"}, Verbs: []string{"create"}},
		{APIGroups: []string{stream.GroupName}, Resources: []string{"connections"}, Verbs: []string{"delete"}},
	}
}

func (c *Controller) setGranted(ctx context.Context, share *streamv1alpha1.SessionShare, status metav1.ConditionStatus, reason, message string, cause error) error {
	updated := share.DeepCopy()
	meta.SetStatusCondition(&updated.Status.Conditions, metav1.Condition{
		Type: stream.SessionShareConditionGranted, Status: status, Reason: reason, Message: message,
		ObservedGeneration: share.Generation, LastTransitionTime: metav1.NewTime(c.clock.Now()),
	})
	if !apiequality.Semantic.DeepEqual(updated.Status, share.Status) {
		if _, err := c.stream.StreamV1alpha1().SessionShares(share.Namespace).UpdateStatus(ctx, updated, metav1.UpdateOptions{FieldManager: fieldManager}); err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("update status of share %s/%s: %w", share.Namespace, share.Name, err)
		}
	}
	return cause
}

func sharedWith(s *streamv1alpha1.SessionShare) string {
	if s.Spec.Group != "" {
		return "group " + s.Spec.Group
	}
	return "user " + s.Spec.User
}
