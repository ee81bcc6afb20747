-- Rewards redeemed with UiTPAS points, once per Idempotency-Key: the ledger of redemptions.
CREATE TABLE reward_redemptions (
    id               uuid PRIMARY KEY,
    customer_id      uuid NOT NULL REFERENCES customers (id),
    -- The shop's Idempotency-Key: the same key answers the same redemption.
    idempotency_key  text NOT NULL,
    -- The request as received (normalised), to refuse the same key with another body.
    request          jsonb NOT NULL,
    reward_id        text NOT NULL,
    uitpas_number    text NOT NULL,
    -- The shop's own reference (an order id), if it gave one.
    order_id         text,
    -- pending: not (yet) confirmed by UiTPAS; redeemed: UiTPAS confirmed it;
    -- rejected: UiTPAS refused it, nothing was redeemed (see `problem`);
    -- cancelling: its cancellation is under way; cancelled: the points came back.
    status           text NOT NULL CHECK (status IN ('pending', 'redeemed', 'rejected', 'cancelling', 'cancelled')),
    -- UiTPAS's id of the redemption (`RedeemedReward.id`), once known.
    uitpas_redemption_id text UNIQUE,
    reward_title     text,
    points           double precision,
    redeem_code      text,
    redeem_info      jsonb,
    problem          jsonb,
    -- A hold before payment: held until confirmed after payment; released (payment failed) or
    -- expired (not confirmed by hold_expires_at), it is cancelled at UiTPAS. NULL: no hold.
    hold_state       text CHECK (hold_state IN ('held', 'confirmed', 'released', 'expired')),
    hold_expires_at  timestamptz,
    hold_ended_at    timestamptz,
    redeemed_at      timestamptz,
    cancelled_at     timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT reward_redemptions_customer_key UNIQUE (customer_id, idempotency_key),
    CONSTRAINT reward_redemptions_hold_expires CHECK ((hold_state IS NULL) = (hold_expires_at IS NULL)),
    CONSTRAINT reward_redemptions_redeemed_known
        CHECK (status NOT IN ('redeemed', 'cancelling', 'cancelled') OR uitpas_redemption_id IS NOT NULL)
);

-- UiTPAS takes no reference of ours with a redemption: a lost answer is found among the pass's
-- redemptions of the reward. One unsettled redemption per pass and reward at a time keeps that
-- finding unambiguous among ours.
CREATE UNIQUE INDEX reward_redemptions_one_pending
    ON reward_redemptions (uitpas_number, reward_id) WHERE status = 'pending';

CREATE INDEX reward_redemptions_customer_created ON reward_redemptions (customer_id, created_at);
