-- Reconciliation per customer (issue 22): each customer's sales of an event are compared with the
-- list UiTPAS gives that customer's credentials, so a run belongs to one customer. Runs made before
-- this have no customer (they used the first customer that sold the event).
ALTER TABLE reconciliation_runs ADD COLUMN customer_id uuid;

-- Every sale UiTPAS lists is on exactly one line, so a report adds up:
--   unsettled        known here, listed at UiTPAS, while the ledger's work on it has not settled
--                    (a cancellation in flight or one that needs a person, a registration pending)
--   other_customer   a sale another customer of this service registered (its own run judges it)
ALTER TABLE reconciliation_items DROP CONSTRAINT reconciliation_items_kind_check;
ALTER TABLE reconciliation_items ADD CONSTRAINT reconciliation_items_kind_check
    CHECK (kind IN ('matched', 'missing_at_uitpas', 'active_at_uitpas', 'unsettled',
                    'unknown_ours', 'other_customer', 'unknown_other'));
