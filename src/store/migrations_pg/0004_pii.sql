-- 0004 (PostgreSQL): personal data encrypted at rest, as src/store/migrations/0004_pii.sql.
-- A PostgreSQL database is always created by this release, so it never holds plaintext rows;
-- the column is added all the same so that both schemas stay the same.
ALTER TABLE users ADD COLUMN dek_wrapped TEXT;
