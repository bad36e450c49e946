-- 0005 (PostgreSQL): the admin role, as src/store/migrations/0005_admin.sql.
ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0 CHECK (is_admin IN (0, 1));
