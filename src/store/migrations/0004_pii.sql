-- 0004: personal data encrypted at rest. From now on users.email and users.display_name hold
-- XChaCha20-Poly1305 ciphertext under the user's data key (dek_wrapped, itself wrapped under the
-- master key), and users.email_key holds a keyed blind index instead of the lowercased address.
-- Rows written before this migration have dek_wrapped NULL and plaintext columns: gatehouse
-- encrypts them at start-up (data/pii.c, gh_store_users_legacy), then checkpoints and truncates
-- the WAL so no plaintext copy stays behind (secure_delete is on).
ALTER TABLE users ADD COLUMN dek_wrapped TEXT;
