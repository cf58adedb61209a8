package repository

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	testingclock "k8s.io/utils/clock/testing"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	cataloginstall "github.com/streamspace/controlplane/pkg/apis/catalog/install"
	catalogv1alpha1 "github.com/streamspace/controlplane/pkg/apis/catalog/v1alpha1"
	"github.com/streamspace/controlplane/pkg/gitcatalog"
)

func fileErrors(n int) []catalogv1alpha1.FileError {
	out := make([]catalogv1alpha1.FileError, n)
	for i := range out {
		out[i] = catalogv1alpha1.FileError{Path: fmt.Sprintf("bad/%03d.yaml", i), Reason: "spec.baseImage: Required value"}
	}
	return out
}

func TestSetSynced(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	cases := []struct {
		name          string
		plan          catalogPlan
		wantErrors    int
		wantLastError string
		wantMessage   string
	}{
		{
			name:        "clean catalog",
			plan:        catalogPlan{templates: 195},
			wantMessage: "195 templates from commit 0123456789ab; 0 files with errors, 0 documents skipped",
		},
		{
			name:          "errors are capped at 200 plus a count of the rest",
			plan:          catalogPlan{templates: 3, fileErrors: fileErrors(250), skipped: fileErrors(1)},
			wantErrors:    201,
			wantLastError: "50 more not listed",
			wantMessage:   "3 templates from commit 0123456789ab; 250 files with errors, 1 documents skipped",
		},
		{
			name:          "exactly 200 are all listed",
			plan:          catalogPlan{templates: 1, fileErrors: fileErrors(200)},
			wantErrors:    200,
			wantLastError: "spec.baseImage: Required value",
			wantMessage:   "1 templates from commit 0123456789ab; 200 files with errors, 0 documents skipped",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			repo := testRepository("community", "")
			repo.Generation = 3
			setFailed(repo, &syncFailure{reason: ReasonFetchFailed, err: fmt.Errorf("clone: authentication required")})
			setSynced(repo, "0123456789abcdef", tc.plan, now)
			st := repo.Status
			if st.Phase != catalogv1alpha1.RepositoryPhaseReady || st.ErrorMessage != "" || st.LastSyncedCommit != "0123456789abcdef" ||
				int(st.TemplateCount) != tc.plan.templates || st.ObservedGeneration != 3 || !st.LastSyncTime.Time.Equal(now) {
				t.Errorf("status %+v", st)
			}
			if len(st.FileErrors) != tc.wantErrors {
				t.Errorf("%d fileErrors, want %d", len(st.FileErrors), tc.wantErrors)
			} else if tc.wantErrors > 0 && st.FileErrors[tc.wantErrors-1].Reason != tc.wantLastError {
				t.Errorf("last fileError %+v, want reason %q", st.FileErrors[tc.wantErrors-1], tc.wantLastError)
			}
			c := meta.FindStatusCondition(st.Conditions, ConditionReady)
			if c == nil || c.Status != metav1.ConditionTrue || c.Reason != ReasonSynced || c.Message != tc.wantMessage || c.ObservedGeneration != 3 {
				t.Errorf("Ready condition %+v, want True/Synced %q", c, tc.wantMessage)
			}
		})
	}
}

func TestSetFailedKeepsTheLastGoodSync(t *testing.T) {
	repo := testRepository("community", "")
	setSynced(repo, "abc", catalogPlan{templates: 7, fileErrors: fileErrors(2)}, time.Now())
	setFailed(repo, &syncFailure{reason: ReasonCredentialsInvalid, err: fmt.Errorf("read credentials: Secret s/x does not exist")})
	st := repo.Status
	if st.Phase != catalogv1alpha1.RepositoryPhaseFailed || st.ErrorMessage != "read credentials: Secret s/x does not exist" ||
		st.LastSyncedCommit != "abc" || st.TemplateCount != 7 || len(st.FileErrors) != 2 {
		t.Errorf("status %+v", st)
	}
	if c := meta.FindStatusCondition(st.Conditions, ConditionReady); c == nil || c.Status != metav1.ConditionFalse || c.Reason != ReasonCredentialsInvalid {
		t.Errorf("Ready condition %+v", c)
	}
	setSyncing(repo)
	if c := meta.FindStatusCondition(repo.Status.Conditions, ConditionReady); c.Status != metav1.ConditionUnknown ||
		c.Message != "fetching https://git.example.org/community.git branch main" {
		t.Errorf("syncing condition %+v", c)
	}
}

func TestIsUnchanged(t *testing.T) {
	synced := testRepository("community", "")
	setSynced(synced, "abc", catalogPlan{}, time.Now())
	specChanged := synced.DeepCopy()
	specChanged.Generation++
	failed := synced.DeepCopy()
	setFailed(failed, &syncFailure{reason: ReasonWriteFailed, err: fmt.Errorf("x")})
	for _, tc := range []struct {
		name   string
		repo   *catalogv1alpha1.TemplateRepository
		commit string
		want   bool
	}{
		{"same commit, same spec, last sync good", synced, "abc", true},
		{"new commit", synced, "def", false},
		{"spec changed", specChanged, "abc", false},
		{"last sync failed", failed, "abc", false},
		{"never synced", testRepository("new", ""), "", false},
	} {
		if got := isUnchanged(tc.repo, tc.commit); got != tc.want {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestCatalogDrift(t *testing.T) {
	repo := testRepository("community", "")
	other := testRepository("other", "")
	firefox, gimp := parsedTemplate("firefox", "firefox:1"), parsedTemplate("gimp", "gimp:1")
	repo.Status.TemplateCount = 2

	edited := stored(repo, firefox)
	edited.Spec.Template.BaseImage = "evil:1"
	relabelled := stored(repo, firefox)
	relabelled.Labels[catalog.CategoryLabel] = "games"
	copied := stored(repo, gimp) // a copy made by hand under another name, annotation and all
	copied.Name = "community-gimp-copy"
	otherEdited := stored(other, gimp)
	otherEdited.Spec.Template.BaseImage = "evil:1"

	for _, tc := range []struct {
		name     string
		existing []*catalogv1alpha1.CatalogTemplate
		want     string // substring; "" = no drift
	}{
		{"as written", []*catalogv1alpha1.CatalogTemplate{stored(repo, firefox), stored(repo, gimp), otherEdited}, ""},
		{"spec edited", []*catalogv1alpha1.CatalogTemplate{edited, stored(repo, gimp)}, "1 catalog templates changed since the last sync (first: community-firefox)"},
		{"labels edited", []*catalogv1alpha1.CatalogTemplate{relabelled, stored(repo, gimp)}, "first: community-firefox"},
		{"deleted", []*catalogv1alpha1.CatalogTemplate{stored(repo, gimp)}, "1 catalog templates exist, the last sync wrote 2"},
		{"copied under another name", []*catalogv1alpha1.CatalogTemplate{stored(repo, firefox), stored(repo, gimp), copied}, "first: community-gimp-copy"},
	} {
		got := catalogDrift(repo, tc.existing)
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("%s: drift %q, want %q", tc.name, got, tc.want)
		}
	}
}

// The content hash of what the sync writes must be the hash of what the
// API server stores and returns (defaulted, converted, JSON), or every
// no-op sync would see drift and rewrite the catalog.
func TestContentHashSurvivesTheAPIRoundTrip(t *testing.T) {
	scheme := runtime.NewScheme()
	cataloginstall.Install(scheme)
	codecs := serializer.NewCodecFactory(scheme)
	docs := map[string]string{
		"kasmvnc-flat.yaml": `apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: firefox, namespace: workspaces}
spec:
  displayName: Firefox
  category: Web Browsers
  icon: https://example.org/firefox.png
  baseImage: lscr.io/linuxserver/firefox:latest
  defaultResources: {memory: 2048Mi, cpu: 1000m}
  ports: [{name: vnc, containerPort: 3000}]
  env: [{name: PUID, value: "1000"}]
  volumeMounts: [{name: user-home, mountPath: /config}]
  kasmvnc: {enabled: true}
  capabilities: [Network, Clipboard]
  tags: [firefox, Web Browsers]
`,
		"webapp-nested.yaml": `apiVersion: stream.space/v1alpha1
kind: Template
metadata: {name: code}
spec:
  displayName: Code
  baseImage: x/code:1
  defaultResources: {requests: {cpu: "0.5", memory: 1G}, limits: {cpu: 2}}
  webapp: {enabled: true, port: 8443}
`,
	}
	repo := testRepository("community", "")
	for path, doc := range docs {
		templates, errs, _ := gitcatalog.ParseFile(path, []byte(doc))
		if len(errs) > 0 || len(templates) != 1 {
			t.Fatalf("%s: %v", path, errs)
		}
		want := desiredCatalogTemplate(repo, templates[0])
		data, err := runtime.Encode(codecs.LegacyCodec(catalogv1alpha1.SchemeGroupVersion), want)
		if err != nil {
			t.Fatal(err)
		}
		// The server decodes into the internal version with defaults, stores, and serves v1alpha1.
		internal, err := runtime.Decode(codecs.UniversalDecoder(catalog.SchemeGroupVersion), data)
		if err != nil {
			t.Fatal(err)
		}
		served, err := runtime.Encode(codecs.LegacyCodec(catalogv1alpha1.SchemeGroupVersion), internal)
		if err != nil {
			t.Fatal(err)
		}
		var got catalogv1alpha1.CatalogTemplate
		if err := runtime.DecodeInto(codecs.UniversalDecoder(catalogv1alpha1.SchemeGroupVersion), served, &got); err != nil {
			t.Fatal(err)
		}
		if h := contentHash(&got); h != want.Annotations[catalog.ContentHashAnnotation] || !upToDate(&got, want) {
			t.Errorf("%s: the stored object hashes to %s, the written one to %s\nwritten %s\nserved  %s", path, h, want.Annotations[catalog.ContentHashAnnotation], data, served)
		}
	}
}

func TestNextSyncDue(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	c := &Controller{clock: testingclock.NewFakeClock(now)}
	syncedAt := func(ago time.Duration, interval *metav1.Duration, requested string) *catalogv1alpha1.TemplateRepository {
		r := testRepository("community", "")
		r.Spec.SyncInterval = interval
		setSynced(r, "abc", catalogPlan{}, now.Add(-ago))
		if requested != "" {
			r.Annotations = map[string]string{catalog.SyncRequestedAnnotation: requested}
		}
		return r
	}
	for _, tc := range []struct {
		name string
		repo *catalogv1alpha1.TemplateRepository
		want time.Duration
	}{
		{"never synced: now", testRepository("new", ""), 0},
		{"synced 10m ago, default 1h: in 50m", syncedAt(10*time.Minute, nil, ""), 50 * time.Minute},
		{"overdue: now or earlier", syncedAt(2*time.Hour, nil, ""), -time.Hour},
		{"interval 0: never by schedule", syncedAt(time.Minute, &metav1.Duration{}, ""), time.Duration(1<<63 - 1)},
		{"requested after the last sync: now", syncedAt(10*time.Minute, nil, now.Add(-time.Minute).Format(time.RFC3339)), 0},
		{"requested before the last sync: on schedule", syncedAt(10*time.Minute, nil, now.Add(-time.Hour).Format(time.RFC3339)), 50 * time.Minute},
		{"request that is not a time: now", syncedAt(10*time.Minute, nil, "please"), 0},
	} {
		if got := c.nextSyncDue(tc.repo); got != tc.want && !(tc.want <= 0 && got <= 0) {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

// BenchmarkCatalogDrift1000 is what a no-op sync of a 1,000-template
// repository adds to the fetch: hashing the stored CatalogTemplates.
func BenchmarkCatalogDrift1000(b *testing.B) {
	repo := testRepository("community", "")
	var all []*catalogv1alpha1.CatalogTemplate
	for i := 0; i < 1000; i++ {
		all = append(all, stored(repo, parsedTemplate(fmt.Sprintf("app-%04d", i), "example.org/app:1")))
	}
	repo.Status.TemplateCount = 1000
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if drift := catalogDrift(repo, all); drift != "" {
			b.Fatal(drift)
		}
	}
}
