-- Orders and their lines. Prices are copied in at order time: an order keeps the
-- price it was sold at whatever the catalog does later. Limits mirror the API's
-- validation (shopnet.order.schemas).
CREATE TABLE orders.orders (
    id                  uuid        PRIMARY KEY,
    customer_id         text        NOT NULL CHECK (char_length(customer_id) BETWEEN 1 AND 128),
    total_cents         bigint      NOT NULL CHECK (total_cents >= 0),
    currency            text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    created_at          timestamptz NOT NULL DEFAULT now(),
    -- A client's Idempotency-Key: at most one order per key, ever (NULLs never clash).
    idempotency_key     text        UNIQUE CHECK (char_length(idempotency_key) BETWEEN 1 AND 255),
    -- SHA-256 of the canonical request: a key replayed with another body is refused.
    request_fingerprint text        NOT NULL CHECK (request_fingerprint ~ '^[0-9a-f]{64}$')
);

CREATE INDEX orders_by_customer ON orders.orders (customer_id, created_at DESC, id DESC);

CREATE TABLE orders.order_items (
    order_id         uuid     NOT NULL REFERENCES orders.orders (id) ON DELETE CASCADE,
    line             smallint NOT NULL CHECK (line BETWEEN 1 AND 100),
    product_id       bigint   NOT NULL CHECK (product_id > 0),
    quantity         integer  NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_price_cents bigint   NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, line),
    UNIQUE (order_id, product_id)
);
