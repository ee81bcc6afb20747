-- Webhooks (issue 13): every outcome that settles after the HTTP answer is told to the shop.
-- An event is stored in the same transaction as the outcome it reports, with a deliver_webhook
-- job (the outbox), so none is lost; it is delivered at least once, signed, and the shop
-- de-duplicates by its id.
CREATE TABLE webhook_events (
    -- The event id, sent as `Webhook-Id` and in the body: the shop's key for de-duplication.
    id            uuid PRIMARY KEY,
    -- registration.registered, registration.rejected, registration.needs_attention, hold.confirmed,
    -- hold.released, hold.expired, ticket_sale.cancelled, ticket_sale.needs_attention,
    -- activity.created
    type          text NOT NULL,
    -- The registration, ticket sale or activity it is about.
    subject_id    uuid NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    attempts      integer NOT NULL DEFAULT 0,
    -- The receiver's last answer (HTTP status), or why there was none.
    last_status   integer,
    last_error    text,
    last_attempt_at timestamptz,
    delivered_at  timestamptz
);

CREATE INDEX webhook_events_created ON webhook_events (created_at, id);
CREATE INDEX webhook_events_undelivered ON webhook_events (created_at) WHERE delivered_at IS NULL;

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('register', 'cancel', 'create_event', 'end_hold', 'deliver_webhook'));
