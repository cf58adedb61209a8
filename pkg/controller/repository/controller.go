// Package repository is the TemplateRepository controller: it syncs each
// repository's Git branch into CatalogTemplates (pkg/catalog does the Git and
// parsing work) and keeps the install count of every CatalogTemplate.
//
// A sync runs when a repository is created or its spec changes, every
// spec.syncInterval, and when the annotation catalog.stream.space/sync-requested-at
// changes (set by hand with kubectl or by the bridge's Git webhook).
// Triggers that arrive while a sync is queued coalesce into that one sync.
package repository

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/streamspace/controlplane/pkg/controller/platformconfig"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	streamv1alpha1 "github.com/streamspace/controlplane/pkg/apis/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/controller/worker"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned"
	"github.com/streamspace/controlplane/pkg/generated/clientset/versioned/scheme"
	"github.com/streamspace/controlplane/pkg/generated/informers/externalversions"
	cataloglisters "github.com/streamspace/controlplane/pkg/generated/listers/catalog/v1alpha1"
	streamlisters "github.com/streamspace/controlplane/pkg/generated/listers/stream/v1alpha1"
	"github.com/streamspace/controlplane/pkg/gitcatalog"
)

// ControllerName names the controller in Events and logs.
const ControllerName = "repository-controller"

// Config is what the controller needs.
type Config struct {
	Client versioned.Interface
	// CatalogClient writes the CatalogTemplates of a sync (creates,
	// updates, deletes), with a rate limit of its own (Options
	// CatalogSyncQPS, CatalogSyncBurst); nil means Client.
	CatalogClient   versioned.Interface
	KubeClient      kubernetes.Interface
	InformerFactory externalversions.SharedInformerFactory
	Options         Options
	// Clock defaults to the real clock.
	Clock clock.Clock
	// Recorder records Events; nil means the controller records them itself.
	Recorder record.EventRecorder
	// Logger logs what the informer event handlers notice.
	Logger klog.Logger
}

// Controller syncs TemplateRepositories into CatalogTemplates.
type Controller struct {
	// config may set the sync interval of repositories that set none.
	config *platformconfig.Source
	client versioned.Interface
	// catalogClient writes the CatalogTemplates of a sync.
	catalogClient versioned.Interface
	kubeClient    kubernetes.Interface
	opts          Options
	clock         clock.Clock
	fetcher       *gitcatalog.Fetcher
	recorder      record.EventRecorder
	broadcast     record.EventBroadcaster
	logger        klog.Logger

	repositories     cataloglisters.TemplateRepositoryLister
	catalogTemplates cataloglisters.CatalogTemplateLister
	templates        streamlisters.TemplateLister
	synced           []cache.InformerSynced

	// repoQueue holds repository names to sync; countQueue catalog template
	// names whose install count to refresh.
	repoQueue  workqueue.TypedRateLimitingInterface[string]
	countQueue workqueue.TypedRateLimitingInterface[string]

	// pruning holds the names of CatalogTemplates this controller is
	// deleting, so that their deletion is not taken for a hand edit.
	pruning sync.Map
}

// New builds the controller and registers its informers with the factory
// (start the factory after New).
func New(cfg Config) (*Controller, error) {
	if err := cfg.Options.Validate(); err != nil {
		return nil, err
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	if cfg.CatalogClient == nil {
		cfg.CatalogClient = cfg.Client
	}
	repoInformer := cfg.InformerFactory.Catalog().V1alpha1().TemplateRepositories()
	ctplInformer := cfg.InformerFactory.Catalog().V1alpha1().CatalogTemplates()
	tplInformer := cfg.InformerFactory.Stream().V1alpha1().Templates()
	config := platformconfig.New(cfg.InformerFactory)

	c := &Controller{
		config:           config,
		client:           cfg.Client,
		catalogClient:    cfg.CatalogClient,
		logger:           cfg.Logger,
		kubeClient:       cfg.KubeClient,
		opts:             cfg.Options,
		clock:            cfg.Clock,
		fetcher:          &gitcatalog.Fetcher{WorkDir: cfg.Options.WorkDir},
		recorder:         cfg.Recorder,
		repositories:     repoInformer.Lister(),
		catalogTemplates: ctplInformer.Lister(),
		templates:        tplInformer.Lister(),
		synced:           []cache.InformerSynced{repoInformer.Informer().HasSynced, ctplInformer.Informer().HasSynced, tplInformer.Informer().HasSynced, config.HasSynced},
		repoQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Second, 5*time.Minute),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "templaterepositories"}),
		countQueue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "catalogtemplate-installs"}),
	}
	if c.recorder == nil {
		c.broadcast = record.NewBroadcaster()
		c.recorder = c.broadcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: ControllerName})
	}
	if _, err := repoInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) { c.repositoryAdded(obj.(*catalogv1alpha1.TemplateRepository)) },
		UpdateFunc: func(old, obj any) {
			c.repositoryUpdated(old.(*catalogv1alpha1.TemplateRepository), obj.(*catalogv1alpha1.TemplateRepository))
		},
		DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.repoQueue.Add(key)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("watch template repositories: %w", err)
	}
	if _, err := ctplInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.countQueue.Add(obj.(*catalogv1alpha1.CatalogTemplate).Name) },
		UpdateFunc: func(_, obj any) { c.catalogTemplateUpdated(obj.(*catalogv1alpha1.CatalogTemplate)) },
		DeleteFunc: c.catalogTemplateDeleted,
	}); err != nil {
		return nil, fmt.Errorf("watch catalog templates: %w", err)
	}
	if _, err := tplInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.templateChanged(nil, obj) },
		UpdateFunc: func(old, obj any) { c.templateChanged(old, obj) },
		DeleteFunc: func(obj any) { c.templateChanged(obj, nil) },
	}); err != nil {
		return nil, fmt.Errorf("watch templates: %w", err)
	}
	// A new platform sync interval reschedules every repository.
	if err := platformconfig.RequeueOnChange(config, c.repositories.List, c.repositoryAdded); err != nil {
		return nil, err
	}
	return c, nil
}

// repositoryAdded syncs a new repository now; one that the controller
// already synced (seen again after a restart) at its next due time.
func (c *Controller) repositoryAdded(r *catalogv1alpha1.TemplateRepository) {
	if due := c.nextSyncDue(r); due > 0 {
		c.repoQueue.AddAfter(r.Name, due)
		return
	}
	c.repoQueue.Add(r.Name)
}

// repositoryUpdated syncs when the spec changed or a sync was requested;
// the controller's own status writes do not trigger one.
func (c *Controller) repositoryUpdated(old, r *catalogv1alpha1.TemplateRepository) {
	if old.Generation != r.Generation || old.Annotations[catalog.SyncRequestedAnnotation] != r.Annotations[catalog.SyncRequestedAnnotation] {
		c.repoQueue.Add(r.Name)
	}
}

// nextSyncDue is how long until r needs a sync; ≤ 0 means now.
func (c *Controller) nextSyncDue(r *catalogv1alpha1.TemplateRepository) time.Duration {
	st := r.Status
	if st.Phase != catalogv1alpha1.RepositoryPhaseReady || st.ObservedGeneration != r.Generation || st.LastSyncTime == nil {
		return 0
	}
	if requested, ok := r.Annotations[catalog.SyncRequestedAnnotation]; ok {
		at, err := time.Parse(time.RFC3339, requested)
		if err != nil || at.After(st.LastSyncTime.Time) {
			return 0
		}
	}
	interval := c.syncInterval(r)
	if interval == 0 {
		return time.Duration(1<<63 - 1) // scheduled syncs are off
	}
	return st.LastSyncTime.Add(interval).Sub(c.clock.Now())
}

// syncInterval is the repository's own, else the platform configuration's,
// else DefaultSyncInterval.
func (c *Controller) syncInterval(r *catalogv1alpha1.TemplateRepository) time.Duration {
	if r.Spec.SyncInterval == nil {
		return c.config.SyncInterval(catalogv1alpha1.DefaultSyncInterval)
	}
	return r.Spec.SyncInterval.Duration
}

// catalogTemplateUpdated syncs the repository of a CatalogTemplate that no
// longer holds what the sync wrote (edited by hand): the sync restores it.
// The controller's own writes (and status updates) keep the content hash true.
func (c *Controller) catalogTemplateUpdated(ct *catalogv1alpha1.CatalogTemplate) {
	if ct.Annotations[catalog.ContentHashAnnotation] != contentHash(ct) && ct.Spec.Repository != "" {
		c.logger.V(2).Info("catalog template changed by hand, syncing its repository", "catalogTemplate", klog.KObj(ct), "repository", ct.Spec.Repository)
		c.repoQueue.Add(ct.Spec.Repository)
	}
}

// catalogTemplateDeleted syncs the repository of a CatalogTemplate deleted
// by someone else than its sync (a repository being deleted takes its
// CatalogTemplates along; its sync then finds it gone and does nothing).
func (c *Controller) catalogTemplateDeleted(obj any) {
	if d, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = d.Obj
	}
	ct, ok := obj.(*catalogv1alpha1.CatalogTemplate)
	if !ok {
		return
	}
	if _, pruned := c.pruning.LoadAndDelete(ct.Name); pruned || ct.Spec.Repository == "" {
		return
	}
	c.logger.V(2).Info("catalog template deleted by hand, syncing its repository", "catalogTemplate", klog.KObj(ct), "repository", ct.Spec.Repository)
	c.repoQueue.Add(ct.Spec.Repository)
}

func (c *Controller) templateChanged(old, obj any) {
	for _, o := range []any{old, obj} {
		if d, ok := o.(cache.DeletedFinalStateUnknown); ok {
			o = d.Obj
		}
		if t, ok := o.(*streamv1alpha1.Template); ok {
			if source := t.Labels[catalog.SourceLabel]; source != "" {
				c.countQueue.Add(source)
			}
		}
	}
}

// Run syncs with workers goroutines until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) error {
	if c.broadcast != nil {
		c.broadcast.StartStructuredLogging(3)
		c.broadcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.kubeClient.CoreV1().Events("")})
		defer c.broadcast.Shutdown()
	}

	logger := klog.FromContext(ctx)
	logger.Info("starting controller", "controller", ControllerName, "workers", workers, "workDir", c.opts.WorkDir)
	defer logger.Info("stopping controller", "controller", ControllerName)
	return worker.Run(ctx, ControllerName, c.synced,
		worker.Queue{Queue: c.repoQueue, Workers: workers, What: "sync repository", Sync: c.syncRepository},
		worker.Queue{Queue: c.countQueue, Workers: 1, What: "count installs", Sync: c.syncInstallCount})
}
