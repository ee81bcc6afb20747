-- Activities change after their event exists (issue 16): every accepted change of an activity is a
-- version, and one outbox job per activity (update_event) brings its UiTdatabank event to the
-- latest version. An activity may also be linked to an event that exists already, be given an
-- event status (cancelled, postponed) or be deleted (the event soft-deleted).

-- Every version of an activity as it was accepted: what its event should be at that version. The
-- job compares the version UiTdatabank has with the latest one to choose its calls.
CREATE TABLE activity_versions (
    activity_id   uuid NOT NULL REFERENCES activities (id),
    version       integer NOT NULL CHECK (version >= 1),
    -- The activity in normal form (as activities.request), or {"eventId": …} for a linked event.
    request       jsonb NOT NULL,
    -- The Entry API body of the event's details, without its status and hidden label; null for a
    -- linked event (its details are the organizer's, never overwritten).
    event_body    jsonb,
    -- The Entry API status asked for ({type, reason}); null: never set (the event is Available).
    event_status  jsonb,
    deleted       boolean NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (activity_id, version)
);

-- The activity row holds the latest version (request, event_body, event_status, status).
ALTER TABLE activities
    -- The latest accepted version.
    ADD COLUMN version integer NOT NULL DEFAULT 1,
    -- The version UiTdatabank has; null while it has no event of this activity.
    ADD COLUMN event_version integer,
    -- The version last sent with POST /events (an answer may have been lost after it committed).
    ADD COLUMN sent_version integer,
    -- The event existed before (linked by the shop), rather than made by this service.
    ADD COLUMN linked boolean NOT NULL DEFAULT false,
    ADD COLUMN event_status jsonb,
    -- The version `problem` refused (UiTdatabank answered 400 to it).
    ADD COLUMN problem_version integer;
ALTER TABLE activities ALTER COLUMN event_body DROP NOT NULL;
-- An event belongs to one activity at a time: once that activity is deleted (a linked event is
-- left to its organizer), the event may be linked again.
ALTER TABLE activities DROP CONSTRAINT activities_event_id_key;
CREATE UNIQUE INDEX activities_live_event_id ON activities (event_id) WHERE status <> 'deleted';
-- deleted: the shop deleted the activity (its event is soft-deleted, or there was none).
ALTER TABLE activities DROP CONSTRAINT activities_status_check;
ALTER TABLE activities ADD CONSTRAINT activities_status_check
    CHECK (status IN ('pending', 'created', 'rejected', 'deleted'));

-- What existed is version 1; an event made before has it. A pending one may have been sent already.
INSERT INTO activity_versions (activity_id, version, request, event_body, created_at)
    SELECT id, 1, request, event_body, created_at FROM activities;
UPDATE activities SET event_version = 1 WHERE status = 'created';
UPDATE activities SET sent_version = 1 WHERE status = 'pending';
UPDATE activities SET problem_version = 1 WHERE status = 'rejected';

ALTER TABLE jobs DROP CONSTRAINT jobs_kind_check;
ALTER TABLE jobs ADD CONSTRAINT jobs_kind_check
    CHECK (kind IN ('register', 'cancel', 'create_event', 'update_event', 'end_hold', 'deliver_webhook'));
