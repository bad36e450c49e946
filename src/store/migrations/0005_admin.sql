-- 0005: the admin role. An admin may use the /v1/admin/* console API (look up accounts, unlock,
-- revoke sessions, read the audit trail). Granted and removed only by the operator
-- (`gatehouse users create-admin EMAIL [--promote]`, `gatehouse users demote ID`); read from
-- here on every admin request, never from a token, so that a demotion takes effect at once.
ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1));
