-- 0006 (PostgreSQL): the erasure ledger. SQLite keeps it in a file beside the database
-- ("<db>-erasures", outside every backup); several hosts need it in the database. gh_store_user_erase
-- deletes the user row and inserts its id here in one transaction; `gatehouse backup restore`
-- keeps the live database's ledger across the restore and deletes, in the same transaction, every
-- restored user whose id is in it, so users erased after a backup stay erased. Ids only (random,
-- pseudonymous) and the time: nothing that identifies a person. No foreign key: the user row is
-- gone. The runtime role needs SELECT and INSERT (docs/deployment.md), never UPDATE or DELETE.
CREATE TABLE erasure_ledger (
    user_id   TEXT PRIMARY KEY,
    erased_at BIGINT NOT NULL
);
