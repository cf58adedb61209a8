-- Storage schema of the StreamSpace API server (package pkg/storage/postgres).

-- +goose Up

-- The global resourceVersion. Every write transaction starts by incrementing
-- this single row: the row lock serialises writers until they commit, so the
-- order of resourceVersions is the order of commits (a bare sequence is not:
-- nextval is taken at statement time, visibility follows commit).
CREATE TABLE resource_version (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    current   bigint NOT NULL
);
INSERT INTO resource_version (current) VALUES (1);

-- History of every change, the previous object included: watches replay it,
-- lists at an exact older resourceVersion are answered from it. Rows up to
-- compaction.revision are deleted in the background.
CREATE TABLE history (
    rv           bigint PRIMARY KEY,
    resource     text NOT NULL,                 -- the table the object lives in
    key          text COLLATE "C" NOT NULL,
    event        text NOT NULL CHECK (event IN ('ADDED', 'MODIFIED', 'DELETED')),
    object       bytea,                         -- NULL for DELETED
    prev_rv      bigint,                        -- NULL for ADDED
    prev_object  bytea,                         -- NULL for ADDED
    committed_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX history_key_rv ON history (key, rv);
CREATE INDEX history_committed_at ON history (committed_at);

-- The compaction point: history up to revision is gone, reads at and watches
-- from older resourceVersions get 410 Gone.
CREATE TABLE compaction (
    singleton    boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    revision     bigint NOT NULL,
    compacted_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO compaction (revision) VALUES (0);

-- Any resource without a dedicated table.
CREATE TABLE objects (
    key              text COLLATE "C" PRIMARY KEY,
    namespace        text NOT NULL DEFAULT '',
    name             text NOT NULL DEFAULT '',
    uid              text NOT NULL DEFAULT '',
    resource_version bigint NOT NULL,
    created_rv       bigint NOT NULL,
    labels           jsonb NOT NULL DEFAULT '{}',
    object           bytea NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX objects_namespace_name ON objects (namespace, name);

-- stream.space sessions.
CREATE TABLE sessions (
    key              text COLLATE "C" PRIMARY KEY,
    namespace        text NOT NULL DEFAULT '',
    name             text NOT NULL DEFAULT '',
    uid              text NOT NULL DEFAULT '',
    resource_version bigint NOT NULL,
    created_rv       bigint NOT NULL,
    labels           jsonb NOT NULL DEFAULT '{}',
    user_name        text NOT NULL DEFAULT '',  -- spec.user
    template         text NOT NULL DEFAULT '',  -- spec.template
    state            text NOT NULL DEFAULT '',  -- spec.state
    phase            text NOT NULL DEFAULT '',  -- status.phase
    object           bytea NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sessions_namespace_name ON sessions (namespace, name);
CREATE INDEX sessions_user_name ON sessions (user_name);
CREATE INDEX sessions_template ON sessions (template);
CREATE INDEX sessions_state ON sessions (state);
CREATE INDEX sessions_phase ON sessions (phase);

-- stream.space connections.
CREATE TABLE connections (
    key              text COLLATE "C" PRIMARY KEY,
    namespace        text NOT NULL DEFAULT '',
    name             text NOT NULL DEFAULT '',
    uid              text NOT NULL DEFAULT '',
    resource_version bigint NOT NULL,
    created_rv       bigint NOT NULL,
    labels           jsonb NOT NULL DEFAULT '{}',
    session          text NOT NULL DEFAULT '',  -- spec.session
    user_name        text NOT NULL DEFAULT '',  -- spec.user
    state            text NOT NULL DEFAULT '',  -- status.state
    object           bytea NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX connections_namespace_name ON connections (namespace, name);
CREATE INDEX connections_session ON connections (session);
CREATE INDEX connections_user_name ON connections (user_name);
CREATE INDEX connections_state ON connections (state);

-- stream.space templates.
CREATE TABLE templates (
    key              text COLLATE "C" PRIMARY KEY,
    namespace        text NOT NULL DEFAULT '',
    name             text NOT NULL DEFAULT '',
    uid              text NOT NULL DEFAULT '',
    resource_version bigint NOT NULL,
    created_rv       bigint NOT NULL,
    labels           jsonb NOT NULL DEFAULT '{}',
    category         text NOT NULL DEFAULT '',  -- spec.category
    app_type         text NOT NULL DEFAULT '',  -- spec.appType
    object           bytea NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX templates_namespace_name ON templates (namespace, name);
CREATE INDEX templates_category ON templates (category);
CREATE INDEX templates_app_type ON templates (app_type);

-- catalog.stream.space templaterepositories.
CREATE TABLE template_repositories (
    key              text COLLATE "C" PRIMARY KEY,
    namespace        text NOT NULL DEFAULT '',
    name             text NOT NULL DEFAULT '',
    uid              text NOT NULL DEFAULT '',
    resource_version bigint NOT NULL,
    created_rv       bigint NOT NULL,
    labels           jsonb NOT NULL DEFAULT '{}',
    url              text NOT NULL DEFAULT '',  -- spec.url
    phase            text NOT NULL DEFAULT '',  -- status.phase
    object           bytea NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX template_repositories_namespace_name ON template_repositories (namespace, name);
CREATE INDEX template_repositories_url ON template_repositories (url);
CREATE INDEX template_repositories_phase ON template_repositories (phase);

-- catalog.stream.space catalogtemplates.
CREATE TABLE catalog_templates (
    key              text COLLATE "C" PRIMARY KEY,
    namespace        text NOT NULL DEFAULT '',
    name             text NOT NULL DEFAULT '',
    uid              text NOT NULL DEFAULT '',
    resource_version bigint NOT NULL,
    created_rv       bigint NOT NULL,
    labels           jsonb NOT NULL DEFAULT '{}',
    category         text NOT NULL DEFAULT '',  -- spec.category
    app_type         text NOT NULL DEFAULT '',  -- spec.appType
    repository       text NOT NULL DEFAULT '',  -- spec.repository
    object           bytea NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX catalog_templates_namespace_name ON catalog_templates (namespace, name);
CREATE INDEX catalog_templates_category ON catalog_templates (category);
CREATE INDEX catalog_templates_app_type ON catalog_templates (app_type);
CREATE INDEX catalog_templates_repository ON catalog_templates (repository);

-- +goose Down
DROP TABLE catalog_templates;
DROP TABLE template_repositories;
DROP TABLE templates;
DROP TABLE connections;
DROP TABLE sessions;
DROP TABLE objects;
DROP TABLE compaction;
DROP TABLE history;
DROP TABLE resource_version;
