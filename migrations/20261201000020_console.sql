-- The operator console (issue 15): its sessions, and the reconciliation of the ledger with UiTPAS.

-- A logged-in operator. The cookie holds a random token; only its SHA-256 is stored, so a copy of
-- this table logs nobody in. `csrf_token` is put in every form of the session and checked on POST.
CREATE TABLE console_sessions (
    token_hash  text PRIMARY KEY,
    csrf_token  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL
);

CREATE INDEX console_sessions_expiry ON console_sessions (expires_at);

-- One comparison of the ledger with UiTPAS's list of an event's active sales (GET /ticket-sales).
-- A daily run makes one per event the ledger knows; the console makes one for a single event.
CREATE TABLE reconciliation_runs (
    id            uuid PRIMARY KEY,
    event_id      text NOT NULL,
    -- daily: the scheduled run; console: asked by an operator.
    trigger       text NOT NULL CHECK (trigger IN ('daily', 'console')),
    -- running → complete (every sale of the event read), or inconclusive (the list could not be
    -- read whole within the bound on calls, or moved too much), or failed (UiTPAS answered an error).
    status        text NOT NULL CHECK (status IN ('running', 'complete', 'inconclusive', 'failed')),
    note          text,
    -- Calls to UiTPAS this report took.
    calls         integer NOT NULL DEFAULT 0,
    -- Sales UiTPAS listed for the event (distinct ids).
    uitpas_sales  integer NOT NULL DEFAULT 0,
    created_at    timestamptz NOT NULL DEFAULT now(),
    finished_at   timestamptz
);

CREATE INDEX reconciliation_runs_event ON reconciliation_runs (event_id, created_at DESC);

-- One line of a report: a sale of the ledger, of UiTPAS, or of both.
--   matched              registered here, active at UiTPAS under the same id
--   missing_at_uitpas    registered here, absent from UiTPAS's list of active sales: cancelled at
--                        UiTPAS (a box office, the organizer) or never there
--   active_at_uitpas     cancelled here, still active at UiTPAS
--   unknown_ours         at UiTPAS with the marker of one of our sales but another id: a double
--                        (or a registration still pending here, that the worker will adopt)
--   unknown_other        at UiTPAS without a marker of ours: a box office or another client
CREATE TABLE reconciliation_items (
    id                     bigserial PRIMARY KEY,
    run_id                 uuid NOT NULL REFERENCES reconciliation_runs (id) ON DELETE CASCADE,
    kind                   text NOT NULL CHECK (kind IN ('matched', 'missing_at_uitpas', 'active_at_uitpas',
                                                         'unknown_ours', 'unknown_other')),
    ticket_sale_id         uuid,
    uitpas_ticket_sale_id  text,
    -- Masked (first and last four digits): the report is for finance, not for finding a person.
    uitpas_number          text,
    tariff_type            text,
    regular_price_cents    bigint,
    tariff_price_cents     bigint,
    label                  text,
    created_at             timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX reconciliation_items_run ON reconciliation_items (run_id, kind);

-- The daily run's claim: the replica that inserts the day's row runs it, the others do not.
CREATE TABLE reconciliation_days (
    day         date PRIMARY KEY,
    created_at  timestamptz NOT NULL DEFAULT now()
);
