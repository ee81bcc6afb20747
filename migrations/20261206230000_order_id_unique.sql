-- An order id is unique per customer (issue 22): the same orderId under a new Idempotency-Key
-- registered a second time. Now a customer has at most one *live* registration per order id:
-- one that is, or may become, registered at UiTPAS (pending, registered, needing a person, held,
-- or a hold confirmed). A rejected registration, and a hold released or expired (its sales are
-- cancelled), leave the order id free: the shop may register that order again, as the guide has
-- always told it to after a refusal or a lapsed hold. Environments (test or production) are the
-- customer's, so "per customer" is also per environment.
--
-- A database may already hold live duplicates, made before this rule. They are kept as they are
-- (they may be registered at UiTPAS, and the shop knows them): the oldest live registration of an
-- order id stays the order's, and every later live one is marked `order_id_duplicate`, which
-- keeps it out of the unique index. No new row is ever marked, so from now on every order id of a
-- customer has one live registration at most, enforced by PostgreSQL across replicas.
ALTER TABLE registrations ADD COLUMN order_id_duplicate boolean NOT NULL DEFAULT false;

UPDATE registrations r SET order_id_duplicate = true
WHERE r.status <> 'rejected'
  AND (r.hold_state IS NULL OR r.hold_state NOT IN ('released', 'expired'))
  AND EXISTS (
      SELECT 1 FROM registrations o
      WHERE o.customer_id = r.customer_id AND o.order_id = r.order_id
        AND o.status <> 'rejected'
        AND (o.hold_state IS NULL OR o.hold_state NOT IN ('released', 'expired'))
        AND (o.created_at, o.id) < (r.created_at, r.id));

-- A registration leaves the index when it is rejected or its hold ends, and never comes back
-- (pending → registered | rejected; held → confirmed | released | expired): no update can fail
-- on it, only the insert of a second live registration of an order.
CREATE UNIQUE INDEX registrations_live_order_id ON registrations (customer_id, order_id)
    WHERE status <> 'rejected'
      AND (hold_state IS NULL OR hold_state NOT IN ('released', 'expired'))
      AND NOT order_id_duplicate;
