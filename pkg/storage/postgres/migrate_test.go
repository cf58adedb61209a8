package postgres

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
)

// TestMigrationsGoDownToWhatTheyCameFrom applies the migrations one by one
// on an empty database, recording the schema after each, then undoes them
// one by one: after each Down the schema must be exactly the one before its
// Up (tables, columns, defaults, storage options, indexes, constraints,
// functions, triggers, sequences, views and types), and after the last no
// object of the migrations is left. Applying them all again must give the
// same schema as the first time. A Down that forgets an object, drops one
// it did not create, or fails leaves a database that neither the old nor
// the new server version can rely on during a rollback.
func TestMigrationsGoDownToWhatTheyCameFrom(t *testing.T) {
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, testServer.DSN())
	if err != nil {
		t.Fatal(err)
	}
	name := fmt.Sprintf("test_migrations_%d", databases.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	pool, err := NewPool(ctx, databaseDSN(name), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	db := stdlib.OpenDBFromPool(pool)
	defer db.Close()
	provider, err := newMigrationProvider(db)
	if err != nil {
		t.Fatal(err)
	}

	schema := func() string {
		t.Helper()
		s, err := schemaOf(ctx, pool)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	before := map[int64]string{0: schema()}
	var versions []int64
	for _, src := range provider.ListSources() {
		if _, err := provider.UpTo(ctx, src.Version); err != nil {
			t.Fatalf("up to %d: %v", src.Version, err)
		}
		versions = append(versions, src.Version)
		before[src.Version] = schema()
	}
	if len(versions) < 2 {
		t.Fatalf("found %d migrations", len(versions))
	}
	latest := before[versions[len(versions)-1]]
	if !strings.Contains(latest, "table connection_leases") || !strings.Contains(latest, "column connection_leases.prev_beat") {
		t.Fatalf("the schema read back misses the leases table:\n%s", latest)
	}

	for i := len(versions) - 1; i >= 0; i-- {
		prev := int64(0)
		if i > 0 {
			prev = versions[i-1]
		}
		if _, err := provider.Down(ctx); err != nil {
			t.Fatalf("down from %d: %v", versions[i], err)
		}
		if got := schema(); got != before[prev] {
			t.Fatalf("down from %d does not restore the schema of %d:\n%s", versions[i], prev, schemaDiff(before[prev], got))
		}
	}
	if _, err := provider.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
	if got := schema(); got != latest {
		t.Errorf("applied again, the migrations give another schema:\n%s", schemaDiff(latest, got))
	}
}

// schemaOf describes every object of the public schema, except the
// migrations' own version table ($1 in the queries that name tables), one
// line each in a stable order.
func schemaOf(ctx context.Context, pool *pgxpool.Pool) (string, error) {
	queries := []string{
		// Tables, sequences, views and their storage options.
		`SELECT CASE c.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table' WHEN 'S' THEN 'sequence'
		        WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' ELSE c.relkind::text END
		        || ' ' || c.relname || coalesce(' ' || array_to_string(c.reloptions, ','), '')
		        || CASE WHEN c.relkind IN ('v', 'm') THEN ' ' || md5(pg_get_viewdef(c.oid)) ELSE '' END
		   FROM pg_class c WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'S', 'v', 'm')
		    AND c.relname NOT LIKE $1 || '%'`,
		// Columns with their types, nullability and defaults.
		`SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod)
		        || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END
		        || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '')
		        || CASE WHEN a.attgenerated <> '' THEN ' generated' ELSE '' END
		   FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
		   LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
		  WHERE c.relnamespace = 'public'::regnamespace AND c.relkind IN ('r', 'p', 'v', 'm')
		    AND a.attnum > 0 AND NOT a.attisdropped AND c.relname NOT LIKE $1 || '%'`,
		// Indexes, by their definitions.
		`SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename NOT LIKE $1 || '%'`,
		// Constraints: keys, foreign keys, checks.
		`SELECT 'constraint ' || r.relname || '.' || con.conname || ' ' || pg_get_constraintdef(con.oid)
		   FROM pg_constraint con JOIN pg_class r ON r.oid = con.conrelid
		  WHERE con.connamespace = 'public'::regnamespace AND r.relname NOT LIKE $1 || '%'`,
		// Functions, by a digest of their whole definition.
		`SELECT 'function ' || p.oid::regprocedure::text || ' ' || md5(pg_get_functiondef(p.oid))
		   FROM pg_proc p WHERE p.pronamespace = 'public'::regnamespace AND p.prokind IN ('f', 'p')`,
		// Triggers, by their definitions (enabled or not).
		`SELECT 'trigger ' || pg_get_triggerdef(tg.oid) || ' ' || tg.tgenabled::text
		   FROM pg_trigger tg JOIN pg_class r ON r.oid = tg.tgrelid
		  WHERE NOT tg.tgisinternal AND r.relnamespace = 'public'::regnamespace AND r.relname NOT LIKE $1 || '%'`,
		// Types of the schema's own: enums, domains, composites.
		`SELECT 'type ' || t.typname || ' ' || t.typtype::text FROM pg_type t
		  WHERE t.typnamespace = 'public'::regnamespace AND t.typtype IN ('e', 'd', 'c')
		    AND NOT EXISTS (SELECT 1 FROM pg_class c WHERE c.reltype = t.oid)`,
		// Extensions a migration may have created.
		`SELECT 'extension ' || extname FROM pg_extension WHERE extname <> 'plpgsql'`,
	}
	var lines []string
	for _, q := range queries {
		var args []any
		if strings.Contains(q, "$1") {
			args = append(args, migrationVersionTable)
		}
		rows, err := pool.Query(ctx, q, args...)
		if err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
		got, err := pgx.CollectRows(rows, pgx.RowTo[string])
		if err != nil {
			return "", fmt.Errorf("%s: %w", q, err)
		}
		lines = append(lines, got...)
	}
	slices.Sort(lines)
	return strings.Join(lines, "\n"), nil
}

// schemaDiff lists the lines only one of two schema descriptions has.
func schemaDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for _, l := range w {
		if !slices.Contains(g, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range g {
		if !slices.Contains(w, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}
