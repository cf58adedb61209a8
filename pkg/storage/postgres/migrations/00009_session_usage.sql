-- Usage of sessions: one row per interval during which a session was
-- Running, with what its container requested, so that session time, CPU
-- and memory can be added up per user, template and namespace over any
-- period (the usages resource, docs/usage.md).
--
-- The sessions table gains the requests its controller records in
-- status.resources (cpu_millis, memory_bytes: a limit where no request is
-- set, NULL where neither is). A trigger on sessions keeps session_usage in
-- the transaction of every session write: a session whose phase becomes
-- Running opens an interval; one that stops running or is deleted closes
-- it; a change of what it counts for while Running (requests, user,
-- template, uid) closes it and opens the next. Nothing polls: an interval
-- starts and ends with the write that started or ended it, in its
-- transaction, so it is recorded if and only if that write commits.

-- +goose Up
ALTER TABLE sessions ADD COLUMN cpu_millis bigint;     -- status.resources.requests.cpu, millicores
ALTER TABLE sessions ADD COLUMN memory_bytes bigint;   -- status.resources.requests.memory, bytes

CREATE TABLE session_usage (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    namespace    text NOT NULL,
    session      text NOT NULL,            -- the session's name
    uid          text NOT NULL,            -- the session's uid: a session recreated under its name is another
    user_name    text NOT NULL,            -- spec.user
    template     text NOT NULL,            -- spec.template
    cpu_millis   bigint NOT NULL,          -- requested while the interval lasted, millicores
    memory_bytes bigint NOT NULL,          -- requested while the interval lasted, bytes
    started_at   timestamptz NOT NULL,
    ended_at     timestamptz,              -- NULL while the session is still Running
    CHECK (ended_at IS NULL OR ended_at >= started_at)
);
-- At most one open interval per session; the trigger finds it here.
CREATE UNIQUE INDEX session_usage_open ON session_usage (namespace, session) WHERE ended_at IS NULL;
CREATE INDEX session_usage_namespace_started ON session_usage (namespace, started_at);
CREATE INDEX session_usage_user_started ON session_usage (user_name, started_at);
CREATE INDEX session_usage_ended ON session_usage (ended_at);

-- Sessions running at the upgrade are counted from now. Their requests are
-- not known until the controller records status.resources; that write
-- closes this interval and opens one with them.
INSERT INTO session_usage (namespace, session, uid, user_name, template, cpu_millis, memory_bytes, started_at)
SELECT namespace, name, uid, user_name, template, 0, 0, clock_timestamp() FROM sessions WHERE phase = 'Running';

-- The time is clock_timestamp(), not now(): now() is when the transaction
-- began, and a writer's transaction may begin before an earlier writer
-- commits (it then waits for the resource_version row lock). The trigger
-- runs after that lock is taken, so its clock follows commit order and an
-- interval never ends before it started.
-- +goose StatementBegin
CREATE FUNCTION session_usage_record() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    at timestamptz := clock_timestamp();
BEGIN
    IF TG_OP = 'DELETE' THEN
        UPDATE session_usage SET ended_at = greatest(started_at, at)
        WHERE namespace = OLD.namespace AND session = OLD.name AND ended_at IS NULL;
        RETURN NULL;
    END IF;
    IF TG_OP = 'INSERT' THEN
        IF NEW.phase <> 'Running' THEN
            RETURN NULL;
        END IF;
    ELSIF (OLD.phase = 'Running') = (NEW.phase = 'Running')
          AND (NEW.phase <> 'Running'
               OR (NEW.uid, NEW.user_name, NEW.template, NEW.cpu_millis, NEW.memory_bytes)
                  IS NOT DISTINCT FROM (OLD.uid, OLD.user_name, OLD.template, OLD.cpu_millis, OLD.memory_bytes)) THEN
        RETURN NULL;  -- nothing that usage counts changed
    END IF;
    -- Close the session's open interval (an insert finds none: its key was
    -- deleted, which closed it), then open the next while it runs.
    UPDATE session_usage SET ended_at = greatest(started_at, at)
    WHERE namespace = NEW.namespace AND session = NEW.name AND ended_at IS NULL;
    IF NEW.phase = 'Running' THEN
        INSERT INTO session_usage (namespace, session, uid, user_name, template, cpu_millis, memory_bytes, started_at)
        VALUES (NEW.namespace, NEW.name, NEW.uid, NEW.user_name, NEW.template,
                coalesce(NEW.cpu_millis, 0), coalesce(NEW.memory_bytes, 0), at);
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER session_usage_record AFTER INSERT OR UPDATE OR DELETE ON sessions
    FOR EACH ROW EXECUTE FUNCTION session_usage_record();

-- +goose Down
DROP TRIGGER session_usage_record ON sessions;
DROP FUNCTION session_usage_record();
DROP TABLE session_usage;
ALTER TABLE sessions DROP COLUMN memory_bytes;
ALTER TABLE sessions DROP COLUMN cpu_millis;
