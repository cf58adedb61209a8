package repository

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/klog/v2"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/gitcatalog"
)

// Condition types and reasons of a TemplateRepository.
const (
	ConditionReady = "Ready"

	ReasonSyncing            = "Syncing"
	ReasonSynced             = "Synced"
	ReasonCredentialsInvalid = "CredentialsInvalid"
	// ReasonCredentialsNotAllowed: the Secret does not name the repository
	// in its catalog.stream.space/repositories annotation.
	ReasonCredentialsNotAllowed = "CredentialsNotAllowed"
	ReasonFetchFailed           = "FetchFailed"
	ReasonPathNotFound          = "PathNotFound"
	ReasonWriteFailed           = "WriteFailed"
	// ReasonRepaired is the Event of a sync that restored CatalogTemplates changed by hand.
	ReasonRepaired = "Repaired"

	// maxReportedFiles bounds fileErrors and skippedFiles in status.
	maxReportedFiles = 200
)

// syncFailure is a failed sync: what status says, and whether to retry.
type syncFailure struct {
	reason string
	err    error
}

func (f *syncFailure) Error() string { return f.err.Error() }

// syncRepository brings one repository's CatalogTemplates to its branch head.
func (c *Controller) syncRepository(ctx context.Context, name string) error {
	logger := klog.FromContext(ctx)
	start := c.clock.Now()
	repo, err := c.repositories.Get(name)
	if apierrors.IsNotFound(err) {
		// Its CatalogTemplates go with it (owner references); only the clone is ours.
		logger.Info("repository deleted, removing its clone", "repository", klog.KRef("", name))
		return c.fetcher.Remove(name)
	}
	if err != nil {
		return err
	}
	if repo.DeletionTimestamp != nil {
		return nil
	}
	repo = repo.DeepCopy()

	if repo.Status.Phase == "" || repo.Status.Phase == catalogv1alpha1.RepositoryPhasePending || repo.Status.ObservedGeneration != repo.Generation {
		repo, err = c.markSyncing(ctx, repo)
		if err != nil {
			return err
		}
	}

	outcome, syncErr := c.fetchAndApply(ctx, repo)
	var failure *syncFailure
	result := "synced"
	switch {
	case errors.As(syncErr, &failure):
		result = "failed"
		setFailed(repo, failure)
		c.recorder.Event(repo, corev1.EventTypeWarning, "SyncFailed", failure.Error())
		logger.Info("repository sync failed", "repository", klog.KObj(repo), "reason", failure.reason, "err", failure.Error())
	case syncErr != nil:
		return syncErr
	case outcome.unchanged:
		result = "unchanged"
	case outcome.repaired != "":
		result = "repaired"
		plan := outcome.plan
		c.recorder.Eventf(repo, corev1.EventTypeNormal, ReasonRepaired, "commit %.12s unchanged but %s: created %d, updated %d, deleted %d",
			repo.Status.LastSyncedCommit, outcome.repaired, len(plan.create), len(plan.update), len(plan.remove))
		logger.Info("repository catalog repaired", "repository", klog.KObj(repo), "commit", repo.Status.LastSyncedCommit, "drift", outcome.repaired,
			"created", len(plan.create), "updated", len(plan.update), "deleted", len(plan.remove), "duration", c.clock.Since(start))
	default:
		plan := outcome.plan
		c.recorder.Eventf(repo, corev1.EventTypeNormal, ReasonSynced, "synced %d templates from commit %.12s (%d files with errors, %d skipped)",
			repo.Status.TemplateCount, repo.Status.LastSyncedCommit, len(plan.fileErrors), len(plan.skipped))
		logger.Info("repository synced", "repository", klog.KObj(repo), "commit", repo.Status.LastSyncedCommit,
			"templates", repo.Status.TemplateCount, "created", len(plan.create), "updated", len(plan.update), "deleted", len(plan.remove),
			"fileErrors", len(plan.fileErrors), "skipped", len(plan.skipped), "duration", c.clock.Since(start))
	}
	syncDuration.WithLabelValues(result).Observe(c.clock.Since(start).Seconds())
	if err := c.writeStatus(ctx, repo); err != nil {
		return err
	}
	if failure != nil {
		return failure // retried with backoff
	}
	if interval := c.syncInterval(repo); interval > 0 {
		c.repoQueue.AddAfter(name, interval)
	}
	return nil
}

// syncOutcome is what a sync did.
type syncOutcome struct {
	// unchanged: the commit was already synced and nothing was touched by hand.
	unchanged bool
	// repaired says why an unchanged commit was applied again (objects changed by hand).
	repaired string
	// plan is what was written when the catalog was applied.
	plan catalogPlan
}

// fetchAndApply fetches the branch and, when it moved (or the spec
// changed, or CatalogTemplates were changed by hand), parses it and writes
// the CatalogTemplates. It fills repo.Status.
func (c *Controller) fetchAndApply(ctx context.Context, repo *catalogv1alpha1.TemplateRepository) (*syncOutcome, error) {
	creds, err := c.credentials(ctx, repo)
	var notAllowed *credentialsNotAllowedError
	switch {
	case errors.As(err, &notAllowed):
		return nil, &syncFailure{reason: ReasonCredentialsNotAllowed, err: err}
	case err != nil:
		return nil, &syncFailure{reason: ReasonCredentialsInvalid, err: err}
	}
	src := gitcatalog.Source{URL: repo.Spec.URL, Branch: repo.Spec.Branch, Path: repo.Spec.Path}
	checkout, err := c.fetcher.Fetch(ctx, repo.Name, src, creds)
	if err != nil {
		return nil, &syncFailure{reason: ReasonFetchFailed, err: err}
	}
	outcome := &syncOutcome{}
	if isUnchanged(repo, checkout.Commit) {
		all, err := c.catalogTemplates.List(labels.Everything())
		if err != nil {
			return nil, fmt.Errorf("list catalog templates: %w", err)
		}
		if outcome.repaired = catalogDrift(repo, all); outcome.repaired == "" {
			// Nothing moved: no CatalogTemplate is written; only the time of the check is recorded.
			setChecked(repo, c.clock.Now())
			outcome.unchanged = true
			return outcome, nil
		}
	}
	files, err := checkout.Files(repo.Spec.Path)
	if err != nil {
		return nil, &syncFailure{reason: ReasonPathNotFound, err: err}
	}
	parsed := gitcatalog.Parse(files)
	outcome.plan, err = c.applyCatalogTemplates(ctx, repo, parsed)
	if err != nil {
		return nil, &syncFailure{reason: ReasonWriteFailed, err: fmt.Errorf("write catalog templates: %w", err)}
	}
	setSynced(repo, checkout.Commit, outcome.plan, c.clock.Now())
	return outcome, nil
}

func (c *Controller) markSyncing(ctx context.Context, repo *catalogv1alpha1.TemplateRepository) (*catalogv1alpha1.TemplateRepository, error) {
	setSyncing(repo)
	updated, err := c.client.CatalogV1alpha1().TemplateRepositories().UpdateStatus(ctx, repo, metav1.UpdateOptions{FieldManager: ControllerName})
	if err != nil {
		return nil, fmt.Errorf("mark repository %s syncing: %w", repo.Name, err)
	}
	return updated, nil
}

// writeStatus writes repo.Status unless it equals what is stored.
func (c *Controller) writeStatus(ctx context.Context, repo *catalogv1alpha1.TemplateRepository) error {
	current, err := c.repositories.Get(repo.Name)
	if err == nil && apiequality.Semantic.DeepEqual(current.Status, repo.Status) {
		return nil
	}
	_, err = c.client.CatalogV1alpha1().TemplateRepositories().UpdateStatus(ctx, repo, metav1.UpdateOptions{FieldManager: ControllerName})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("write status of repository %s: %w", repo.Name, err)
	}
	return nil
}

// credentials reads the Secret named by spec.auth.secretRef. Errors name
// the Secret and the missing key, never a value.
func (c *Controller) credentials(ctx context.Context, repo *catalogv1alpha1.TemplateRepository) (*gitcatalog.Credentials, error) {
	auth := repo.Spec.Auth
	if auth.Type == "" || auth.Type == catalogv1alpha1.AuthTypeNone {
		return &gitcatalog.Credentials{Type: gitcatalog.AuthNone}, nil
	}
	if auth.SecretRef == nil || auth.SecretRef.Name == "" {
		return nil, fmt.Errorf("auth type %s needs spec.auth.secretRef", auth.Type)
	}
	ns := auth.SecretRef.Namespace
	if ns == "" {
		ns = c.opts.SecretNamespace
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	secret, err := c.kubeClient.CoreV1().Secrets(ns).Get(ctx, auth.SecretRef.Name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return nil, fmt.Errorf("read credentials: Secret %s/%s named by spec.auth.secretRef does not exist", ns, auth.SecretRef.Name)
	case apierrors.IsForbidden(err):
		return nil, fmt.Errorf("read credentials: the controller may not read Secret %s/%s (it reads Secrets in %s, or where RBAC lets it)", ns, auth.SecretRef.Name, c.opts.SecretNamespace)
	case err != nil:
		return nil, fmt.Errorf("read credentials from Secret %s/%s: %w", ns, auth.SecretRef.Name, err)
	}
	// The Secret must name the repository before any of its keys is read:
	// referring to a Secret is not a right to have it sent to spec.url.
	if !gitcatalog.SecretAllowsRepository(secret.Annotations, repo.Name) {
		return nil, &credentialsNotAllowedError{namespace: ns, name: auth.SecretRef.Name, repository: repo.Name}
	}
	creds, err := gitcatalog.CredentialsFromSecret(string(auth.Type), secret.Data)
	if err != nil {
		return nil, fmt.Errorf("read credentials from Secret %s/%s: %w", ns, auth.SecretRef.Name, err)
	}
	return creds, nil
}

// credentialsNotAllowedError: the Secret does not list the repository.
type credentialsNotAllowedError struct {
	namespace, name, repository string
}

func (e *credentialsNotAllowedError) Error() string {
	return fmt.Sprintf("read credentials: Secret %s/%s is not marked for repository %s: its annotation %s must list %q",
		e.namespace, e.name, e.repository, catalog.RepositoriesAnnotation, e.repository)
}
