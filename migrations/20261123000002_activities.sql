-- Shop activities registered once as UiTdatabank events, and check-ins of ticket sales.

-- One shop activity (a camp, a course, a show) and the UiTdatabank event made for it.
CREATE TABLE activities (
    id                uuid PRIMARY KEY,
    -- The shop's own id of the activity: one event per activity, ever.
    shop_activity_id  text NOT NULL UNIQUE,
    -- The activity as received (normalised), to tell a repeat from a change.
    request           jsonb NOT NULL,
    -- The Entry API body sent to POST /events.
    event_body        jsonb NOT NULL,
    -- pending: not (yet) confirmed by UiTdatabank; created: the event exists; rejected: refused.
    status            text NOT NULL CHECK (status IN ('pending', 'created', 'rejected')),
    event_id          text UNIQUE,
    event_url         text,
    problem           jsonb,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);

-- Creating an event is work for the replay worker too.
ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check CHECK (kind IN ('register', 'cancel', 'create_event'));

-- When the passholder was checked in at the event with this ticket (POST /checkins).
ALTER TABLE ticket_sales ADD COLUMN checked_in_at timestamptz;
