-- Orders can be cancelled (which gives their stock back).
ALTER TABLE orders.orders
    ADD COLUMN status       text NOT NULL DEFAULT 'placed' CHECK (status IN ('placed', 'cancelled')),
    ADD COLUMN cancelled_at timestamptz;

-- Idempotency keys are scoped to the customer and expire (draft-ietf-httpapi-idempotency-key-
-- header): they move to their own table. The old, global column is no longer written; keys
-- stored in it are forgotten (as if expired).
ALTER TABLE orders.orders DROP CONSTRAINT IF EXISTS orders_idempotency_key_key;

CREATE TABLE orders.idempotency_keys (
    customer_id text        NOT NULL,
    key         text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    fingerprint text        NOT NULL CHECK (fingerprint ~ '^[0-9a-f]{64}$'),
    order_id    uuid        NOT NULL,
    -- The stored outcome; NULL while the first request is still in flight.
    status      smallint    CHECK (status BETWEEN 100 AND 599),
    body        bytea,
    created_at  timestamptz NOT NULL DEFAULT now(),
    expires_at  timestamptz NOT NULL,
    PRIMARY KEY (customer_id, key)
);
CREATE INDEX idempotency_keys_expiry ON orders.idempotency_keys (expires_at);

-- A stock reservation that may have to be given back: written before the order reserves
-- (release_after = its deadline) and deleted in the transaction that stores the order, so
-- a hold that outlives its deadline belongs to an order that was never stored (a crash, a
-- timeout) and recovery releases it. A cancel writes one due at once.
CREATE TABLE orders.holds (
    order_id      uuid        PRIMARY KEY,
    release_after timestamptz NOT NULL
);
CREATE INDEX holds_due ON orders.holds (release_after);
