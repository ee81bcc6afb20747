-- Financial report exports started from the console (issue 24): UiTPAS makes and keeps the
-- reports (for a limited time); this table remembers which exports were started, for which
-- customer's organizer and by which operator, so that the console lists them and reads their
-- status from UiTPAS when it is shown.
CREATE TABLE financial_reports (
    id               uuid PRIMARY KEY,
    -- The customer whose credentials started it (and read it): the default customer is the nil uuid.
    customer_id      uuid NOT NULL,
    organizer_id     text NOT NULL,
    uitpas_report_id bigint NOT NULL,
    start_date       date NOT NULL,
    end_date         date NOT NULL,
    -- The operator key's hint (console::auth::operator_hint), as the logs name it.
    operator         text NOT NULL,
    -- STARTED, AVAILABLE, FAILED (or what else UiTPAS said), as last read.
    last_status      text NOT NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    UNIQUE (customer_id, organizer_id, uitpas_report_id)
);

CREATE INDEX financial_reports_newest ON financial_reports (created_at DESC);
