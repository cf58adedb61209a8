-- The beat before the last one, per connection lease. A heartbeat that
-- arrives long after the previous one (later than the reaper's overdue
-- threshold) shows a viewer that was alive while it looked silent: its
-- beats were delayed or lost on their way, not stopped. The reaper counts
-- such late beats to tell a heartbeat path that is overloaded (viewers keep
-- beating, late) from viewers that left together (they never beat again).
-- NULL until the connection's first heartbeat after its creation.

-- +goose Up
ALTER TABLE connection_leases ADD COLUMN prev_beat timestamptz;

-- +goose StatementBegin
CREATE OR REPLACE FUNCTION connection_lease_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO connection_leases (key, namespace, name, uid, last_beat)
        VALUES (NEW.key, NEW.namespace, NEW.name, NEW.uid, now())
        ON CONFLICT (key) DO UPDATE SET namespace = EXCLUDED.namespace, name = EXCLUDED.name,
            uid = EXCLUDED.uid, last_beat = EXCLUDED.last_beat, prev_beat = NULL;
        RETURN NEW;
    END IF;
    DELETE FROM connection_leases WHERE key = OLD.key;
    RETURN OLD;
END
$$;
-- +goose StatementEnd

-- +goose Down
-- +goose StatementBegin
CREATE OR REPLACE FUNCTION connection_lease_follow() RETURNS trigger LANGUAGE plpgsql AS $$
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
ALTER TABLE connection_leases DROP COLUMN prev_beat;
