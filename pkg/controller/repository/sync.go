package repository

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"

	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/catalog"
)

// Condition types and reasons of a TemplateRepository.
const (
	ConditionReady = "Ready"

	ReasonSyncing            = "Syncing"
	ReasonSynced             = "Synced"
	ReasonCredentialsInvalid = "CredentialsInvalid"
	ReasonFetchFailed        = "FetchFailed"
	ReasonPathNotFound       = "PathNotFound"
	ReasonWriteFailed        = "WriteFailed"

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
	start := c.clock.Now()
	repo, err := c.repositories.Get(name)
	if apierrors.IsNotFound(err) {
		// Its CatalogTemplates go with it (owner references); only the clone is ours.
		klog.InfoS("repository deleted, removing its clone", "repository", klog.KRef("", name))
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
		c.setFailed(repo, failure)
		c.recorder.Event(repo, corev1.EventTypeWarning, "SyncFailed", failure.Error())
		klog.InfoS("repository sync failed", "repository", klog.KObj(repo), "reason", failure.reason, "err", failure.Error())
	case syncErr != nil:
		return syncErr
	case outcome.unchanged:
		result = "unchanged"
	default:
		c.recorder.Eventf(repo, corev1.EventTypeNormal, ReasonSynced, "synced %d templates from commit %.12s (%d files with errors, %d skipped)",
			repo.Status.TemplateCount, repo.Status.LastSyncedCommit, len(outcome.fileErrors), len(outcome.skipped))
		klog.InfoS("repository synced", "repository", klog.KObj(repo), "commit", repo.Status.LastSyncedCommit,
			"templates", repo.Status.TemplateCount, "created", outcome.created, "updated", outcome.updated, "deleted", outcome.deleted,
			"fileErrors", len(outcome.fileErrors), "skipped", len(outcome.skipped), "duration", c.clock.Since(start))
	}
	syncDuration.WithLabelValues(result).Observe(c.clock.Since(start).Seconds())
	if err := c.writeStatus(ctx, repo); err != nil {
		return err
	}
	if failure != nil {
		return failure // retried with backoff
	}
	if interval := syncInterval(repo); interval > 0 {
		c.repoQueue.AddAfter(name, interval)
	}
	return nil
}

type syncOutcome struct {
	unchanged                 bool
	created, updated, deleted int
	fileErrors, skipped       []catalogv1alpha1.FileError
}

// fetchAndApply fetches the branch and, when it moved (or the spec
// changed), parses it and writes the CatalogTemplates. It fills repo.Status.
func (c *Controller) fetchAndApply(ctx context.Context, repo *catalogv1alpha1.TemplateRepository) (*syncOutcome, error) {
	creds, err := c.credentials(ctx, repo)
	if err != nil {
		return nil, &syncFailure{reason: ReasonCredentialsInvalid, err: err}
	}
	src := catalog.Source{URL: repo.Spec.URL, Branch: repo.Spec.Branch, Path: repo.Spec.Path}
	checkout, err := c.fetcher.Fetch(ctx, repo.Name, src, creds)
	if err != nil {
		return nil, &syncFailure{reason: ReasonFetchFailed, err: err}
	}
	now := metav1.NewTime(c.clock.Now())
	st := &repo.Status
	if checkout.Commit == st.LastSyncedCommit && st.ObservedGeneration == repo.Generation && st.Phase == catalogv1alpha1.RepositoryPhaseReady {
		// Nothing moved: no CatalogTemplate is touched; only the time of the check is recorded.
		st.LastSyncTime = &now
		return &syncOutcome{unchanged: true}, nil
	}
	files, err := checkout.Files(repo.Spec.Path)
	if err != nil {
		return nil, &syncFailure{reason: ReasonPathNotFound, err: err}
	}
	parsed := catalog.Parse(files)
	outcome, err := c.applyCatalogTemplates(ctx, repo, parsed)
	if err != nil {
		return nil, &syncFailure{reason: ReasonWriteFailed, err: fmt.Errorf("write catalog templates: %w", err)}
	}
	st.Phase = catalogv1alpha1.RepositoryPhaseReady
	st.LastSyncTime = &now
	st.LastSyncedCommit = checkout.Commit
	st.TemplateCount = int32(outcome.templates)
	st.ErrorMessage = ""
	st.FileErrors = capFiles(outcome.fileErrors)
	st.SkippedFiles = capFiles(outcome.skipped)
	st.ObservedGeneration = repo.Generation
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonSynced, ObservedGeneration: repo.Generation,
		Message: fmt.Sprintf("%d templates from commit %.12s; %d files with errors, %d documents skipped", outcome.templates, checkout.Commit, len(outcome.fileErrors), len(outcome.skipped)),
	})
	return &outcome.syncOutcome, nil
}

// capFiles keeps status small: the first maxReportedFiles entries and a count of the rest.
func capFiles(files []catalogv1alpha1.FileError) []catalogv1alpha1.FileError {
	if len(files) <= maxReportedFiles {
		return files
	}
	out := append([]catalogv1alpha1.FileError(nil), files[:maxReportedFiles]...)
	return append(out, catalogv1alpha1.FileError{Path: "...", Reason: fmt.Sprintf("%d more not listed", len(files)-maxReportedFiles)})
}

func (c *Controller) markSyncing(ctx context.Context, repo *catalogv1alpha1.TemplateRepository) (*catalogv1alpha1.TemplateRepository, error) {
	repo.Status.Phase = catalogv1alpha1.RepositoryPhaseSyncing
	meta.SetStatusCondition(&repo.Status.Conditions, metav1.Condition{
		Type: ConditionReady, Status: metav1.ConditionUnknown, Reason: ReasonSyncing, ObservedGeneration: repo.Generation,
		Message: "fetching " + catalog.RedactURL(repo.Spec.URL) + " branch " + repo.Spec.Branch,
	})
	updated, err := c.client.CatalogV1alpha1().TemplateRepositories().UpdateStatus(ctx, repo, metav1.UpdateOptions{FieldManager: ControllerName})
	if err != nil {
		return nil, fmt.Errorf("mark repository %s syncing: %w", repo.Name, err)
	}
	return updated, nil
}

func (c *Controller) setFailed(repo *catalogv1alpha1.TemplateRepository, failure *syncFailure) {
	st := &repo.Status
	st.Phase = catalogv1alpha1.RepositoryPhaseFailed
	st.ErrorMessage = failure.Error()
	st.ObservedGeneration = repo.Generation
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: ConditionReady, Status: metav1.ConditionFalse, Reason: failure.reason, ObservedGeneration: repo.Generation,
		Message: failure.Error(),
	})
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
func (c *Controller) credentials(ctx context.Context, repo *catalogv1alpha1.TemplateRepository) (*catalog.Credentials, error) {
	auth := repo.Spec.Auth
	if auth.Type == "" || auth.Type == catalogv1alpha1.AuthTypeNone {
		return &catalog.Credentials{Type: catalog.AuthNone}, nil
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
	creds, err := catalog.CredentialsFromSecret(string(auth.Type), secret.Data)
	if err != nil {
		return nil, fmt.Errorf("read credentials from Secret %s/%s: %w", ns, auth.SecretRef.Name, err)
	}
	return creds, nil
}
