-- Held reservations expire: a reservation takes stock for `expires_at`, and gives it back
-- then unless its order confirmed it (the order service confirms in the transaction that
-- stores the order). A caller that reserves and vanishes no longer holds stock for good.
ALTER TABLE products.reservations DROP CONSTRAINT reservations_state_check;
ALTER TABLE products.reservations ADD CONSTRAINT reservations_state_check
    CHECK (state IN ('held', 'confirmed', 'released'));
ALTER TABLE products.reservations ADD COLUMN expires_at timestamptz;
-- Held before this migration: stored orders' stock (or the order service's recovery's).
UPDATE products.reservations SET state = 'confirmed' WHERE state = 'held';
CREATE INDEX reservations_expiring ON products.reservations (expires_at) WHERE state = 'held';
