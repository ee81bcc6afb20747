-- Holds (issue 13): a registration made right before payment, as publiq's guide advises. Its sales
-- are registered at UiTPAS at once (UiTPAS has no reservation: the hold *is* a registered sale);
-- the shop confirms it after payment, or releases it when payment fails; a hold not confirmed in
-- time expires. Released and expired holds have their sales cancelled at UiTPAS through the
-- outbox, like any cancellation.

-- held → confirmed, or held → released, or held → expired; null: not a hold (registered after
-- payment). Each move is one conditional UPDATE, so a confirm racing the expiry has one winner.
ALTER TABLE registrations ADD COLUMN hold_state text
    CHECK (hold_state IN ('held', 'confirmed', 'released', 'expired'));
ALTER TABLE registrations ADD COLUMN hold_expires_at timestamptz;
ALTER TABLE registrations ADD COLUMN hold_ended_at timestamptz;
ALTER TABLE registrations ADD CONSTRAINT registrations_hold_expiry
    CHECK ((hold_state IS NULL) = (hold_expires_at IS NULL));

-- Ending a hold is work for the worker: due when the hold expires (or at once, when released),
-- it expires a hold still held and cancels the sales of one that ended.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('register', 'cancel', 'create_event', 'end_hold'));
