"""CancelRequest handling and cancellation when a client disconnects mid-query."""

from __future__ import annotations

import socket
import struct
import threading
import time

import psycopg
import pytest

from gateway.protocol import messages
from tests.pgwire import WireClient, errors


def backend_activity(pg, marker: str) -> list[str]:
    out = pg.psql(
        "select state from pg_stat_activity where query like "
        f"'%{marker}%' and pid <> pg_backend_pid()"
    )
    return [line for line in out.splitlines() if line]


def wait_for(predicate, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def send_cancel(port: int, pid: int, secret: int) -> None:
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(struct.pack("!IIII", 16, messages.CANCEL_REQUEST_CODE, pid, secret))
        sock.settimeout(5)
        assert sock.recv(1) == b""  # the gateway closes without answering, as PostgreSQL does


def test_cancel_request_cancels_the_running_query(gateway):
    with psycopg.connect(gateway.dsn()) as conn:
        result: dict[str, object] = {}

        def run() -> None:
            try:
                conn.execute("select pg_sleep(30) /* cancel-me */")
            except psycopg.Error as exc:
                result["error"] = exc

        thread = threading.Thread(target=run)
        started = time.monotonic()
        thread.start()
        time.sleep(0.5)
        conn.cancel()
        thread.join(15)
        assert isinstance(result.get("error"), psycopg.errors.QueryCanceled)
        assert time.monotonic() - started < 10
        conn.rollback()
        assert conn.execute("select 1").fetchone() == (1,)


def test_cancel_with_wrong_secret_does_nothing(gateway, pg):
    client = WireClient(gateway.port)
    client.startup("analyst", "secret", "pagila")
    assert client.key is not None
    pid, secret = client.key
    client.send(messages.Query.build(query=b"select pg_sleep(1.5) /* wrong-key */"))
    time.sleep(0.3)
    send_cancel(gateway.port, pid, secret ^ 0x5A5A5A5A)
    send_cancel(gateway.port, pid ^ 1, secret)
    responses = client.read_until(b"Z")
    assert errors(responses) == []
    assert any(tag == b"D" for tag, _ in responses)
    client.close()


def test_cancel_only_affects_the_owning_session(gateway):
    victim = WireClient(gateway.port)
    victim.startup("analyst", "secret", "pagila")
    other = WireClient(gateway.port)
    other.startup("analyst", "secret", "pagila")
    assert victim.key and other.key
    victim.send(messages.Query.build(query=b"select pg_sleep(1.5)"))
    other.send(messages.Query.build(query=b"select pg_sleep(10)"))
    time.sleep(0.3)
    send_cancel(gateway.port, *other.key)
    other_errors = errors(other.read_until(b"Z"))
    assert [e["C"] for e in other_errors] == ["57014"]
    assert errors(victim.read_until(b"Z")) == []
    victim.close()
    other.close()


@pytest.mark.parametrize("mode", ["simple", "extended"])
def test_disconnect_mid_query_cancels_the_backend_query(gateway, pg, mode):
    marker = f"disconnect_{mode}"
    client = WireClient(gateway.port)
    client.startup("analyst", "secret", "pagila")
    sql = f"select pg_sleep(60) /* {marker} */".encode()
    if mode == "simple":
        client.send(messages.Query.build(query=sql))
    else:
        client.send(
            messages.Parse.build(statement=b"", query=sql, param_types=[]),
            messages.Bind.build(
                portal=b"", statement=b"", param_formats=[], params=[], result_formats=[]
            ),
            messages.Execute.build(portal=b"", max_rows=0),
            messages.Sync.build(),
        )
    assert wait_for(lambda: backend_activity(pg, marker) == ["active"])
    client.sock.close()
    # The backend connection goes back to the pool idle, not stuck in pg_sleep.
    assert wait_for(lambda: backend_activity(pg, marker) in ([], ["idle"]))
    with psycopg.connect(gateway.dsn()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
