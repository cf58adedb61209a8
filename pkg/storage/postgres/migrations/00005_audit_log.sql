-- The audit trail: one row per audit event of streamspace-apiserver's
-- audit pipeline (k8s.io/apiserver's, with the policy of
-- --audit-policy-file), written in batches by the Postgres audit backend
-- (pkg/auditlog). The old backend's columns keep their names: user_id holds
-- the user name, action the verb, resource_type the plural resource,
-- resource_id the object's name, changes the request body of a write.

-- +goose Up
CREATE TABLE audit_log (
    id            bigserial PRIMARY KEY,
    audit_id      text NOT NULL,
    timestamp     timestamptz NOT NULL,
    user_id       text NOT NULL DEFAULT '',
    groups        jsonb NOT NULL DEFAULT '[]',
    action        text NOT NULL DEFAULT '',
    api_group     text NOT NULL DEFAULT '',
    api_version   text NOT NULL DEFAULT '',
    resource_type text NOT NULL DEFAULT '',
    subresource   text NOT NULL DEFAULT '',
    namespace     text NOT NULL DEFAULT '',
    resource_id   text NOT NULL DEFAULT '',
    request_uri   text NOT NULL DEFAULT '',
    response_code integer NOT NULL DEFAULT 0,
    ip_address    text NOT NULL DEFAULT '',
    user_agent    text NOT NULL DEFAULT '',
    stage         text NOT NULL DEFAULT '',
    level         text NOT NULL DEFAULT '',
    changes       jsonb
);
CREATE INDEX audit_log_timestamp ON audit_log (timestamp);
CREATE INDEX audit_log_user_id ON audit_log (user_id, id);
CREATE INDEX audit_log_resource_type ON audit_log (resource_type, id);
CREATE INDEX audit_log_namespace ON audit_log (namespace, id);
CREATE INDEX audit_log_action ON audit_log (action, id);

-- +goose Down
DROP TABLE audit_log;
