-- A checkout token's own rate limit (issue 22): requests carrying a token are counted against the
-- token's budget, not against the address they come from, so that buyers behind one address (a
-- library, an OCMW office) each have their own. The shop may set it when it mints the token, up
-- to CHECKOUT_TOKEN_MAX_RATE_LIMIT; null: PUBLIC_RATE_LIMIT, as before.
ALTER TABLE checkout_tokens ADD COLUMN rate_limit integer CHECK (rate_limit > 0);
