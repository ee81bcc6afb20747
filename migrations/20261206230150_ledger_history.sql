-- The history of every registration and ticket sale, for the console's detail pages (issue 22):
-- received, sent to UiTPAS, answered, retried, parked, settled, cancelled, and by whom.
--
-- The ledger's own moves are recorded by triggers on the rows that carry them, so that every
-- replica and every code path (an HTTP request, the worker, a replay) records them in the same
-- transaction as the move itself, and no code path can forget to. Operators' actions are recorded
-- by the console, with the hint of the key that did them (`actor`: `operator=sha256:<8 hex>`).
-- The triggers on `jobs` fire only on the columns named (a lease renewal changes none of them).
CREATE TABLE ledger_history (
    id               bigserial PRIMARY KEY,
    -- The registration the entry belongs to (a sale's entries too).
    registration_id  uuid NOT NULL,
    -- The ticket sale, for an entry about one sale (its status, its cancellation).
    ticket_sale_id   uuid,
    -- What happened: received, sent, attempt_failed, parked, unparked, registered, rejected,
    -- hold_<state>, sale_<status>, and the operators' retry, abandon, cancel.
    what             text NOT NULL,
    -- Who did it: an operator's key hint; NULL for the shop or the service itself.
    actor            text,
    -- What goes with it: UiTPAS's problem, the error of an attempt, the attempt's number, …
    detail           jsonb NOT NULL DEFAULT '{}',
    created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX ledger_history_registration ON ledger_history (registration_id, id);
CREATE INDEX ledger_history_sale ON ledger_history (ticket_sale_id, id) WHERE ticket_sale_id IS NOT NULL;

CREATE FUNCTION ledger_history_registration() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO ledger_history (registration_id, what, detail)
        VALUES (NEW.id, 'received', jsonb_build_object('orderId', NEW.order_id));
        RETURN NEW;
    END IF;
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO ledger_history (registration_id, what, detail)
        VALUES (NEW.id, NEW.status, jsonb_strip_nulls(jsonb_build_object('problem', NEW.problem)));
    END IF;
    IF NEW.hold_state IS DISTINCT FROM OLD.hold_state AND NEW.hold_state IS NOT NULL THEN
        INSERT INTO ledger_history (registration_id, what) VALUES (NEW.id, 'hold_' || NEW.hold_state);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER ledger_history_registration_insert AFTER INSERT ON registrations
    FOR EACH ROW EXECUTE FUNCTION ledger_history_registration();
CREATE TRIGGER ledger_history_registration_update AFTER UPDATE OF status, hold_state ON registrations
    FOR EACH ROW EXECUTE FUNCTION ledger_history_registration();

CREATE FUNCTION ledger_history_sale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        INSERT INTO ledger_history (registration_id, ticket_sale_id, what, detail)
        VALUES (NEW.registration_id, NEW.id, 'sale_' || NEW.status,
                jsonb_strip_nulls(jsonb_build_object('uitpasTicketSaleId', NEW.uitpas_ticket_sale_id)));
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER ledger_history_sale_update AFTER UPDATE OF status ON ticket_sales
    FOR EACH ROW EXECUTE FUNCTION ledger_history_sale();

-- A job's subject is a registration (register) or a ticket sale (cancel); an end-hold job's moves
-- are the hold's, recorded above.
CREATE FUNCTION ledger_history_job() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    reg uuid;
    sale uuid;
    entry text;
    info jsonb;
BEGIN
    IF NEW.kind = 'cancel' THEN
        sale := NEW.subject_id;
        SELECT registration_id INTO reg FROM ticket_sales WHERE id = NEW.subject_id;
    ELSE
        reg := NEW.subject_id;
    END IF;
    IF reg IS NULL THEN
        RETURN NEW;
    END IF;
    info := jsonb_build_object('job', NEW.kind, 'attempt', NEW.attempts);
    IF TG_OP = 'INSERT' THEN
        -- A job stored with its first send under way (the request that stored it sends at once).
        IF NEW.open_send_at IS NOT NULL THEN
            INSERT INTO ledger_history (registration_id, ticket_sale_id, what, detail) VALUES (reg, sale, 'sent', info);
        END IF;
        RETURN NEW;
    END IF;
    IF NEW.open_send_at IS NOT NULL AND NEW.open_send_at IS DISTINCT FROM OLD.open_send_at THEN
        INSERT INTO ledger_history (registration_id, ticket_sale_id, what, detail) VALUES (reg, sale, 'sent', info);
    END IF;
    IF OLD.parked_at IS NULL AND NEW.parked_at IS NOT NULL THEN
        entry := 'parked';
        info := info || jsonb_strip_nulls(jsonb_build_object('problem', NEW.problem, 'error', NEW.last_error));
    ELSIF OLD.parked_at IS NOT NULL AND NEW.parked_at IS NULL THEN
        entry := 'unparked';
    ELSIF OLD.locked_until IS NOT NULL AND NEW.locked_until IS NULL AND NEW.parked_at IS NULL THEN
        -- A lease given back: the attempt settled nothing and waits for its backoff.
        entry := 'attempt_failed';
        info := info || jsonb_strip_nulls(jsonb_build_object('error', NEW.last_error, 'dueAt', NEW.due_at));
    END IF;
    IF entry IS NOT NULL THEN
        INSERT INTO ledger_history (registration_id, ticket_sale_id, what, detail) VALUES (reg, sale, entry, info);
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER ledger_history_job_insert AFTER INSERT ON jobs
    FOR EACH ROW WHEN (NEW.kind IN ('register', 'cancel') AND NEW.open_send_at IS NOT NULL)
    EXECUTE FUNCTION ledger_history_job();
CREATE TRIGGER ledger_history_job_update AFTER UPDATE OF open_send_at, parked_at, locked_until ON jobs
    FOR EACH ROW WHEN (NEW.kind IN ('register', 'cancel')
                       AND (NEW.open_send_at IS DISTINCT FROM OLD.open_send_at
                            OR NEW.parked_at IS DISTINCT FROM OLD.parked_at
                            OR (OLD.locked_until IS NOT NULL AND NEW.locked_until IS NULL)))
    EXECUTE FUNCTION ledger_history_job();

-- What is known of the registrations and sales made before this: when they came and where they are.
INSERT INTO ledger_history (registration_id, what, detail, created_at)
SELECT id, 'received', jsonb_build_object('orderId', order_id), created_at FROM registrations;
INSERT INTO ledger_history (registration_id, what, detail, created_at)
SELECT id, status, jsonb_strip_nulls(jsonb_build_object('problem', problem)), updated_at
FROM registrations WHERE status <> 'pending';
INSERT INTO ledger_history (registration_id, ticket_sale_id, what, detail, created_at)
SELECT registration_id, id, 'sale_' || status,
       jsonb_strip_nulls(jsonb_build_object('uitpasTicketSaleId', uitpas_ticket_sale_id)),
       coalesce(cancelled_at, cancel_requested_at, registered_at, created_at)
FROM ticket_sales WHERE status <> 'pending';
