-- Liveness of viewers: one row per Connection with the time of its last
-- heartbeat. A heartbeat updates only this row (no resourceVersion, no
-- history row, no watch event); the Connection object records
-- status.lastHeartbeat coarsely. The row exists exactly as long as the
-- connection's row does: triggers on connections insert and delete it in
-- the transaction of the connection's create and delete, so a heartbeat
-- that finds no row is one for a connection that is gone, and a reap that
-- locks the row serialises with heartbeats (see docs/heartbeats.md).

-- +goose Up
CREATE TABLE connection_leases (
    key       text COLLATE "C" PRIMARY KEY,  -- connections.key
    namespace text NOT NULL,
    name      text NOT NULL,
    uid       text NOT NULL,
    last_beat timestamptz NOT NULL
) WITH (fillfactor = 50);  -- room for HOT updates: a heartbeat rewrites the row in its page
CREATE UNIQUE INDEX connection_leases_namespace_name ON connection_leases (namespace, name);

-- Existing connections start with a beat now: every viewer gets a full
-- stale timeout after the upgrade.
INSERT INTO connection_leases (key, namespace, name, uid, last_beat)
SELECT key, namespace, name, uid, now() FROM connections;

-- +goose StatementBegin
CREATE FUNCTION connection_lease_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO connection_leases (key, namespace, name, uid, last_beat)
        VALUES (NEW.key, NEW.namespace, NEW.name, NEW.uid, now())
        ON CONFLICT (key) DO UPDATE SET namespace = EXCLUDED.namespace, name = EXCLUDED.name,
            uid = EXCLUDED.uid, last_beat = EXCLUDED.last_beat;
        RETURN NEW;
    END IF;
    DELETE FROM connection_leases WHERE key = OLD.key;
    RETURN OLD;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER connection_lease_insert AFTER INSERT ON connections
    FOR EACH ROW EXECUTE FUNCTION connection_lease_follow();
CREATE TRIGGER connection_lease_delete AFTER DELETE ON connections
    FOR EACH ROW EXECUTE FUNCTION connection_lease_follow();

-- +goose Down
DROP TRIGGER connection_lease_delete ON connections;
DROP TRIGGER connection_lease_insert ON connections;
DROP FUNCTION connection_lease_follow();
DROP TABLE connection_leases;
