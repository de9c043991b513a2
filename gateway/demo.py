"""`metahog demo`: the gateway in front of an embedded PostgreSQL with a small shop dataset.

It needs no configuration and no external service, only PostgreSQL's server binaries (Debian:
`apt-get install postgresql`). The cluster lives in a data directory that is kept, so a second
run starts in seconds.
"""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

from gateway.config import parse_config
from gateway.embedded.postgres import LocalPostgres
from gateway.server import serve_until_signalled

DEMO_USER = "demo"
DEMO_PASSWORD = "demo"
_BACKEND_PASSWORD = "metahog-demo-reader"

SHOP_SQL = """
CREATE TABLE customers (
    id integer PRIMARY KEY,
    distinct_id text NOT NULL UNIQUE,
    name text NOT NULL,
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
COMMENT ON TABLE customers IS 'shop customers; distinct_id joins to product analytics events';
INSERT INTO customers
SELECT g, 'user_' || g, 'Customer ' || g,
       (ARRAY['US','DE','FR','GB','BR','IN','JP'])[1 + g % 7],
       timestamptz '2026-01-01' + g * interval '37 minutes'
FROM generate_series(1, 5000) g;
INSERT INTO orders
SELECT g, 1 + (g * 7919) % 5000, round((5 + (g * 31) % 500)::numeric + 0.99, 2),
       (ARRAY['paid','paid','paid','refunded','pending'])[1 + g % 5],
       timestamptz '2026-01-02' + g * interval '11 minutes'
FROM generate_series(1, 20000) g;
CREATE INDEX ON orders (customer_id);
"""


def default_data_dir() -> Path:
    if os.geteuid() == 0:
        # The embedded server runs as the unprivileged postgres user, who cannot enter /root.
        return Path("/var/lib/metahog/demo")
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "metahog" / "demo"


def prepare_cluster(data_dir: Path) -> LocalPostgres:
    cluster = LocalPostgres(directory=data_dir)
    fresh = not cluster.initialized
    print(f"starting embedded PostgreSQL in {data_dir} ...", file=sys.stderr, flush=True)
    cluster.start()
    if fresh:
        print("loading the shop dataset ...", file=sys.stderr, flush=True)
        cluster.psql(
            f"CREATE ROLE metahog_reader LOGIN PASSWORD '{_BACKEND_PASSWORD}';CREATE DATABASE app;"
        )
        cluster.psql(
            SHOP_SQL + "GRANT SELECT ON ALL TABLES IN SCHEMA public TO metahog_reader;", "app"
        )
    return cluster


def run_demo(port: int, data_dir: Path | None) -> int:
    cluster = prepare_cluster(data_dir or default_data_dir())
    try:
        config = parse_config(
            {
                "server": {
                    "host": "127.0.0.1",
                    "port": port,
                    "tls": "auto",
                    "state_dir": str(cluster.directory / "gateway"),
                },
                "users": [{"name": DEMO_USER, "password": DEMO_PASSWORD}],
                "sources": {
                    "app": {
                        "kind": "postgres",
                        "dsn": cluster.dsn(
                            "metahog_reader", _BACKEND_PASSWORD, "app", sslmode="disable"
                        ),
                    }
                },
            }
        )
        return asyncio.run(serve_until_signalled(config, _banner))
    finally:
        cluster.stop()
        print("stopped.", file=sys.stderr)


def _banner(port: int) -> str:
    return (
        "\nMetaHog demo is running. Connect with:\n\n"
        f'  psql "host=127.0.0.1 port={port} dbname=app user={DEMO_USER} '
        f'password={DEMO_PASSWORD} sslmode=require"\n\n'
        "Try: select country, count(*) from customers group by 1 order by 2 desc;\n"
        "Press Ctrl-C to stop."
    )
