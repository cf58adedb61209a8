-- Change marks: for the resources whose storage marks changes, the
-- resourceVersion of the last create, delete or spec change (generation) of
-- any of their objects. A write guarded by a cached read (package
-- readguard) checks in its own transaction that the resource has no mark
-- after the resourceVersion the read reflects.

-- +goose Up
CREATE TABLE change_marks (
    resource text PRIMARY KEY,  -- group/resource, e.g. sessionquotas.stream.space
    rv       bigint NOT NULL
);

-- +goose StatementBegin
-- read_is_current raises SQLSTATE SS001 (and with it aborts the transaction)
-- when marked_resource changed after seen; otherwise it returns true.
CREATE FUNCTION read_is_current(marked_resource text, seen bigint) RETURNS boolean
LANGUAGE plpgsql AS $$
DECLARE
    marked bigint;
BEGIN
    SELECT rv INTO marked FROM change_marks WHERE resource = marked_resource;
    IF marked > seen THEN
        RAISE EXCEPTION 'read of % at resourceVersion % is stale: changed at %', marked_resource, seen, marked
            USING ERRCODE = 'SS001';
    END IF;
    RETURN true;
END
$$;
-- +goose StatementEnd

-- +goose Down
DROP FUNCTION read_is_current(text, bigint);
DROP TABLE change_marks;
