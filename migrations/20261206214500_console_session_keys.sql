-- A console session remembers the operator key it was made with (its SHA-256 only), so that a key
-- removed from OPERATOR_KEYS ends the sessions made with it, and so that an operator's actions can
-- be traced to a key in the logs (issue 22). Sessions made before this cannot tell their key: they
-- end now, and their operators log in again.
ALTER TABLE console_sessions ADD COLUMN key_hash text;
DELETE FROM console_sessions WHERE key_hash IS NULL;
ALTER TABLE console_sessions ALTER COLUMN key_hash SET NOT NULL;
