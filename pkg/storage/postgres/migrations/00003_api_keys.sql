-- API keys (stream.space apikeys): user_name is the person a key acts as,
-- expires_at when it stops working. The object holds the token's SHA-256,
-- never the token.

-- +goose Up
CREATE TABLE api_keys (
    key              text COLLATE "C" PRIMARY KEY,
    namespace        text NOT NULL DEFAULT '',
    name             text NOT NULL DEFAULT '',
    uid              text NOT NULL DEFAULT '',
    resource_version bigint NOT NULL,
    created_rv       bigint NOT NULL,
    labels           jsonb NOT NULL DEFAULT '{}',
    user_name        text NOT NULL DEFAULT '',  -- spec.user
    expires_at       timestamptz,               -- spec.expiresAt
    object           bytea NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX api_keys_namespace_name ON api_keys (namespace, name);
CREATE INDEX api_keys_user_name ON api_keys (user_name);
CREATE INDEX api_keys_expires_at ON api_keys (expires_at);

-- +goose Down
DROP TABLE api_keys;
