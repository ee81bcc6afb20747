-- Nothing a job sent can have committed upstream: every send was answered without committing, or
-- a complete look after the settle window found none. With no send open (open_send_at NULL), the
-- next attempt need not look before sending (issue 27: a 503 on a busy event must not wait for a
-- look that cannot conclude). A send that is not answered, or a park, clears it.
ALTER TABLE jobs ADD COLUMN nothing_upstream boolean NOT NULL DEFAULT false;
