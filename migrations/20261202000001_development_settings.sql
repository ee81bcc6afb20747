-- What a development run keeps from one start to the next (src/dev.rs): the shop key it made on its
-- first start without SHOP_API_KEYS, so that the key printed at every start stays the same. Stays
-- empty in production, which requires SHOP_API_KEYS.
CREATE TABLE development_settings (
    name text PRIMARY KEY,
    value text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
