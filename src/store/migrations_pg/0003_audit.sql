-- 0003 (PostgreSQL): the tamper-evident audit trail, as src/store/migrations/0003_audit.sql.
-- Append-only twice over: the runtime role is granted only SELECT and INSERT (docs/deployment.md),
-- and the trigger below refuses UPDATE to everyone and DELETE, TRUNCATE and anchor writes to
-- every role that is not a member of the table's owner (`gatehouse audit prune` runs as the
-- owner), so that a mistaken GRANT does not open the chain either.
CREATE TABLE audit_events (
    seq        BIGINT PRIMARY KEY,
    ts         BIGINT NOT NULL,
    action     TEXT NOT NULL,
    actor      TEXT NOT NULL,
    target     TEXT NOT NULL,
    outcome    TEXT NOT NULL,
    request_id TEXT NOT NULL,
    client     TEXT NOT NULL,
    prev_hash  TEXT NOT NULL,
    hash       TEXT NOT NULL
);

CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    sig        TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE audit_anchor (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    sig        TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE FUNCTION gh_audit_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (TG_OP <> 'UPDATE' OR TG_TABLE_NAME = 'audit_anchor') AND
       pg_has_role(current_user, (SELECT relowner FROM pg_class WHERE oid = TG_RELID), 'MEMBER')
    THEN
        RETURN NULL;
    END IF;
    RAISE EXCEPTION 'audit rows are append-only' USING ERRCODE = 'insufficient_privilege';
END
$$;

CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events
    FOR EACH STATEMENT EXECUTE FUNCTION gh_audit_guard();
CREATE TRIGGER audit_checkpoints_append_only
    BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION gh_audit_guard();
CREATE TRIGGER audit_anchor_owner_only BEFORE INSERT OR UPDATE OR DELETE OR TRUNCATE ON audit_anchor
    FOR EACH STATEMENT EXECUTE FUNCTION gh_audit_guard();

-- Appenders (every instance) and the prune lock this row first: one chain, one writer at a time.
INSERT INTO change_counters(name, value) VALUES ('audit', 0);
