-- The outbox learns two things (issue 12):
--   * when a call that is not idempotent (POST /ticket-sales) may still commit at UiTPAS: the start
--     of the latest such send whose outcome is unknown. The work is not sent again before
--     SETTLE_WINDOW has passed since then; until that moment the worker only looks.
--   * when work cannot succeed without a person (a 401 with a fresh token, a 403, a cancellation
--     refused): the job is parked ("needs attention") with UiTPAS's problem, and is not claimed
--     until someone retries it.

ALTER TABLE jobs ADD COLUMN open_send_at timestamptz;
ALTER TABLE jobs ADD COLUMN parked_at timestamptz;
ALTER TABLE jobs ADD COLUMN problem jsonb;
ALTER TABLE jobs ADD COLUMN updated_at timestamptz NOT NULL DEFAULT now();

-- Claims look only at work that is not parked.
DROP INDEX jobs_due;
CREATE INDEX jobs_claimable ON jobs (due_at) WHERE parked_at IS NULL;
