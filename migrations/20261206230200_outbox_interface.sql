-- The outbox as a job registry (issue 23): the kinds of job are registered in the code by their
-- owners (the ledger, the activities, the webhooks), so the table no longer lists them; a kind is a
-- name. And the statements of other modules that store work in one round trip with what it is
-- about (a registration with its job, say) go through these functions and views of the outbox,
-- never through the table itself: the columns that lease and fence a job are the outbox's alone.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_name CHECK (kind ~ '^[a-z_]+$');

-- Adds a job unless the subject has one of this kind: due at p_due (now when NULL); leased to the
-- caller for p_lease_ms when given (its first attempt is the caller's), with the start of a send
-- recorded when p_send_open. True when it was added.
CREATE FUNCTION outbox_enqueue(p_kind text, p_subject uuid, p_due timestamptz DEFAULT NULL,
                               p_lease_ms float8 DEFAULT NULL, p_send_open boolean DEFAULT false)
RETURNS boolean LANGUAGE sql VOLATILE AS $$
    WITH added AS (
        INSERT INTO jobs (kind, subject_id, due_at, attempts, locked_until, open_send_at)
        VALUES (p_kind, p_subject, coalesce(p_due, now()), CASE WHEN p_lease_ms IS NULL THEN 0 ELSE 1 END,
                now() + make_interval(secs => p_lease_ms / 1000), CASE WHEN p_send_open THEN now() END)
        ON CONFLICT (kind, subject_id) DO NOTHING
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM added)
$$;

-- Deletes a settled job if the claim p_attempts still holds it (the fence). True when it did: the
-- caller records the settlement in the same statement or transaction, else nothing.
CREATE FUNCTION outbox_finish(p_kind text, p_subject uuid, p_attempts integer)
RETURNS boolean LANGUAGE sql VOLATILE AS $$
    WITH done AS (
        DELETE FROM jobs WHERE kind = p_kind AND subject_id = p_subject AND attempts = p_attempts
        RETURNING 1
    )
    SELECT EXISTS (SELECT 1 FROM done)
$$;

-- Whether the claim p_attempts still holds the job (the fence, for a write made under it).
CREATE FUNCTION outbox_holds(p_kind text, p_subject uuid, p_attempts integer)
RETURNS boolean LANGUAGE sql STABLE AS $$
    SELECT EXISTS (SELECT 1 FROM jobs WHERE kind = p_kind AND subject_id = p_subject AND attempts = p_attempts)
$$;

-- The work not settled yet, as other modules may read it: whether it needs a person, and why.
CREATE VIEW outbox_work AS
    SELECT kind, subject_id, created_at, due_at, parked_at, problem, last_error FROM jobs;

-- Webhook deliveries are given up after a bounded number of attempts (their job is parked, for a
-- person or the shop to retry): when, shown as `failed` in the delivery list.
ALTER TABLE webhook_events ADD COLUMN given_up_at timestamptz;
