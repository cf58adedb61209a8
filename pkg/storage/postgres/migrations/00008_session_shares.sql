-- Session sharing: stream.space sessionshares in a table of their own, found
-- by session (the connect subresource) and by the person or group shared
-- with; connections record the share they were opened through, so that
-- revoking a share finds the connections to close.

-- +goose Up
CREATE TABLE session_shares (
    key              text COLLATE "C" PRIMARY KEY,
    namespace        text NOT NULL DEFAULT '',
    name             text NOT NULL DEFAULT '',
    uid              text NOT NULL DEFAULT '',
    resource_version bigint NOT NULL,
    created_rv       bigint NOT NULL,
    labels           jsonb NOT NULL DEFAULT '{}',
    session          text NOT NULL DEFAULT '',  -- spec.session
    user_name        text NOT NULL DEFAULT '',  -- spec.user
    group_name       text NOT NULL DEFAULT '',  -- spec.group
    object           bytea NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX session_shares_namespace_name ON session_shares (namespace, name);
CREATE INDEX session_shares_session ON session_shares (session);
CREATE INDEX session_shares_user_name ON session_shares (user_name);
CREATE INDEX session_shares_group_name ON session_shares (group_name);

ALTER TABLE connections ADD COLUMN share text NOT NULL DEFAULT '';  -- spec.share
CREATE INDEX connections_share ON connections (share);

-- +goose Down
DROP INDEX connections_share;
ALTER TABLE connections DROP COLUMN share;
DROP TABLE session_shares;
