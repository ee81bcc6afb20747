-- The sales ledger: what the shop asked us to register at UiTPAS, what UiTPAS answered, and the
-- work still to do. Exactly once rests on three things here:
--   * the intent (and the shop's Idempotency-Key) is stored before UiTPAS is called;
--   * `ticket_sales.uitpas_ticket_sale_id` is unique, so one UiTPAS sale can never be recorded
--     for two of our lines (the safety net when an ambiguous registration is reconciled);
--   * every call that may still have to happen is a row in `jobs`, deleted only once settled.

-- One order handed to us by the shop backend, registered at UiTPAS as one all-or-nothing batch.
CREATE TABLE registrations (
    id               uuid PRIMARY KEY,
    -- The shop's Idempotency-Key: the same key answers the same registration.
    idempotency_key  text NOT NULL UNIQUE,
    -- The request as received (normalised), to refuse the same key with another body.
    request          jsonb NOT NULL,
    order_id         text NOT NULL,
    -- pending: not (yet) confirmed by UiTPAS; registered: UiTPAS confirmed every sale;
    -- rejected: UiTPAS refused the batch, nothing was registered (see `problem`).
    status           text NOT NULL CHECK (status IN ('pending', 'registered', 'rejected')),
    -- UiTPAS's refusal, as the problem answered to the shop.
    problem          jsonb,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX registrations_order_id ON registrations (order_id);

-- One UiTPAS ticket sale: a ticket of `quantity` N is N rows.
CREATE TABLE ticket_sales (
    id                   uuid PRIMARY KEY,
    registration_id      uuid NOT NULL REFERENCES registrations (id),
    -- The index of this sale in the batch sent to UiTPAS (UiTPAS answers in the same order).
    position             integer NOT NULL,
    -- The index of the ticket in the shop's request that this sale comes from.
    ticket_index         integer NOT NULL,
    event_id             text NOT NULL,
    uitpas_number        text NOT NULL,
    tariff_id            text NOT NULL,
    -- The tariff as UiTPAS confirmed it (null until registered).
    tariff_name          text,
    tariff_price_cents   bigint,
    tariff_type          text,
    regular_price_cents  bigint NOT NULL CHECK (regular_price_cents >= 0),
    regular_price_label  text,
    -- The shop's own references, kept for its reporting.
    external_id          text,
    paid_price_cents     bigint CHECK (paid_price_cents >= 0),
    -- The VAT rate in percent (e.g. 6 or 21).
    vat                  double precision CHECK (vat >= 0 AND vat <= 100),
    uitpas_ticket_sale_id text UNIQUE,
    -- pending → registered → cancelling → cancelled; rejected when the batch was refused.
    status               text NOT NULL
        CHECK (status IN ('pending', 'registered', 'rejected', 'cancelling', 'cancelled')),
    created_at           timestamptz NOT NULL DEFAULT now(),
    registered_at        timestamptz,
    cancel_requested_at  timestamptz,
    cancelled_at         timestamptz,
    UNIQUE (registration_id, position)
);

CREATE INDEX ticket_sales_search ON ticket_sales (created_at, id);
CREATE INDEX ticket_sales_uitpas_number ON ticket_sales (uitpas_number);
CREATE INDEX ticket_sales_event_id ON ticket_sales (event_id);

-- The outbox: a call to UiTPAS that has to happen, or may have happened without us knowing.
-- A worker claims due rows with FOR UPDATE SKIP LOCKED and leases them (`locked_until`) instead of
-- holding a row lock across the HTTP call; `attempts` doubles as the fencing token when settling.
CREATE TABLE jobs (
    id            bigserial PRIMARY KEY,
    -- register: a registration; cancel: a ticket sale.
    kind          text NOT NULL CHECK (kind IN ('register', 'cancel')),
    subject_id    uuid NOT NULL,
    attempts      integer NOT NULL DEFAULT 0,
    due_at        timestamptz NOT NULL DEFAULT now(),
    locked_until  timestamptz,
    last_error    text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (kind, subject_id)
);

CREATE INDEX jobs_due ON jobs (due_at);
