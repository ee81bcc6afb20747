-- The outbox's functions (20261206230200_outbox_interface, 20261207003000_jobs_unclear_send) in
-- PL/pgSQL, with the same arguments, results and effects. As SQL functions that write, PostgreSQL
-- planned their statement again at every call: twice in every registration (its job added, then
-- finished). pgbench of a registration's two statements, 8 clients: 829 tps with the SQL functions,
-- 922 with these. PL/pgSQL keeps each statement's plan for the life of the connection.

-- Adds a job unless the subject has one of this kind: due at p_due (now when NULL); leased to the
-- caller for p_lease_ms when given (its first attempt is the caller's), with the start of a send
-- recorded when p_send_open. True when it was added.
CREATE OR REPLACE FUNCTION outbox_enqueue(p_kind text, p_subject uuid, p_due timestamptz DEFAULT NULL,
                                          p_lease_ms float8 DEFAULT NULL, p_send_open boolean DEFAULT false)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO jobs (kind, subject_id, due_at, attempts, locked_until, open_send_at)
    VALUES (p_kind, p_subject, coalesce(p_due, now()), CASE WHEN p_lease_ms IS NULL THEN 0 ELSE 1 END,
            now() + make_interval(secs => p_lease_ms / 1000), CASE WHEN p_send_open THEN now() END)
    ON CONFLICT (kind, subject_id) DO NOTHING;
    RETURN FOUND;
END $$;

-- Deletes a settled job if the claim p_attempts still holds it (the fence). True when it did: the
-- caller records the settlement in the same statement or transaction, else nothing.
CREATE OR REPLACE FUNCTION outbox_finish(p_kind text, p_subject uuid, p_attempts integer)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    DELETE FROM jobs WHERE kind = p_kind AND subject_id = p_subject AND attempts = p_attempts;
    RETURN FOUND;
END $$;

-- Whether the claim p_attempts still holds the job (the fence, for a write made under it).
CREATE OR REPLACE FUNCTION outbox_holds(p_kind text, p_subject uuid, p_attempts integer)
RETURNS boolean LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN EXISTS (SELECT 1 FROM jobs WHERE kind = p_kind AND subject_id = p_subject AND attempts = p_attempts);
END $$;

-- Adds a job due at p_due, or postpones the one the subject has to p_due if it is due earlier and
-- not leased nor parked: work that must not run before p_due (a watch after settlement).
CREATE OR REPLACE FUNCTION outbox_enqueue_not_before(p_kind text, p_subject uuid, p_due timestamptz)
RETURNS boolean LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    INSERT INTO jobs (kind, subject_id, due_at) VALUES (p_kind, p_subject, p_due)
    ON CONFLICT (kind, subject_id) DO UPDATE SET due_at = greatest(jobs.due_at, EXCLUDED.due_at)
    WHERE jobs.parked_at IS NULL AND (jobs.locked_until IS NULL OR jobs.locked_until < now());
    RETURN FOUND;
END $$;
