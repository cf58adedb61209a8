package postgres

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/storage"
)

// TestFieldSelectorsUseIndexes fills the resource tables with 50,000 rows
// and checks, with EXPLAIN, that a list with an equality field selector on
// an indexed field reads that field's index rather than the whole table, for
// a full list and for a page (limit 500). Values are chosen rare (about 1%
// of the rows or less), as "my sessions" is: for a value most rows have, a
// sequential scan is the better plan and Postgres rightly picks it.
func TestFieldSelectorsUseIndexes(t *testing.T) {
	const rows = 50000
	ctx := context.Background()
	b := newTestBackend(t, newTestPool(t), BackendOptions{})
	// Columns as a busy installation would have them: 500 users, 50
	// templates, most sessions running, a few failed, 100 categories.
	fill := map[string]string{
		"sessions": `INSERT INTO sessions (key, namespace, name, resource_version, created_rv, object, user_name, template, state, phase)
SELECT '/sessions/ns-' || (i % 500) || '/s-' || i, 'ns-' || (i % 500), 's-' || i, 1, 1, '\x00',
    'user-' || (i % 500), 'template-' || (i % 50),
    CASE WHEN i % 100 = 0 THEN 'terminated' WHEN i % 10 = 0 THEN 'hibernated' ELSE 'running' END,
    CASE WHEN i % 100 = 1 THEN 'Failed' WHEN i % 10 = 0 THEN 'Hibernated' ELSE 'Running' END
FROM generate_series(1, $1) i`,
		"connections": `INSERT INTO connections (key, namespace, name, resource_version, created_rv, object, session, user_name, state)
SELECT '/connections/ns-' || (i % 500) || '/c-' || i, 'ns-' || (i % 500), 'c-' || i, 1, 1, '\x00',
    's-' || (i % 20000), 'user-' || (i % 500), CASE WHEN i % 100 = 0 THEN 'stale' ELSE 'active' END
FROM generate_series(1, $1) i`,
		"catalog_templates": `INSERT INTO catalog_templates (key, namespace, name, resource_version, created_rv, object, category, app_type, repository)
SELECT '/catalogtemplates/t-' || i, '', 't-' || i, 1, 1, '\x00',
    'category-' || (i % 100), CASE WHEN i % 5 = 0 THEN 'webapp' ELSE 'desktop' END, 'repo-' || (i % 10)
FROM generate_series(1, $1) i`,
	}
	for table, sql := range fill {
		if _, err := b.pool.Exec(ctx, sql, rows); err != nil {
			t.Fatalf("fill %s: %v", table, err)
		}
		if _, err := b.pool.Exec(ctx, "ANALYZE "+table); err != nil {
			t.Fatal(err)
		}
	}

	sessions := selectedByColumn("sessions", "user_name", "template", "state", "phase")
	connections := selectedByColumn("connections", "session", "user_name", "state")
	catalogTemplates := selectedByColumn("catalog_templates", "category", "app_type", "repository")
	cases := []struct {
		table    Table
		prefix   string
		selector string
		index    string
	}{
		{sessions, "/sessions/", "user_name=user-7", "sessions_user_name"},
		{sessions, "/sessions/ns-7/", "user_name=user-7", "sessions_"}, // the namespace range or the user index
		{sessions, "/sessions/", "template=template-3", "sessions_template"},
		{sessions, "/sessions/", "state=terminated", "sessions_state"},
		{sessions, "/sessions/", "phase=Failed", "sessions_phase"},
		{sessions, "/sessions/", "metadata.name=s-42", "sessions_namespace_name"},
		{connections, "/connections/", "session=s-42", "connections_session"},
		{connections, "/connections/", "user_name=user-7", "connections_user_name"},
		{catalogTemplates, "/catalogtemplates/", "category=category-9", "catalog_templates_category"},
	}
	for _, tc := range cases {
		s := b.newStore(tc.table, examplev1Codec(), newPod, newPodList, "/"+strings.Split(tc.prefix, "/")[1]+"/", nil)
		pred := storage.SelectionPredicate{Label: labels.Everything(), Field: fields.ParseSelectorOrDie(tc.selector)}
		for _, limit := range []int64{0, 501} {
			t.Run(fmt.Sprintf("%s %s limit=%d", tc.prefix, tc.selector, limit), func(t *testing.T) {
				q := listQuery{table: tc.table.Name, fromKey: tc.prefix, toKey: prefixEnd(tc.prefix),
					columnEquals: s.pushDownFields(pred), limit: limit}
				if len(q.columnEquals) == 0 {
					t.Fatalf("selector %s is not pushed down to SQL", tc.selector)
				}
				sql, args := q.sql()
				plan := explain(t, b, sql, args)
				if !strings.Contains(plan, "Index Scan using "+tc.index) && !strings.Contains(plan, "Bitmap Index Scan on "+tc.index) &&
					!strings.Contains(plan, "Index Only Scan using "+tc.index) {
					t.Errorf("the plan does not use an index %s*:\n%s", tc.index, plan)
				}
				if strings.Contains(plan, "Seq Scan") {
					t.Errorf("the plan reads the whole table:\n%s", plan)
				}
				t.Logf("%s\n%s", sql, plan)
			})
		}
	}
}

// selectedByColumn describes a table of the migration whose columns are
// filled from, and selected by, fields named like them.
func selectedByColumn(name string, columns ...string) Table {
	t := Table{Name: name}
	for _, c := range columns {
		t.Columns = append(t.Columns, Column{Name: c, Field: c})
	}
	return t
}

func explain(t *testing.T, b *Backend, sql string, args []any) string {
	t.Helper()
	rows, err := b.pool.Query(context.Background(), "EXPLAIN "+sql, args...)
	if err != nil {
		t.Fatalf("explain: %v", err)
	}
	defer rows.Close()
	var lines []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return strings.Join(lines, "\n")
}
