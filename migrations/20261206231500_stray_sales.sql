-- Sales UiTPAS holds with one of our markers that the ledger does not record (issue 27): a double
-- of a registered sale (a send that committed after its order had settled: later than the settle
-- window, or written by a process paused past its lease), or a sale of an order that ended
-- without it (rejected, or a hold released or expired). Found by the watch after settlement (or
-- the daily reconciliation) and cancelled at UiTPAS through the outbox.
CREATE TABLE stray_sales (
    id                    uuid PRIMARY KEY,
    -- Our sale whose marker it carries.
    ticket_sale_id        uuid NOT NULL REFERENCES ticket_sales (id),
    uitpas_ticket_sale_id text NOT NULL UNIQUE,
    found_at              timestamptz NOT NULL DEFAULT now(),
    cancelled_at          timestamptz
);

CREATE INDEX stray_sales_of_sale ON stray_sales (ticket_sale_id);
