package apiserver

import (
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/streamspace/controlplane/pkg/apis/catalog"
	"github.com/streamspace/controlplane/pkg/apis/selectable"
	"github.com/streamspace/controlplane/pkg/apis/stream"
	"github.com/streamspace/controlplane/pkg/storage/postgres"
)

// selectableKinds are the kinds served with selectable fields, each stored
// in a table of its own whose indexed columns hold those fields.
var selectableKinds = append(append([]selectable.Declaration{}, stream.SelectableKinds...), catalog.SelectableKinds...)

// storageTables are the Postgres tables of the served resources, built from
// the selectable and recorded fields their kinds declare.
func storageTables() map[schema.GroupResource]postgres.Table {
	tables := make(map[schema.GroupResource]postgres.Table, len(selectableKinds))
	for _, d := range selectableKinds {
		t := postgres.Table{Name: d.Table}
		for _, c := range d.Columns {
			column := postgres.Column{Name: c.Name, Field: c.Field, Recorded: c.Recorded}
			switch c.Type {
			case selectable.Timestamp:
				column.Type = postgres.ColumnTimestamp
			case selectable.BigInt:
				column.Type = postgres.ColumnBigInt
			}
			t.Columns = append(t.Columns, column)
		}
		tables[d.Resource] = t
	}
	// SessionQuotas live in the objects table and mark their changes:
	// session-quota admission decides from its informer's copy of them and
	// guards the session's write with it (package readguard).
	tables[stream.Resource("sessionquotas")] = postgres.Table{Name: postgres.ObjectsTable.Name, MarkChanges: true}
	return tables
}
