-- 0001 (PostgreSQL): users, sessions, refresh tokens, signing keys, wrapped working keys. The same
-- tables and columns as src/store/migrations/0001_init.sql; run by the owner role
-- (`gatehouse migrate`), each migration in one transaction.
CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    email         TEXT NOT NULL,
    email_key     TEXT NOT NULL UNIQUE,
    display_name  TEXT,
    password_hash TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    updated_at    BIGINT NOT NULL,
    last_login_at BIGINT
);

CREATE TABLE sessions (
    id            TEXT PRIMARY KEY,
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at    BIGINT NOT NULL,
    last_used_at  BIGINT NOT NULL,
    expires_at    BIGINT NOT NULL,
    revoked_at    BIGINT,
    revoke_reason TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Refresh tokens are stored only as a keyed BLAKE2b hash; used ones are kept (until their
-- session ends) so that a replay is recognised and revokes the whole session. Rotation locks the
-- token's row (SELECT ... FOR UPDATE): of two instances presenting it at once, one wins.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

CREATE TABLE signing_keys (
    kid             TEXT PRIMARY KEY,
    alg             TEXT NOT NULL,
    public_key      TEXT NOT NULL,
    wrapped_private TEXT NOT NULL,
    created_at      BIGINT NOT NULL,
    activates_at    BIGINT NOT NULL,
    generation      BIGINT NOT NULL UNIQUE,
    retired_at      BIGINT,
    revoked_at      BIGINT
);

CREATE TABLE wrapped_keys (
    name        TEXT PRIMARY KEY,
    wrapped     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- Counters that running instances poll. 'keys': signing keys changed. 'revocations': the
-- revocation epoch (SQLite keeps it in a shared mapping beside the file; several hosts need it in
-- the database), bumped in the same transaction as every revocation.
CREATE TABLE change_counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO change_counters(name, value) VALUES ('keys', 1), ('revocations', 1);
