-- At the door (issue 16): the UiTPAS check-in of a ticket sale, so that cancelling (refunding) a
-- checked-in sale can undo it at UiTPAS (DELETE /checkins/{checkinId}).

-- The id UiTPAS gave the check-in (POST /checkins answers it; else found with GET /checkins).
-- UiTPAS checks a passholder in once per event and day, so the tickets of one pass at one event
-- checked in on one day share one check-in, and its id. Null for a check-in recorded before this
-- migration: the cancellation finds it with GET /checkins.
ALTER TABLE ticket_sales ADD COLUMN uitpas_checkin_id text;
-- When UiTPAS confirmed the check-in undone (the cancellation of the sale, before the sale itself
-- is cancelled); `checked_in_at` is cleared at the same time.
ALTER TABLE ticket_sales ADD COLUMN checkin_undone_at timestamptz;

-- The tickets that share a check-in.
CREATE INDEX ticket_sales_uitpas_checkin_id ON ticket_sales (uitpas_checkin_id)
    WHERE uitpas_checkin_id IS NOT NULL;
