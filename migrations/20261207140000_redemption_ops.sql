-- Operations on redemptions (issue 24 item 1).
--
-- A redemption given up by a person while its redeem job was parked after a send that may have
-- committed at UiTPAS: it stays pending (one unsettled redemption per pass and reward keeps a
-- look unambiguous) while its job looks for it at UiTPAS; what the job finds is cancelled there
-- (the points come back), and it becomes rejected only once no send of it can still commit.
-- Nothing of it is ever sent again.
ALTER TABLE reward_redemptions ADD COLUMN abandoned_at timestamptz;

-- Reconciliations of a customer's redemptions with UiTPAS (GET /rewards/redeemed per pass),
-- started from the console: read-only reports, never a change.
CREATE TABLE redemption_reconciliations (
    id          uuid PRIMARY KEY,
    customer_id uuid NOT NULL REFERENCES customers (id),
    -- running; complete: every pass read whole; inconclusive: a pass could not be read whole
    -- (its lines are still listed, the note says which); failed: see note.
    status      text NOT NULL CHECK (status IN ('running', 'complete', 'inconclusive', 'failed')),
    note        text,
    calls       integer NOT NULL DEFAULT 0,
    passes      integer NOT NULL DEFAULT 0,
    -- The lines: [{kind, redemptionId?, uitpasRedemptionId?, uitpasNumber (masked), rewardId,
    --              rewardTitle?, status?, redeemedAt?}]
    items       jsonb NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz
);

CREATE INDEX redemption_reconciliations_created ON redemption_reconciliations (created_at);
