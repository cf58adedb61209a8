package postgres

import (
	"fmt"
	"regexp"
)

// Table describes the SQL table that holds one resource. Besides the columns
// every table has (key, namespace, name, uid, resource_version, created_rv,
// labels, object, updated_at), Columns are filled from the resource's field
// set (its storage.AttrFunc), indexed, and field selectors on them are
// answered by SQL.
type Table struct {
	Name    string
	Columns []Column
}

// Column is an indexed SQL column filled from fields.Set[Field].
type Column struct {
	Name  string // SQL column name
	Field string // field selector name, e.g. "spec.user"
}

// The tables created by the migrations. ObjectsTable holds any resource
// without a dedicated table.
var (
	ObjectsTable = Table{Name: "objects"}

	SessionsTable = Table{Name: "sessions", Columns: []Column{
		{Name: "user_name", Field: "spec.user"},
		{Name: "template", Field: "spec.template"},
		{Name: "state", Field: "spec.state"},
		{Name: "phase", Field: "status.phase"},
	}}
	ConnectionsTable = Table{Name: "connections", Columns: []Column{
		{Name: "session", Field: "spec.session"},
		{Name: "user_name", Field: "spec.user"},
		{Name: "state", Field: "status.state"},
	}}
	TemplatesTable = Table{Name: "templates", Columns: []Column{
		{Name: "category", Field: "spec.category"},
		{Name: "app_type", Field: "spec.appType"},
	}}
	TemplateRepositoriesTable = Table{Name: "template_repositories", Columns: []Column{
		{Name: "url", Field: "spec.url"},
		{Name: "phase", Field: "status.phase"},
	}}
	CatalogTemplatesTable = Table{Name: "catalog_templates", Columns: []Column{
		{Name: "category", Field: "spec.category"},
		{Name: "app_type", Field: "spec.appType"},
		{Name: "repository", Field: "spec.repository"},
	}}
)

// Tables maps a resource name (GroupResource.Resource) to its table.
var Tables = map[string]Table{
	"sessions":             SessionsTable,
	"connections":          ConnectionsTable,
	"templates":            TemplatesTable,
	"templaterepositories": TemplateRepositoriesTable,
	"catalogtemplates":     CatalogTemplatesTable,
}

// metadataColumns are the field selectors every table answers by SQL.
var metadataColumns = []Column{
	{Name: "name", Field: "metadata.name"},
	{Name: "namespace", Field: "metadata.namespace"},
}

var identifier = regexp.MustCompile(`^[a-z_][a-z0-9_]*$`)

func (t Table) validate() error {
	if !identifier.MatchString(t.Name) {
		return fmt.Errorf("table name %q is not a plain SQL identifier", t.Name)
	}
	seen := map[string]bool{}
	for _, c := range t.Columns {
		if !identifier.MatchString(c.Name) {
			return fmt.Errorf("table %s: column name %q is not a plain SQL identifier", t.Name, c.Name)
		}
		if reservedColumns[c.Name] || seen[c.Name] {
			return fmt.Errorf("table %s: column %q is reserved or repeated", t.Name, c.Name)
		}
		seen[c.Name] = true
	}
	return nil
}

var reservedColumns = map[string]bool{
	"key": true, "namespace": true, "name": true, "uid": true, "resource_version": true,
	"created_rv": true, "labels": true, "object": true, "updated_at": true,
}

// columnForField returns the SQL column that answers a field selector on field.
func (t Table) columnForField(field string) (string, bool) {
	for _, c := range metadataColumns {
		if c.Field == field {
			return c.Name, true
		}
	}
	for _, c := range t.Columns {
		if c.Field == field {
			return c.Name, true
		}
	}
	return "", false
}
