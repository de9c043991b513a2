"""Fixtures of the source registry's tests (tests/test_source_registry.py, test_source_cli.py),
registered for every test module by `pytest_plugins` in conftest.py."""

from __future__ import annotations

import datetime as dt
import socket
from collections.abc import Iterator

import pytest

from gateway.embedded.postgres import LocalPostgres
from tests.posthog_standin import PostHogStandIn


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture(scope="session")
def registry_posthog() -> Iterator[PostHogStandIn]:
    """A PostHog stand-in of its own: other tests reset and reconfigure theirs."""
    pytest.importorskip("chdb")
    standin = PostHogStandIn(dt.datetime.now(dt.UTC)).start()
    yield standin
    standin.stop()


# A role of these tests, with a password that must never be seen in any output.
REGISTRY_PASSWORD = "Registry-Secret-Pw-5d2a"


@pytest.fixture(scope="session")
def registry_pg(pg: LocalPostgres) -> LocalPostgres:
    """The test cluster with a role `reg_user` owning `reg_db`, which holds `item` in two
    schemas: `shop.item` and `public.item`, one row each naming its schema."""
    pg.psql(
        f"""
        CREATE ROLE reg_user LOGIN PASSWORD '{REGISTRY_PASSWORD}';
        CREATE DATABASE reg_db OWNER reg_user;
        """
    )
    pg.psql(
        "SET ROLE reg_user; CREATE SCHEMA shop;"
        " CREATE TABLE shop.item (id integer, label varchar(20));"
        " INSERT INTO shop.item VALUES (1, 'from shop');"
        " CREATE TABLE public.item (id integer, label text);"
        " INSERT INTO public.item VALUES (1, 'from public');",
        "reg_db",
    )
    return pg
