-- Whether a send of the job ever ended without a clear answer (issue 27): such a send may commit
-- even later than its window, so the work it settles is watched for strays however clean its
-- last claim looked (a complete look after the window, an answered send since).
ALTER TABLE jobs ADD COLUMN unclear_send boolean NOT NULL DEFAULT false;

-- Adds a job due at p_due, or postpones the one the subject has to p_due if it is due earlier and
-- not leased nor parked: work that must not run before p_due (a watch after settlement).
CREATE FUNCTION outbox_enqueue_not_before(p_kind text, p_subject uuid, p_due timestamptz)
RETURNS boolean LANGUAGE sql VOLATILE AS $$
    WITH added AS (
        INSERT INTO jobs (kind, subject_id, due_at) VALUES (p_kind, p_subject, p_due)
        ON CONFLICT (kind, subject_id) DO UPDATE SET due_at = greatest(jobs.due_at, EXCLUDED.due_at)
        WHERE jobs.parked_at IS NULL AND (jobs.locked_until IS NULL OR jobs.locked_until < now())
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM added)
$$;
