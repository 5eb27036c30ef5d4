-- Stock reservations. The product service owns stock: an order reserves through the
-- internal API, keyed by the order's id, so a retried or recovered order can never
-- take the stock twice. A released reservation stays as a tombstone: a late reserve
-- with its id (a request that outlived its caller) is refused instead of reserving.
CREATE TABLE products.reservations (
    id          text        PRIMARY KEY CHECK (id ~ '^[0-9a-f-]{36}$'),
    state       text        NOT NULL CHECK (state IN ('held', 'released')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    released_at timestamptz
);

CREATE TABLE products.reservation_lines (
    reservation_id   text    NOT NULL REFERENCES products.reservations (id) ON DELETE CASCADE,
    product_id       bigint  NOT NULL,  -- no FK: a product may be deleted while reserved
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_price_cents bigint  NOT NULL CHECK (unit_price_cents >= 0),
    currency         text    NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    PRIMARY KEY (reservation_id, product_id)
);
