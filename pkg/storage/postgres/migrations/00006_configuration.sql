-- The platform's configuration (stream.space platformconfigurations, one
-- object named "cluster") in a table of its own, and the old backend's
-- configuration table as a view of it: one row per setting under the old
-- key names, its value as the object holds it (NULL: not set, so the
-- controller's command-line flag applies), and who changed the settings
-- last. The object is the only record; the view cannot disagree with it.

-- +goose Up
CREATE TABLE platform_configurations (
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
CREATE INDEX platform_configurations_namespace_name ON platform_configurations (namespace, name);

-- Where each setting lives in the object, with the old backend's key,
-- type and category.
CREATE TABLE configuration_keys (
    key         text PRIMARY KEY,
    path        text[] NOT NULL,
    type        text NOT NULL,
    category    text NOT NULL,
    description text NOT NULL
);
INSERT INTO configuration_keys (key, path, type, category, description) VALUES
  ('ingress.domain', '{spec,ingress,domain}', 'string', 'ingress',
   'Sessions get an Ingress at https://<session>-<namespace>.<domain>/ (unset: --ingress-domain, none by default)'),
  ('ingress.class', '{spec,ingress,className}', 'string', 'ingress',
   'IngressClass of session Ingresses (unset: --ingress-class, the cluster default)'),
  ('storage.defaultSize', '{spec,home,volumeSize}', 'quantity', 'storage',
   'Size of a new home-<user> volume (unset: --home-size)'),
  ('storage.className', '{spec,home,storageClassName}', 'string', 'storage',
   'StorageClass of new home volumes (unset: --home-storage-class, the cluster default)'),
  ('resources.defaultMemory', '{spec,sessions,defaultResources,requests,memory}', 'quantity', 'resources',
   'Memory request of sessions whose spec and template name none'),
  ('resources.defaultCPU', '{spec,sessions,defaultResources,requests,cpu}', 'quantity', 'resources',
   'CPU request of sessions whose spec and template name none'),
  ('session.defaultIdleTimeout', '{spec,sessions,defaultIdleTimeout}', 'duration', 'session',
   'Idle timeout of sessions without spec.idleTimeout; 0 never hibernates (unset: --default-idle-timeout, 30m)'),
  ('session.enableAutoHibernation', '{spec,sessions,autoHibernation}', 'boolean', 'session',
   'Whether idle sessions hibernate (unset: true)'),
  ('session.staleConnectionTimeout', '{spec,sessions,staleConnectionTimeout}', 'duration', 'session',
   'A connection without a heartbeat for this long is removed (unset: --stale-connection-timeout, 60s)'),
  ('catalog.syncInterval', '{spec,catalog,syncInterval}', 'duration', 'catalog',
   'How often repositories without spec.syncInterval are synced; 0 only on request (unset: 1h)');

CREATE VIEW configuration AS
SELECT k.key,
       c.obj #>> k.path AS value,
       k.type,
       k.category,
       k.description,
       (c.obj #>> '{status,updatedAt}')::timestamptz AS updated_at,
       c.obj #>> '{status,updatedBy}' AS updated_by
FROM configuration_keys k
LEFT JOIN (
    -- JSON as the codec stores it; with encryption at rest the bytes are
    -- opaque and the values read NULL.
    SELECT CASE WHEN get_byte(object, 0) = 123 THEN convert_from(object, 'UTF8')::jsonb END AS obj
    FROM platform_configurations
    WHERE name = 'cluster'
) c ON true;

-- +goose Down
DROP VIEW configuration;
DROP TABLE configuration_keys;
DROP TABLE platform_configurations;
