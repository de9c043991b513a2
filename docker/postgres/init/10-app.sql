-- Generated from gateway/demo_data.py by `python -m gateway.demo_data --write-docker docker`
-- (tests/test_compose.py checks it is current): edit that, not this file.
\connect app

CREATE TABLE customers (
    id integer PRIMARY KEY,
    distinct_id text NOT NULL UNIQUE,
    name text NOT NULL,
    email text NOT NULL,
    country text NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE TABLE orders (
    id integer PRIMARY KEY,
    customer_id integer NOT NULL REFERENCES customers,
    amount numeric(10,2) NOT NULL,
    status text NOT NULL,
    ordered_at timestamptz NOT NULL
);
COMMENT ON TABLE customers IS 'shop customers; distinct_id joins to events.distinct_id';
INSERT INTO customers
SELECT g, 'user_' || (2 * g - 1), 'Customer ' || g, 'user_' || (2 * g - 1) || '@example.com',
       (ARRAY['US', 'DE', 'FR', 'GB', 'BR', 'IN', 'JP'])[1 + g % 7],
       timestamptz '2026-01-01' + g * interval '37 minutes'
FROM generate_series(1, 5000) g;
INSERT INTO orders
SELECT g, 1 + (g * 7919) % 5000, round((5 + (g * 31) % 500)::numeric + 0.99, 2),
       (ARRAY['paid','paid','paid','refunded','pending'])[1 + g % 5],
       timestamptz '2026-01-02' + g * interval '11 minutes'
FROM generate_series(1, 20000) g;
CREATE INDEX ON orders (customer_id);
GRANT SELECT ON ALL TABLES IN SCHEMA public TO metahog_reader;
