package auditlog

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// Entry is one row of audit_log.
type Entry struct {
	ID                                                int64
	AuditID                                           string
	Timestamp                                         time.Time
	User                                              string
	Groups                                            []string
	Verb, APIGroup, APIVersion, Resource, Subresource string
	Namespace, Name, RequestURI, SourceIPs, UserAgent string
	Stage, Level                                      string
	Code                                              int32
	Changes                                           json.RawMessage
}

// Filter is one condition of a query: column = value, or != when Not.
type Filter struct {
	Column, Value string
	Not           bool
}

// Query selects entries, newest first: those matching every filter, with
// an id below Before when it is set, at most Limit.
type Query struct {
	Filters []Filter
	Before  int64
	Limit   int
}

// filterColumns are the columns a query may filter on.
var filterColumns = map[string]bool{"user_id": true, "action": true, "resource_type": true, "namespace": true, "resource_id": true, "response_code": true, "id": true}

const selectColumns = `id, audit_id, timestamp, user_id, groups, action, api_group, api_version, resource_type, subresource,
	namespace, resource_id, request_uri, ip_address, user_agent, stage, level, response_code, changes`

// List answers the entries of q, and whether more follow.
func List(ctx context.Context, pool *pgxpool.Pool, q Query) ([]Entry, bool, error) {
	var where []string
	var args []any
	for _, f := range q.Filters {
		if !filterColumns[f.Column] {
			return nil, false, fmt.Errorf("audit_log cannot be filtered on %q", f.Column)
		}
		op := "="
		if f.Not {
			op = "<>"
		}
		var arg any = f.Value
		if f.Column == "response_code" || f.Column == "id" {
			n, err := strconv.ParseInt(f.Value, 10, 64)
			if err != nil {
				return nil, false, fmt.Errorf("%s %q is not a number", f.Column, f.Value)
			}
			arg = n
		}
		args = append(args, arg)
		where = append(where, fmt.Sprintf("%s %s $%d", f.Column, op, len(args)))
	}
	if q.Before > 0 {
		args = append(args, q.Before)
		where = append(where, fmt.Sprintf("id < $%d", len(args)))
	}
	sql := "SELECT " + selectColumns + " FROM audit_log"
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	args = append(args, q.Limit+1)
	sql += fmt.Sprintf(" ORDER BY id DESC LIMIT $%d", len(args))
	rows, err := pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, false, err
	}
	entries, err := pgx.CollectRows(rows, func(row pgx.CollectableRow) (Entry, error) {
		var e Entry
		var groups []byte
		err := row.Scan(&e.ID, &e.AuditID, &e.Timestamp, &e.User, &groups, &e.Verb, &e.APIGroup, &e.APIVersion, &e.Resource, &e.Subresource,
			&e.Namespace, &e.Name, &e.RequestURI, &e.SourceIPs, &e.UserAgent, &e.Stage, &e.Level, &e.Code, &e.Changes)
		if err == nil && len(groups) > 0 {
			err = json.Unmarshal(groups, &e.Groups)
		}
		return e, err
	})
	if err != nil {
		return nil, false, err
	}
	more := len(entries) > q.Limit
	if more {
		entries = entries[:q.Limit]
	}
	return entries, more, nil
}
