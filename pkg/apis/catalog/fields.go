package catalog

import "github.com/streamspace/controlplane/pkg/apis/selectable"

// The fields each kind can be listed and watched by, besides metadata.name
// and metadata.namespace, with the SQL column that indexes each.
var (
	TemplateRepositoryFields = selectable.Kind[*TemplateRepository]{
		GroupKind: Kind("TemplateRepository"), Resource: Resource("templaterepositories"), Table: "template_repositories",
		Fields: []selectable.Field[*TemplateRepository]{
			{Name: "spec.url", Column: "url", Value: func(r *TemplateRepository) string { return r.Spec.URL }},
			{Name: "status.phase", Column: "phase", Value: func(r *TemplateRepository) string { return string(r.Status.Phase) }},
		},
	}
	CatalogTemplateFields = selectable.Kind[*CatalogTemplate]{
		GroupKind: Kind("CatalogTemplate"), Resource: Resource("catalogtemplates"), Table: "catalog_templates",
		Fields: []selectable.Field[*CatalogTemplate]{
			{Name: "spec.category", Column: "category", Value: func(t *CatalogTemplate) string { return t.Spec.Category }},
			{Name: "spec.appType", Column: "app_type", Value: func(t *CatalogTemplate) string { return string(t.Spec.Template.AppType) }},
			{Name: "spec.repository", Column: "repository", Value: func(t *CatalogTemplate) string { return t.Spec.Repository }},
		},
	}
)

// SelectableKinds are the kinds of the group that have selectable fields.
var SelectableKinds = []selectable.Declaration{
	TemplateRepositoryFields.Declaration(),
	CatalogTemplateFields.Declaration(),
}
