-- 0002 (PostgreSQL): failed-login budgets, as src/store/migrations/0002_login_throttle.sql.
CREATE TABLE login_throttle (
    subject      TEXT PRIMARY KEY,
    user_id      TEXT REFERENCES users(id) ON DELETE CASCADE,
    failures     BIGINT NOT NULL,
    lock_level   BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX login_throttle_user ON login_throttle(user_id);
