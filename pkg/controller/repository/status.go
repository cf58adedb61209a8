package repository

import (
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/gitcatalog/giturl"
)

// setSynced records a successful sync of commit at now in repo.Status.
func setSynced(repo *catalogv1alpha1.TemplateRepository, commit string, plan catalogPlan, now time.Time) {
	st := &repo.Status
	at := metav1.NewTime(now)
	st.Phase = catalogv1alpha1.RepositoryPhaseReady
	st.LastSyncTime = &at
	st.LastSyncedCommit = commit
	st.TemplateCount = int32(plan.templates)
	st.ErrorMessage = ""
	st.FileErrors = capFiles(plan.fileErrors)
	st.SkippedFiles = capFiles(plan.skipped)
	st.ObservedGeneration = repo.Generation
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: ConditionReady, Status: metav1.ConditionTrue, Reason: ReasonSynced, ObservedGeneration: repo.Generation,
		Message: fmt.Sprintf("%d templates from commit %.12s; %d files with errors, %d documents skipped",
			plan.templates, commit, len(plan.fileErrors), len(plan.skipped)),
	})
}

// setChecked records a sync that found nothing to do: only the time of the check.
func setChecked(repo *catalogv1alpha1.TemplateRepository, now time.Time) {
	at := metav1.NewTime(now)
	repo.Status.LastSyncTime = &at
}

// setSyncing records that a sync of a new or changed repository started.
func setSyncing(repo *catalogv1alpha1.TemplateRepository) {
	repo.Status.Phase = catalogv1alpha1.RepositoryPhaseSyncing
	meta.SetStatusCondition(&repo.Status.Conditions, metav1.Condition{
		Type: ConditionReady, Status: metav1.ConditionUnknown, Reason: ReasonSyncing, ObservedGeneration: repo.Generation,
		Message: "fetching " + giturl.Redact(repo.Spec.URL) + " branch " + repo.Spec.Branch,
	})
}

// setFailed records a failed sync. The last good commit, count and file
// reports stay: they still describe the CatalogTemplates that exist.
func setFailed(repo *catalogv1alpha1.TemplateRepository, failure *syncFailure) {
	st := &repo.Status
	st.Phase = catalogv1alpha1.RepositoryPhaseFailed
	st.ErrorMessage = failure.Error()
	st.ObservedGeneration = repo.Generation
	meta.SetStatusCondition(&st.Conditions, metav1.Condition{
		Type: ConditionReady, Status: metav1.ConditionFalse, Reason: failure.reason, ObservedGeneration: repo.Generation,
		Message: failure.Error(),
	})
}

// isUnchanged tells whether commit is what the repository's CatalogTemplates
// already reflect: same commit, same spec, last sync good.
func isUnchanged(repo *catalogv1alpha1.TemplateRepository, commit string) bool {
	st := repo.Status
	return commit == st.LastSyncedCommit && st.ObservedGeneration == repo.Generation && st.Phase == catalogv1alpha1.RepositoryPhaseReady
}

// capFiles keeps status small: the first maxReportedFiles entries and a count of the rest.
func capFiles(files []catalogv1alpha1.FileError) []catalogv1alpha1.FileError {
	if len(files) <= maxReportedFiles {
		return files
	}
	out := append([]catalogv1alpha1.FileError(nil), files[:maxReportedFiles]...)
	return append(out, catalogv1alpha1.FileError{Path: "...", Reason: fmt.Sprintf("%d more not listed", len(files)-maxReportedFiles)})
}
