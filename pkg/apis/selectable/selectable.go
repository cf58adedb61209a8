// Package selectable is how a kind declares, once, the fields that list and
// watch accept as field selectors: each field's name, how to read it from the
// internal object and the indexed SQL column that holds it. The field label
// conversions, the registry's field set and the storage tables are all built
// from that declaration. A kind may also declare recorded fields: kept in a
// column of its table for whoever reads the database (a trigger, psql), but
// neither indexed nor offered as field selectors.
package selectable

import (
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// MetadataFields are selectable on every kind without being declared: the
// storage answers them from the columns every table has.
var MetadataFields = []string{"metadata.name", "metadata.namespace"}

// Field is one selectable field of the internal type T.
//
// Besides its SQL index, a Text field has an index in the apiserver's watch
// cache (see WatchCacheIndexed), so that a list selecting one value of it is
// answered from an index whichever layer answers it.
type Field[T any] struct {
	// Name is the field selector, e.g. "spec.user".
	Name string
	// Column is the indexed SQL column that holds the field, e.g. "user_name".
	Column string
	// Value reads the field from an object.
	Value func(obj T) string
	// Type is the SQL type of the column: Text unless set. A Timestamp
	// field's Value is RFC 3339 text (TimeValue), a BigInt field's a decimal
	// integer; empty is NULL for both.
	Type ColumnType
	// Recorded fields are written to their column on every write, for SQL
	// that reads the table (e.g. a trigger), and are not selectable: field
	// selectors refuse them, and neither SQL nor the watch cache index them.
	Recorded bool
}

// ColumnType is the SQL type of the column that holds a field.
type ColumnType string

const (
	// Text columns hold the field as it is.
	Text ColumnType = ""
	// Timestamp columns are timestamptz, so psql shows and compares times.
	Timestamp ColumnType = "timestamptz"
	// BigInt columns are bigint, so SQL can add them up. Only recorded
	// fields have this type.
	BigInt ColumnType = "bigint"
)

// WatchCacheIndexed tells whether the watch cache keeps an index of the
// fields of this type: Text fields, yes. Timestamp fields, no: a field
// selector can only ask for equality, equality with a time to the second
// selects next to nothing and no client asks it, and the times that change
// (a User's lastSeen, about once a minute while active) would re-index the
// object each time.
func (t ColumnType) WatchCacheIndexed() bool { return t == Text }

// WatchCacheIndexed tells whether the watch cache keeps an index of the
// field: a selectable field of a watch-cache indexed type.
func (f Field[T]) WatchCacheIndexed() bool { return !f.Recorded && f.Type.WatchCacheIndexed() }

// WatchCacheIndexed is Field.WatchCacheIndexed of the declared field.
func (c Column) WatchCacheIndexed() bool { return !c.Recorded && c.Type.WatchCacheIndexed() }

// TimeValue is the text of a Timestamp field: RFC 3339 in UTC, or empty.
func TimeValue(t *metav1.Time) string {
	if t == nil || t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// Kind declares the selectable fields of one kind, besides MetadataFields,
// and the SQL table its objects are stored in.
type Kind[T any] struct {
	GroupKind schema.GroupKind
	// Resource is the resource the kind is served as.
	Resource schema.GroupResource
	// Table is the SQL table, named for whoever reads the database with psql.
	Table string
	// Fields in the order the registry lists them in a predicate's
	// IndexFields: a list selecting exact values of several indexed fields
	// is answered from the index of the first. The first watch-cache indexed
	// field is also the watch cache's trigger (it takes one): a watch that
	// selects one value of it is only woken by changes of objects that held
	// or hold that value. Declare first the field watches select on.
	Fields []Field[T]
}

// Set returns the declared fields of obj, as the registry's GetAttrs answers them.
func (k Kind[T]) Set(obj T) fields.Set {
	set := make(fields.Set, len(k.Fields))
	for _, f := range k.Fields {
		set[f.Name] = f.Value(obj)
	}
	return set
}

// Declaration returns the kind without its Go type.
func (k Kind[T]) Declaration() Declaration {
	d := Declaration{GroupKind: k.GroupKind, Resource: k.Resource, Table: k.Table}
	for _, f := range k.Fields {
		d.Columns = append(d.Columns, Column{Field: f.Name, Name: f.Column, Type: f.Type, Recorded: f.Recorded})
	}
	return d
}

// Declaration is a Kind seen without the Go type of its objects: what the
// field label conversions and the storage tables are built from.
type Declaration struct {
	GroupKind schema.GroupKind
	Resource  schema.GroupResource
	Table     string
	Columns   []Column
}

// Column is the SQL column that holds a selectable or recorded field.
type Column struct {
	Field    string // the field selector, e.g. "spec.user"
	Name     string // the column, e.g. "user_name"
	Type     ColumnType
	Recorded bool // not selectable, not indexed (Field.Recorded)
}

// accepts tells whether a field selector on field is allowed for the kind.
func (d Declaration) accepts(field string) bool {
	for _, f := range MetadataFields {
		if f == field {
			return true
		}
	}
	for _, c := range d.Columns {
		if c.Field == field && !c.Recorded {
			return true
		}
	}
	return false
}

// AddFieldLabelConversions registers, for each declared kind of the group
// version, a conversion that accepts exactly its selectable fields, so that
// other field selectors are refused with 400.
func AddFieldLabelConversions(scheme *runtime.Scheme, gv schema.GroupVersion, kinds []Declaration) error {
	for _, d := range kinds {
		if d.GroupKind.Group != gv.Group {
			return fmt.Errorf("selectable fields of %s registered for group version %s", d.GroupKind, gv)
		}
		err := scheme.AddFieldLabelConversionFunc(gv.WithKind(d.GroupKind.Kind),
			func(label, value string) (string, string, error) {
				if d.accepts(label) {
					return label, value, nil
				}
				return "", "", fmt.Errorf("field label not supported: %s", label)
			})
		if err != nil {
			return err
		}
	}
	return nil
}
