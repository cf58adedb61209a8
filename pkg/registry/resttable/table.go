// Package resttable turns objects into the tables kubectl prints, from a
// column list and a function that renders one row.
package resttable

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Convertor renders objects of one kind. Row returns the cells after the
// name column and before the age column, which every table has.
type Convertor struct {
	Columns []metav1.TableColumnDefinition
	Row     func(obj runtime.Object) ([]interface{}, error)
}

var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: metav1.ObjectMeta{}.SwaggerDoc()["name"]}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: metav1.ObjectMeta{}.SwaggerDoc()["creationTimestamp"]}
)

// ConvertToTable implements rest.TableConvertor.
func (c Convertor) ConvertToTable(ctx context.Context, obj runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	table := &metav1.Table{}
	if opt, ok := tableOptions.(*metav1.TableOptions); !ok || !opt.NoHeaders {
		table.ColumnDefinitions = append(append([]metav1.TableColumnDefinition{nameColumn}, c.Columns...), ageColumn)
	}
	addRow := func(o runtime.Object) error {
		m, err := meta.Accessor(o)
		if err != nil {
			return err
		}
		cells, err := c.Row(o)
		if err != nil {
			return err
		}
		row := metav1.TableRow{Object: runtime.RawExtension{Object: o}}
		row.Cells = append(append([]interface{}{m.GetName()}, cells...), Age(m.GetCreationTimestamp()))
		table.Rows = append(table.Rows, row)
		return nil
	}
	var err error
	if meta.IsListType(obj) {
		err = meta.EachListItem(obj, addRow)
		if l, lerr := meta.ListAccessor(obj); lerr == nil {
			table.ResourceVersion = l.GetResourceVersion()
			table.Continue = l.GetContinue()
			table.RemainingItemCount = l.GetRemainingItemCount()
		}
	} else {
		err = addRow(obj)
		if m, merr := meta.Accessor(obj); merr == nil {
			table.ResourceVersion = m.GetResourceVersion()
		}
	}
	if err != nil {
		return nil, errors.NewInternalError(fmt.Errorf("render table: %w", err))
	}
	return table, nil
}

// Age renders a timestamp the way kubectl does ("5m", "3d").
func Age(t metav1.Time) string {
	if t.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(time.Since(t.Time))
}

// Since renders an optional timestamp as an age, or "" when unset.
func Since(t *metav1.Time) string {
	if t == nil {
		return ""
	}
	return Age(*t)
}
