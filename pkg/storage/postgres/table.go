package postgres

import (
	"fmt"
	"regexp"
)

// Table describes the SQL table that holds one resource. Besides the columns
// every table has (key, namespace, name, uid, resource_version, created_rv,
// labels, object, updated_at), Columns are filled from the resource's field
// set (its storage.AttrFunc), indexed, and equality field selectors on them
// are answered by SQL; recorded columns are only filled.
type Table struct {
	Name    string
	Columns []Column
	// MarkChanges records in change_marks the resourceVersion of every
	// create, delete and generation change of the resource's objects, so
	// that a write guarded by a cached read of the resource (package
	// readguard) is refused if the read was stale.
	MarkChanges bool
}

// Column is an SQL column filled from fields.Set[Field].
type Column struct {
	Name  string // SQL column name
	Field string // the key of the resource's fields.Set, a field selector
	// Type is the column's SQL type: ColumnText (the default),
	// ColumnTimestamp or ColumnBigInt. A field set holds strings only: a
	// timestamp or bigint column is filled by casting the field's text (RFC
	// 3339, a decimal integer), and is NULL when the field is empty.
	Type ColumnType
	// Recorded columns are written for SQL that reads the table (a
	// trigger, psql) and never answer a field selector: the field is not
	// selectable, and the column needs no index.
	Recorded bool
}

// ColumnType is the SQL type of a Column.
type ColumnType string

const (
	// ColumnText is a text column holding the field as it is.
	ColumnText ColumnType = ""
	// ColumnTimestamp is a timestamptz column: field selectors on it are not
	// answered by SQL (their text need not be the stored form), only in Go.
	ColumnTimestamp ColumnType = "timestamptz"
	// ColumnBigInt is a bigint column, for recorded numbers.
	ColumnBigInt ColumnType = "bigint"
)

// valueSQL is the SQL expression that stores the field's text given as param.
func (c Column) valueSQL(param string) string {
	if c.Type == ColumnText {
		return param
	}
	return "NULLIF(" + param + ", '')::" + string(c.Type)
}

// ObjectsTable holds any resource without a table of its own. The tables
// of the other resources are given to StorageDecorator by the server that
// serves them; the migrations create them all.
var ObjectsTable = Table{Name: "objects"}

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
		if c.Type != ColumnText && c.Type != ColumnTimestamp && c.Type != ColumnBigInt {
			return fmt.Errorf("table %s: column %s has unknown type %q", t.Name, c.Name, c.Type)
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
		if c.Field == field && c.Type == ColumnText && !c.Recorded {
			return c.Name, true
		}
	}
	return "", false
}
