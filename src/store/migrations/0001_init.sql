-- 0001: users, sessions, refresh tokens, signing keys, wrapped working keys.
-- Types are kept to the subset SQLite and PostgreSQL share (TEXT, BIGINT, BLOB or BYTEA later).
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
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL,
    expires_at   BIGINT NOT NULL,
    revoked_at   BIGINT,
    revoke_reason TEXT
);
CREATE INDEX sessions_user ON sessions(user_id);

-- Refresh tokens are stored only as a keyed BLAKE2b hash; used ones are kept (until their
-- session ends) so that a replay is recognised and revokes the whole session.
CREATE TABLE refresh_tokens (
    token_hash  TEXT PRIMARY KEY,
    session_id  TEXT NOT NULL REFERENCES sessions(id) ON DELETE CASCADE,
    created_at  BIGINT NOT NULL,
    used_at     BIGINT
);
CREATE INDEX refresh_tokens_session ON refresh_tokens(session_id);

-- Ed25519 signing keys; the private key is wrapped (XChaCha20-Poly1305) under the master key.
CREATE TABLE signing_keys (
    kid          TEXT PRIMARY KEY,
    alg          TEXT NOT NULL,
    public_key   TEXT NOT NULL,
    wrapped_private TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    activates_at BIGINT NOT NULL,
    generation   BIGINT NOT NULL UNIQUE, -- insertion order: breaks activates_at ties
    retired_at   BIGINT,
    revoked_at   BIGINT
);

-- Random working keys (refresh-token hashing key, ...), each wrapped under the master key.
CREATE TABLE wrapped_keys (
    name        TEXT PRIMARY KEY,
    wrapped     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);

-- A counter bumped whenever keys or revocations change, polled by running instances.
CREATE TABLE change_counters (
    name  TEXT PRIMARY KEY,
    value BIGINT NOT NULL
);
INSERT INTO change_counters(name, value) VALUES ('keys', 1);
