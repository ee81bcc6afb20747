-- Customers (issue 14): one deployment serves several customers, each with its own publiq client
-- credentials (publiq issues one set per customer), its shop and browser keys, allowed origins and
-- the organizers it may act for. Everything stored before this migration belongs to the default
-- customer, whose credentials and keys come from the environment as before.

CREATE TABLE customers (
    id                     uuid PRIMARY KEY,
    name                   text NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 100),
    -- Which of publiq's environments the credentials belong to (it picks the hosts).
    environment            text NOT NULL CHECK (environment IN ('test', 'production')),
    -- publiq client credentials; null for the default customer (from the environment). The secret
    -- is encrypted (XChaCha20-Poly1305, key CUSTOMER_SECRETS_KEY, the customer id as associated
    -- data): nonce || ciphertext. Never stored in clear.
    client_id              text,
    client_secret          bytea,
    -- Bumped at every rotation of the credentials: replicas make a new token cache when it changes.
    credentials_version    integer NOT NULL DEFAULT 1,
    -- Where the customer's shop receives webhooks, and the secret that signs them (encrypted like
    -- the client secret); null: none (the default customer's come from WEBHOOK_URL/WEBHOOK_SECRET).
    webhook_url            text,
    webhook_secret         bytea,
    -- Browser origins allowed to call the public endpoints with this customer's keys.
    allowed_origins        text[] NOT NULL DEFAULT '{}',
    -- GET /permissions of the customer's client, as last read, and when.
    permissions            jsonb,
    permissions_read_at    timestamptz,
    permissions_error      text,
    disabled_at            timestamptz,
    created_at             timestamptz NOT NULL DEFAULT now(),
    updated_at             timestamptz NOT NULL DEFAULT now(),
    CHECK ((client_id IS NULL) = (client_secret IS NULL))
);

-- The default customer: the one the environment variables describe.
INSERT INTO customers (id, name, environment) VALUES ('00000000-0000-0000-0000-000000000000', 'default', 'test');

-- A customer's keys: secret keys for the shop backend, publishable keys for the browser. Only the
-- SHA-256 of a key is stored (a copy of this table lets nobody in); `hint` is its first characters,
-- to tell keys apart. A rotation adds a key, then revokes the old one: both work in between.
CREATE TABLE customer_keys (
    id           uuid PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers (id),
    kind         text NOT NULL CHECK (kind IN ('secret', 'publishable')),
    key_hash     bytea NOT NULL UNIQUE,
    hint         text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    revoked_at   timestamptz
);

CREATE INDEX customer_keys_customer ON customer_keys (customer_id, created_at);

-- Short-lived checkout tokens, minted by a shop backend for one cart: the events it may ask about,
-- a budget of distinct passes, an expiry. Only the SHA-256 of the token is stored.
CREATE TABLE checkout_tokens (
    token_hash   bytea PRIMARY KEY,
    customer_id  uuid NOT NULL REFERENCES customers (id),
    event_ids    text[] NOT NULL,
    max_passes   integer NOT NULL CHECK (max_passes > 0),
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX checkout_tokens_expiry ON checkout_tokens (expires_at);

-- The passes a checkout token has looked up (an HMAC of the number, never the number): its budget
-- counts distinct passes across replicas.
CREATE TABLE checkout_token_passes (
    token_hash   bytea NOT NULL REFERENCES checkout_tokens (token_hash) ON DELETE CASCADE,
    pass_digest  bytea NOT NULL,
    PRIMARY KEY (token_hash, pass_digest)
);

-- Whose is what.
ALTER TABLE registrations ADD COLUMN customer_id uuid NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000000' REFERENCES customers (id);
ALTER TABLE registrations ALTER COLUMN customer_id DROP DEFAULT;
-- An idempotency key is the shop's: two customers may use the same one.
ALTER TABLE registrations DROP CONSTRAINT registrations_idempotency_key_key;
ALTER TABLE registrations ADD CONSTRAINT registrations_customer_idempotency_key UNIQUE (customer_id, idempotency_key);
CREATE INDEX registrations_customer_created ON registrations (customer_id, created_at);

ALTER TABLE activities ADD COLUMN customer_id uuid NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000000' REFERENCES customers (id);
ALTER TABLE activities ALTER COLUMN customer_id DROP DEFAULT;
ALTER TABLE activities DROP CONSTRAINT activities_shop_activity_id_key;
ALTER TABLE activities ADD CONSTRAINT activities_customer_shop_activity_id UNIQUE (customer_id, shop_activity_id);

ALTER TABLE webhook_events ADD COLUMN customer_id uuid NOT NULL
    DEFAULT '00000000-0000-0000-0000-000000000000' REFERENCES customers (id);
ALTER TABLE webhook_events ALTER COLUMN customer_id DROP DEFAULT;
