-- The people who use the API (stream.space users), with the columns of the
-- old backend's users table under their old names, so psql reads it as
-- before: name is the object's name (the Kubernetes username), id the
-- identity's uid (the OpenID sub), created_at when the person was first
-- seen, last_login the issue time of their newest token.

-- +goose Up
CREATE TABLE users (
    key              text COLLATE "C" PRIMARY KEY,
    namespace        text NOT NULL DEFAULT '',
    name             text NOT NULL DEFAULT '',
    uid              text NOT NULL DEFAULT '',
    resource_version bigint NOT NULL,
    created_rv       bigint NOT NULL,
    labels           jsonb NOT NULL DEFAULT '{}',
    id               text NOT NULL DEFAULT '',  -- status.uid
    email            text NOT NULL DEFAULT '',  -- status.email
    display_name     text NOT NULL DEFAULT '',  -- status.displayName
    role             text NOT NULL DEFAULT '',  -- status.role
    created_at       timestamptz,               -- status.firstSeen
    last_seen        timestamptz,               -- status.lastSeen
    last_login       timestamptz,               -- status.lastLogin
    object           bytea NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_namespace_name ON users (namespace, name);
CREATE INDEX users_id ON users (id);
CREATE INDEX users_email ON users (email);
CREATE INDEX users_display_name ON users (display_name);
CREATE INDEX users_role ON users (role);
CREATE INDEX users_created_at ON users (created_at);
CREATE INDEX users_last_seen ON users (last_seen);
CREATE INDEX users_last_login ON users (last_login);

-- +goose Down
DROP TABLE users;
