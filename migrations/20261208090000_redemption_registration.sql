-- The registration a redemption was made with (a reward in POST /v1/registrations), so that the
-- console can tally redemptions per event of their orders' sales (issue 24 item 1). A redemption
-- made on its own has none. Those made before this column kept it in their request.
ALTER TABLE reward_redemptions ADD COLUMN registration_id uuid REFERENCES registrations (id);

UPDATE reward_redemptions SET registration_id = (request ->> 'registrationId')::uuid
WHERE request ? 'registrationId';

CREATE INDEX reward_redemptions_registration ON reward_redemptions (registration_id)
    WHERE registration_id IS NOT NULL;
