// +k8s:deepcopy-gen=package
// +groupName=catalog.stream.space

// Package catalog is the internal (hub) version of the catalog.stream.space API:
// TemplateRepositories and the CatalogTemplates synced from them.
package catalog
