-- 0006: the erasure ledger. On SQLite it stays where it has always been, in the file beside the
-- database ("<db>-erasures", fsynced, outside every backup: see gh_store_user_erase), so nothing
-- changes in this schema. The version exists so that both backends number their migrations
-- alike (src/store/migrations_pg/0006_erasure_ledger.sql creates the PostgreSQL table).
SELECT 1;
