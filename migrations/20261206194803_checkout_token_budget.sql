-- A checkout token's budget as one counter, taken in one conditional update
-- (`passes_used < max_passes`): counting the rows of checkout_token_passes beside a row lock
-- read a snapshot taken before the lock wait, so parallel lookups each saw room (issue 21).
ALTER TABLE checkout_tokens ADD COLUMN passes_used integer NOT NULL DEFAULT 0;

UPDATE checkout_tokens t
-- A token overdrawn by the race counts as spent, never as more than its budget.
SET passes_used = LEAST(max_passes,
    (SELECT count(*) FROM checkout_token_passes p WHERE p.token_hash = t.token_hash));

ALTER TABLE checkout_tokens ADD CONSTRAINT checkout_tokens_passes_within_budget
    CHECK (passes_used >= 0 AND passes_used <= max_passes);
