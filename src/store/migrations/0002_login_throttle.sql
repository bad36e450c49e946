-- 0002: failed-login budgets. One row per subject: 'u:<user id>' is the account's budget,
-- 'd:<device id>' the separate budget of a device that has signed in to that account before
-- (OWASP device-cookie pattern), so that an attacker elsewhere cannot lock the owner out.
-- 'x:unknown' (user_id NULL) absorbs failures for unknown emails, so that every failed login
-- does the same storage work whether or not the account exists.
CREATE TABLE login_throttle (
    subject      TEXT PRIMARY KEY,
    user_id      TEXT REFERENCES users(id) ON DELETE CASCADE,
    failures     BIGINT NOT NULL,
    lock_level   BIGINT NOT NULL,
    locked_until BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL
);
CREATE INDEX login_throttle_user ON login_throttle(user_id);
