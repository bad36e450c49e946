-- 0003: the tamper-evident audit trail (docs/audit.md). Each event row carries the BLAKE2b-256
-- chain hash over its predecessor's hash and its own canonical JSON; checkpoints are Ed25519
-- signatures over (seq, hash). Rows are append-only: the trigger below refuses UPDATE, and only
-- `gatehouse audit prune` (store_maintenance.h) deletes a prefix, leaving a signed anchor.
-- The PostgreSQL backend enforces the same with GRANTs (INSERT, SELECT only for the service
-- role; DELETE for the maintenance role) instead of triggers.
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

CREATE TRIGGER audit_events_append_only BEFORE UPDATE ON audit_events
BEGIN
    SELECT RAISE(ABORT, 'audit rows are append-only');
END;

-- Signed statements "the chain at seq had this hash", every N events, on a timer and at
-- shutdown; also written to the log stream so that a copy lives outside the database.
CREATE TABLE audit_checkpoints (
    seq        BIGINT PRIMARY KEY,
    hash       TEXT NOT NULL,
    sig        TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TRIGGER audit_checkpoints_append_only BEFORE UPDATE ON audit_checkpoints
BEGIN
    SELECT RAISE(ABORT, 'audit checkpoints are append-only');
END;

-- At most one row: where the chain starts after a prune (seq S-1 and hash_{S-1}, signed like a
-- checkpoint). Absent: the chain starts at seq 1 from 32 zero bytes.
CREATE TABLE audit_anchor (
    id         BIGINT PRIMARY KEY CHECK (id = 1),
    seq        BIGINT NOT NULL,
    hash       TEXT NOT NULL,
    sig        TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
