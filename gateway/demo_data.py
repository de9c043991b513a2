"""The demo's generated datasets: PostHog-like events in ClickHouse, PostHog's app tables and a
small shop in PostgreSQL.

Everything is computed by the database engines themselves from row numbers (INSERT ... SELECT
over `numbers(N)` in ClickHouse, `generate_series` in PostgreSQL) with deterministic functions,
so a million events take seconds and every run with the same arguments builds the same rows
(only the time axis moves: events span the `SPAN_DAYS` days before `generated_at`).

The two engines agree on the shared keys without exchanging data:
- person k's UUID is the MD5 of `person-k`, formatted as a version-4 UUID, which both compute;
- person k's anonymous distinct id is the MD5 of `anon-k` formatted the same way, and the odd
  persons are identified, with the distinct id `user_k`;
- shop customer g is person 2g-1 (`user_<2g-1>`), with that person's country, so the shop joins
  to events by distinct_id and countries agree on both sides;
- per-person attributes (country, browser, OS, creation time) are modular arithmetic on k.

Run as `python -m gateway.demo_data PATH EVENTS GENERATED_AT` it fills a chDB directory and
reports progress on stdout as `done total` lines (the demo runs it in a subprocess because a
chDB directory can be open in one process at a time, and the gateway opens it next). Run as
`python -m gateway.demo_data --write-docker docker` it writes docker-compose.yml's init scripts,
the same data for real servers.
"""

from __future__ import annotations

import sys
from pathlib import Path

DEFAULT_EVENTS = 1_000_000
SPAN_DAYS = 30
CUSTOMERS = 5000
ORDERS = 20000
TEAM_ID = 1
# Rows per INSERT: a progress step, and the number of parts ClickHouse merges at the end.
CHUNK = 100_000

COUNTRIES = ["US", "DE", "FR", "GB", "BR", "IN", "JP"]
BROWSERS = ["Chrome", "Safari", "Firefox", "Edge", "Chrome"]
OSES = ["Mac OS X", "Windows", "iOS", "Android", "Linux"]
DEVICES = ["Desktop", "Desktop", "Mobile", "Mobile", "Desktop"]  # follows OSES
PATHS = ["/", "/pricing", "/products", "/blog", "/docs", "/cart", "/signup", "/about"]
REFERRERS = ["$direct", "www.google.com", "news.ycombinator.com", "twitter.com", "www.bing.com"]
# Per mille thresholds of each event, in order; the rest are custom shop events below.
EVENT_MIX = [
    ("$pageview", 430),
    ("$autocapture", 680),
    ("$pageleave", 800),
    ("$identify", 830),
    ("product_viewed", 910),
    ("added_to_cart", 950),
    ("checkout_started", 970),
    ("order_completed", 985),
    ("search_performed", 996),
    ("signed_up", 1000),
]


def person_count(events: int) -> int:
    """About 20 events per person, and at least enough persons for every shop customer."""
    return max(2 * CUSTOMERS, events // 20)


def _array(values: list[str]) -> str:
    return "[" + ", ".join(f"'{v}'" for v in values) + "]"


def _pg_array(values: list[str]) -> str:
    return "ARRAY" + _array(values)


# --------------------------------------------------------------------------------- ClickHouse


def clickhouse_anchor(generated_at: str | None) -> str:
    """The moment the data is generated at, in ClickHouse: a UTC time, or the server's now."""
    if generated_at is None:
        return "toDateTime64(now(), 6, 'UTC')"
    return f"toDateTime64('{generated_at}', 6, 'UTC')"


def postgres_anchor(generated_at: str | None) -> str:
    """The same moment, in PostgreSQL."""
    if generated_at is None:
        return "date_trunc('second', now())"
    return f"timestamptz '{generated_at}+00'"


def _ch_uuid_text(seed: str) -> str:
    """A version-4-shaped UUID string from the MD5 of a string expression (as `_pg_uuid_text`)."""
    h = f"lower(hex(MD5({seed})))"
    return (
        f"concat(substring({h}, 1, 8), '-', substring({h}, 9, 4), '-4', substring({h}, 14, 3),"
        f" '-8', substring({h}, 18, 3), '-', substring({h}, 21, 12))"
    )


def clickhouse_schema() -> list[str]:
    """PostHog's ClickHouse tables, as its `events`, `person` and `person_distinct_id2`."""
    return [
        "CREATE TABLE events (uuid UUID, event String, distinct_id String,"
        " timestamp DateTime64(6, 'UTC'), properties String, person_id UUID)"
        " ENGINE = MergeTree PARTITION BY toYYYYMM(timestamp)"
        " ORDER BY (toDate(timestamp), event, cityHash64(distinct_id), cityHash64(uuid))"
        " COMMENT 'product analytics events, as PostHog stores them'",
        "CREATE TABLE persons (id UUID, created_at DateTime64(3, 'UTC'), team_id Int64,"
        " properties String, is_identified Int8, is_deleted Int8, version UInt64)"
        " ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, id)",
        "CREATE TABLE person_distinct_id2 (team_id Int64, distinct_id String, person_id UUID,"
        " is_deleted Int8, version Int64)"
        " ENGINE = ReplacingMergeTree(version) ORDER BY (team_id, distinct_id)",
    ]


def _ch_person_columns(k: str, anchor: str) -> dict[str, str]:
    """Person k's attributes, as expressions over the integer expression `k`."""
    return {
        "uuid": _ch_uuid_text(f"concat('person-', toString({k}))"),
        "anon": _ch_uuid_text(f"concat('anon-', toString({k}))"),
        "country": f"{_array(COUNTRIES)}[1 + intDiv({k} + 1, 2) % {len(COUNTRIES)}]",
        "browser": f"{_array(BROWSERS)}[1 + {k} % {len(BROWSERS)}]",
        "os": f"{_array(OSES)}[1 + intDiv({k}, 5) % {len(OSES)}]",
        "device": f"{_array(DEVICES)}[1 + intDiv({k}, 5) % {len(DEVICES)}]",
        "created_at": (
            f"{anchor} - toIntervalSecond({SPAN_DAYS} * 86400 + ({k} * 7919) % (60 * 86400))"
        ),
    }


def clickhouse_persons(persons: int, anchor: str) -> list[str]:
    p = _ch_person_columns("k", anchor)
    identified_props = (
        'concat(\'"email": "user_\', toString(k), \'@example.com", "name": "Customer \','
        " toString(intDiv(k + 1, 2)), '\", ')"
    )
    return [
        f"INSERT INTO persons SELECT toUUID({p['uuid']}), {p['created_at']}, {TEAM_ID},"
        f" concat('{{', if(k % 2 = 1, {identified_props}, ''),"
        f' \'"$initial_browser": "\', {p["browser"]}, \'", "$initial_os": "\', {p["os"]},'
        f' \'", "$initial_geoip_country_code": "\', {p["country"]}, \'"}}\'),'
        f" k % 2, 0, 0 FROM (SELECT number + 1 AS k FROM numbers({persons}))",
        f"INSERT INTO person_distinct_id2 SELECT {TEAM_ID}, {p['anon']}, toUUID({p['uuid']}), 0, 0"
        f" FROM (SELECT number + 1 AS k FROM numbers({persons}))",
        f"INSERT INTO person_distinct_id2 SELECT {TEAM_ID}, concat('user_', toString(k)),"
        f" toUUID({p['uuid']}), 0, 0"
        f" FROM (SELECT number * 2 + 1 AS k FROM numbers({(persons + 1) // 2}))",
    ]


def clickhouse_events(start: int, count: int, persons: int, anchor: str) -> str:
    """Events number `start` to `start + count - 1`."""
    p = _ch_person_columns("k", anchor)
    mix = ", ".join(f"r < {limit}, '{name}'" for name, limit in EVENT_MIX[:-1])
    event = f"multiIf({mix}, '{EVENT_MIX[-1][0]}')"
    # Skewed towards low person numbers (the product of two uniform draws): a few heavy users,
    # among them the shop's customers, and a long tail.
    person = f"1 + intDiv((sipHash64(n, 1) % {persons}) * (sipHash64(n, 2) % {persons}), {persons})"
    span_us = SPAN_DAYS * 86400 * 1_000_000
    event_uuid = _ch_uuid_text("concat('event-', toString(n))")
    url_path = (
        f"if(e IN ('product_viewed', 'added_to_cart'),"
        f" concat('/products/', toString(sipHash64(n, 6) % 200)),"
        f" {_array(PATHS)}[1 + sipHash64(n, 6) % {len(PATHS)}])"
    )
    extra = (
        "multiIf("
        "e = '$autocapture', concat(', \"$event_type\": \"',"
        " ['click', 'click', 'submit', 'change'][1 + sipHash64(n, 7) % 4], '\"'),"
        " e IN ('product_viewed', 'added_to_cart'), concat(', \"product_id\": ',"
        " toString(sipHash64(n, 6) % 200), ', \"price\": ', toString(5 + sipHash64(n, 6) % 200),"
        " '.99'),"
        " e = 'order_completed', concat(', \"revenue\": ', toString(10 + sipHash64(n, 8) % 490),"
        ' \'.00, "currency": "USD"\'),'
        " e = 'search_performed', concat(', \"query\": \"',"
        " ['shoes', 'hoodie', 'mug', 'stickers', 'socks'][1 + sipHash64(n, 8) % 5], '\"'),"
        " '')"
    )
    properties = (
        'concat(\'{"$current_url": "https://shop.example.com\', path, \'", "$pathname": "\','
        ' path, \'", "$host": "shop.example.com", "$browser": "\', browser,'
        ' \'", "$os": "\', os, \'", "$device_type": "\', device, \'", "$lib": "web",'
        ' "$referring_domain": "\','
        f" {_array(REFERRERS)}[1 + sipHash64(k, 9) % {len(REFERRERS)}],"
        ' \'", "$geoip_country_code": "\', country, \'", "$session_id": "\','
        " lower(hex(cityHash64(k, toDate(ts)))), '\"', extra, '}')"
    )
    return (
        "INSERT INTO events SELECT toUUID(uuid), e,"
        " if(k % 2 = 1 AND (e = '$identify' OR sipHash64(n, 4) % 10 < 7),"
        " concat('user_', toString(k)), anon), ts, "
        f"{properties}, toUUID(person_uuid) FROM ("
        f" SELECT n, k, r, {event} AS e0,"
        # An anonymous person cannot identify: that event is a page view.
        " if(e0 = '$identify' AND k % 2 = 0, '$pageview', e0) AS e,"
        f" {anchor}"
        f" - toIntervalMicrosecond(sipHash64(n, 5) % {span_us}) AS ts,"
        f" {event_uuid} AS uuid,"
        f" {p['uuid']} AS person_uuid, {p['anon']} AS anon, {p['country']} AS country,"
        f" {p['browser']} AS browser, {p['os']} AS os, {p['device']} AS device,"
        f" {url_path} AS path, {extra} AS extra"
        f" FROM (SELECT number AS n, {person} AS k, sipHash64(number, 3) % 1000 AS r"
        f" FROM numbers({start}, {count})))"
    )


def fill_chdb(path: str, events: int, generated_at: str) -> None:
    """Create and fill the chDB directory; prints `done total` after each step."""
    import chdb.session  # only the generating subprocess needs chDB loaded

    persons = person_count(events)
    session = chdb.session.Session(path)
    try:
        anchor = clickhouse_anchor(generated_at)
        for sql in clickhouse_schema() + clickhouse_persons(persons, anchor):
            session.query(sql)
        print(f"0 {events}", flush=True)
        for start in range(0, events, CHUNK):
            count = min(CHUNK, events - start)
            session.query(clickhouse_events(start, count, persons, anchor))
            print(f"{start + count} {events}", flush=True)
    finally:
        session.close()


# --------------------------------------------------------------------------------- PostgreSQL

_PG_UUID = """
CREATE FUNCTION pg_temp.demo_uuid(seed text) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT substr(h, 1, 8) || '-' || substr(h, 9, 4) || '-4' || substr(h, 14, 3) || '-8'
         || substr(h, 18, 3) || '-' || substr(h, 21, 12) FROM (SELECT md5(seed) AS h) m
$$;
"""


def shop_sql() -> str:
    """The `app` database: shop customers, who are PostHog's identified persons, and orders."""
    return f"""
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
       ({_pg_array(COUNTRIES)})[1 + g % {len(COUNTRIES)}],
       timestamptz '2026-01-01' + g * interval '37 minutes'
FROM generate_series(1, {CUSTOMERS}) g;
INSERT INTO orders
SELECT g, 1 + (g * 7919) % {CUSTOMERS}, round((5 + (g * 31) % 500)::numeric + 0.99, 2),
       (ARRAY['paid','paid','paid','refunded','pending'])[1 + g % 5],
       timestamptz '2026-01-02' + g * interval '11 minutes'
FROM generate_series(1, {ORDERS}) g;
CREATE INDEX ON orders (customer_id);
"""


def posthog_sql(persons: int, anchor: str) -> str:
    """The `posthog` database: PostHog's app tables, with the same persons as ClickHouse."""
    created = f"{anchor} - make_interval(secs => {SPAN_DAYS} * 86400 + (k * 7919) % (60 * 86400))"
    country = f"({_pg_array(COUNTRIES)})[1 + ((k + 1) / 2) % {len(COUNTRIES)}]"
    browser = f"({_pg_array(BROWSERS)})[1 + k % {len(BROWSERS)}]"
    os_name = f"({_pg_array(OSES)})[1 + (k / 5) % {len(OSES)}]"
    return (
        _PG_UUID
        + f"""
CREATE TABLE posthog_organization (
    id uuid PRIMARY KEY,
    name varchar(64) NOT NULL,
    created_at timestamptz NOT NULL,
    plugins_access_level smallint NOT NULL DEFAULT 9
);
CREATE TABLE posthog_user (
    id serial PRIMARY KEY,
    uuid uuid NOT NULL UNIQUE,
    email varchar(254) NOT NULL UNIQUE,
    first_name varchar(150) NOT NULL,
    is_staff boolean NOT NULL DEFAULT false,
    current_organization_id uuid REFERENCES posthog_organization,
    date_joined timestamptz NOT NULL
);
CREATE TABLE posthog_team (
    id serial PRIMARY KEY,
    uuid uuid NOT NULL UNIQUE,
    organization_id uuid NOT NULL REFERENCES posthog_organization,
    api_token varchar(200) NOT NULL UNIQUE,
    name varchar(200) NOT NULL,
    app_urls varchar(200)[] NOT NULL,
    timezone varchar(240) NOT NULL DEFAULT 'UTC',
    created_at timestamptz NOT NULL
);
CREATE TABLE posthog_person (
    id bigserial PRIMARY KEY,
    created_at timestamptz NOT NULL,
    properties jsonb NOT NULL,
    is_identified boolean NOT NULL,
    uuid uuid NOT NULL,
    team_id integer NOT NULL REFERENCES posthog_team,
    version bigint
);
CREATE TABLE posthog_persondistinctid (
    id bigserial PRIMARY KEY,
    distinct_id varchar(400) NOT NULL,
    person_id bigint NOT NULL REFERENCES posthog_person,
    team_id integer NOT NULL REFERENCES posthog_team,
    version bigint,
    UNIQUE (team_id, distinct_id)
);
CREATE TABLE posthog_featureflag (
    id serial PRIMARY KEY,
    key varchar(400) NOT NULL,
    name text NOT NULL,
    filters jsonb NOT NULL,
    rollout_percentage integer,
    active boolean NOT NULL,
    deleted boolean NOT NULL DEFAULT false,
    team_id integer NOT NULL REFERENCES posthog_team,
    created_by_id integer REFERENCES posthog_user,
    created_at timestamptz NOT NULL
);
CREATE TABLE posthog_dashboard (
    id serial PRIMARY KEY,
    name varchar(400),
    description text NOT NULL DEFAULT '',
    pinned boolean NOT NULL DEFAULT false,
    deleted boolean NOT NULL DEFAULT false,
    team_id integer NOT NULL REFERENCES posthog_team,
    created_by_id integer REFERENCES posthog_user,
    created_at timestamptz NOT NULL
);
CREATE TABLE posthog_cohort (
    id serial PRIMARY KEY,
    name varchar(400),
    filters jsonb,
    count integer,
    team_id integer NOT NULL REFERENCES posthog_team,
    created_at timestamptz NOT NULL
);
COMMENT ON TABLE posthog_person IS 'persons; the same UUIDs as events.person_id';
INSERT INTO posthog_organization VALUES
  ('0191f3a0-0000-4000-8000-000000000001', 'Hedgebox Inc.', timestamptz '2025-06-01', 9);
INSERT INTO posthog_user (uuid, email, first_name, is_staff, current_organization_id,
                          date_joined)
SELECT pg_temp.demo_uuid('user-' || g)::uuid, name || '@hedgebox.example', initcap(name),
       g = 1, '0191f3a0-0000-4000-8000-000000000001',
       timestamptz '2025-06-01' + g * interval '9 days'
FROM unnest(ARRAY['ada','grace','linus','margaret','ken']) WITH ORDINALITY AS u(name, g);
INSERT INTO posthog_team (uuid, organization_id, api_token, name, app_urls, created_at) VALUES
  ('0191f3a0-0000-4000-8000-0000000000a1', '0191f3a0-0000-4000-8000-000000000001',
   'phc_demo_shop_0000000000000000000000000000', 'Shop (production)',
   ARRAY['https://shop.example.com'], timestamptz '2025-06-01'),
  ('0191f3a0-0000-4000-8000-0000000000a2', '0191f3a0-0000-4000-8000-000000000001',
   'phc_demo_staging_000000000000000000000000', 'Shop (staging)',
   ARRAY['https://staging.shop.example.com'], timestamptz '2025-07-15');
INSERT INTO posthog_person (id, created_at, properties, is_identified, uuid, team_id, version)
SELECT k, {created},
       CASE WHEN k % 2 = 1
            THEN jsonb_build_object('email', 'user_' || k || '@example.com',
                                    'name', 'Customer ' || ((k + 1) / 2))
            ELSE '{{}}'::jsonb END
       || jsonb_build_object('$initial_browser', {browser}, '$initial_os', {os_name},
                             '$initial_geoip_country_code', {country}),
       k % 2 = 1, pg_temp.demo_uuid('person-' || k)::uuid, {TEAM_ID}, 0
FROM generate_series(1, {persons}) k;
SELECT setval(pg_get_serial_sequence('posthog_person', 'id'), {persons});
INSERT INTO posthog_persondistinctid (distinct_id, person_id, team_id, version)
SELECT pg_temp.demo_uuid('anon-' || k), k, {TEAM_ID}, 0 FROM generate_series(1, {persons}) k
UNION ALL
SELECT 'user_' || k, k, {TEAM_ID}, 0 FROM generate_series(1, {persons}, 2) k;
INSERT INTO posthog_featureflag (key, name, filters, rollout_percentage, active, team_id,
                                 created_by_id, created_at)
SELECT key, name, jsonb_build_object('groups', jsonb_build_array(
           jsonb_build_object('properties', '[]'::jsonb, 'rollout_percentage', pct))),
       pct, active, 1, 1 + n % 5, timestamptz '2025-09-01' + n * interval '6 days'
FROM (VALUES (1, 'new-checkout', 'New checkout flow', 50, true),
             (2, 'dark-mode', 'Dark mode', 100, true),
             (3, 'recommendations-v2', 'Product recommendations v2', 20, true),
             (4, 'free-shipping-banner', 'Free shipping banner', 0, false),
             (5, 'onboarding-tour', 'Onboarding tour', 75, true))
     AS f(n, key, name, pct, active);
INSERT INTO posthog_dashboard (name, description, pinned, team_id, created_by_id, created_at)
VALUES ('Web analytics', 'Traffic, sources and devices', true, 1, 1, timestamptz '2025-06-02'),
       ('Shop funnel', 'Product viewed to order completed', true, 1, 2, timestamptz '2025-06-10'),
       ('Retention', 'Weekly returning users', false, 1, 3, timestamptz '2025-07-01'),
       ('Staging smoke tests', '', false, 2, 4, timestamptz '2025-07-16');
INSERT INTO posthog_cohort (name, filters, count, team_id, created_at)
VALUES ('Customers in Germany', '{{"properties": {{"type": "AND", "values": []}}}}', NULL, 1,
        timestamptz '2025-08-01'),
       ('Power users', '{{"properties": {{"type": "AND", "values": []}}}}', NULL, 1,
        timestamptz '2025-08-15');
CREATE INDEX ON posthog_persondistinctid (person_id);
CREATE INDEX ON posthog_person (uuid);
ANALYZE;
"""
    )


# ----------------------------------------------------------------------------- docker-compose

# docker-compose.yml's credentials: demo values, on servers that only the gateway's network
# reaches (their ports are not published); docker/gateway/metahog.toml uses the same.
DOCKER_PG_READER = ("metahog_reader", "metahog-reader-pw")
DOCKER_PG_CATALOG = ("metahog_catalog", "metahog-catalog-pw")
DOCKER_CH_READER = ("metahog_reader", "metahog-reader-pw")
DOCKER_CH_DATABASE = "posthog"
_GENERATED = (
    "-- Generated from gateway/demo_data.py by `python -m gateway.demo_data --write-docker docker`"
    "\n-- (tests/test_compose.py checks it is current): edit that, not this file.\n"
)


def docker_init_scripts(events: int = DEFAULT_EVENTS) -> dict[str, str]:
    """The init scripts of docker-compose.yml's servers, by path under docker/. They run once,
    when a server's volume is new, with the server's clock as the data's `generated_at`."""
    persons = person_count(events)
    reader, reader_pw = DOCKER_PG_READER
    catalog, catalog_pw = DOCKER_PG_CATALOG
    grant = f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {reader};\n"
    anchor = clickhouse_anchor(None)
    events_sql = [
        clickhouse_events(start, min(CHUNK, events - start), persons, anchor)
        for start in range(0, events, CHUNK)
    ]
    ch_user, ch_pw = DOCKER_CH_READER
    clickhouse = [
        f"CREATE DATABASE IF NOT EXISTS {DOCKER_CH_DATABASE}",
        f"USE {DOCKER_CH_DATABASE}",
        *clickhouse_schema(),
        *clickhouse_persons(persons, anchor),
        *events_sql,
    ]
    return {
        "postgres/init/00-roles.sql": _GENERATED
        + f"CREATE ROLE {reader} LOGIN PASSWORD '{reader_pw}';\n"
        + f"CREATE ROLE {catalog} LOGIN CREATEDB CREATEROLE PASSWORD '{catalog_pw}';\n"
        + "CREATE DATABASE app;\nCREATE DATABASE posthog;\n",
        "postgres/init/10-app.sql": _GENERATED + "\\connect app\n" + shop_sql() + grant,
        "postgres/init/20-posthog.sql": _GENERATED
        + "\\connect posthog\n"
        + posthog_sql(persons, postgres_anchor(None))
        + grant,
        "clickhouse/init/10-posthog.sql": _GENERATED + "".join(f"{sql};\n" for sql in clickhouse),
        # The gateway's ClickHouse user may only read the PostHog database; the gateway adds
        # readonly=1 and its limits to every query it sends.
        "clickhouse/init/20-reader.sql": _GENERATED
        + f"CREATE USER IF NOT EXISTS {ch_user} IDENTIFIED WITH sha256_password BY '{ch_pw}';\n"
        + f"GRANT SELECT ON {DOCKER_CH_DATABASE}.* TO {ch_user};\n",
    }


def write_docker_init_scripts(directory: Path) -> None:
    for relative, text in docker_init_scripts().items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def main(argv: list[str]) -> int:
    if len(argv) == 2 and argv[0] == "--write-docker":
        write_docker_init_scripts(Path(argv[1]))
        return 0
    if len(argv) != 3:
        print(
            "usage: python -m gateway.demo_data CHDB_PATH EVENTS 'YYYY-MM-DD HH:MM:SS'\n"
            "       python -m gateway.demo_data --write-docker DOCKER_DIR",
            file=sys.stderr,
        )
        return 2
    path, events, generated_at = argv
    fill_chdb(path, int(events), generated_at)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
