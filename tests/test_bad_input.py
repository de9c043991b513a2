"""Malformed and hostile input: every case ends with a FATAL ErrorResponse (SQLSTATE 08P01) and
a closed connection, or at least a closed connection, and never with a gateway that stops serving.

The gateways here are private to this module, so that their logs hold only what these tests
caused.
"""

from __future__ import annotations

import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable

import pytest

from gateway.protocol import messages
from tests.conftest import ANALYST_PASSWORD, GatewayProcess
from tests.pgwire import WireClient, data_rows, error_fields, ready_status, tags

MAX_MESSAGE = 1048576  # max_message_size of the test configuration
AUTH_TIMEOUT = 3  # auth_timeout of the test configuration

Messages = list[tuple[bytes, bytes]]


@pytest.fixture(scope="module")
def gw(gateway_factory) -> GatewayProcess:
    return gateway_factory()


# --- helpers --------------------------------------------------------------------------------------
def session(gateway: GatewayProcess, *, tls: bool = True) -> WireClient:
    client = WireClient(gateway.port, tls=tls)
    assert ready_status(client.startup("analyst", ANALYST_PASSWORD, "pagila")) == "I"
    return client


def read_to_eof(client: WireClient, timeout: float = 8.0) -> Messages:
    """Every message the server sends until it closes the connection. Fails if the server keeps
    the connection open past `timeout`."""
    client.sock.settimeout(timeout)
    received: Messages = []
    while True:
        try:
            received.append(client.read())
        except TimeoutError:
            pytest.fail(f"the server did not close the connection; received {received!r}")
        except (ConnectionError, OSError):
            assert client.buffer == b"", f"connection closed mid-message after {received!r}"
            return received


def assert_fatal(received: Messages, sqlstate: str = "08P01", message: str | None = None) -> None:
    assert [t for t, _ in received] == [b"E"], received
    fields = error_fields(received[0][1])
    assert fields["C"] == sqlstate, fields
    assert fields["S"] == "FATAL", fields
    if message is not None:
        assert message in fields["M"], fields


def assert_serving(gateway: GatewayProcess) -> None:
    """The process is alive and a fresh session runs a query."""
    assert gateway.alive(), gateway.log()
    client = session(gateway)
    try:
        responses = client.query("select count(*) from film")
        assert tags(responses) == "TDCZ"
        assert data_rows(responses) == [[b"1000"]]
    finally:
        client.close()


def assert_clean_log(gateway: GatewayProcess) -> None:
    log = gateway.log()
    assert "Traceback" not in log, log
    assert "session failed" not in log, log


def message(tag: bytes, payload: bytes) -> bytes:
    return messages.simple_message(tag, payload)


def header(tag: bytes, length: int) -> bytes:
    return tag + struct.pack("!I", length)


# --- after authentication -------------------------------------------------------------------------
AFTER_AUTH_CASES: dict[str, tuple[bytes, str]] = {
    "length below 4": (header(b"Q", 3), "invalid message length 3"),
    "length zero": (header(b"Q", 0), "invalid message length 0"),
    "oversized message": (
        header(b"Q", MAX_MESSAGE + 1) + b"select 1",
        f"exceeds the limit of {MAX_MESSAGE}",
    ),
    "huge length": (header(b"P", 0xFFFFFFFF), "exceeds the limit"),
    "unknown message type": (header(b"y", 4), "invalid frontend message type"),
    "startup-only message after start-up": (header(b"p", 4 + 7) + b"secret\0", "message type"),
    "invalid UTF-8 in Query": (
        message(b"Q", b"select '\xff\xfe'\0"),
        'invalid byte sequence for encoding "utf-8"',
    ),
    "invalid UTF-8 in Parse": (
        messages.Parse.build(statement=b"", query=b"select '\xc3\x28'", param_types=[]),
        'invalid byte sequence for encoding "utf-8"',
    ),
    "Query without its terminator": (message(b"Q", b"select 1"), "invalid string"),
    "Query with an embedded NUL": (message(b"Q", b"select 1\0; select 2\0"), "invalid string"),
    "Parse with truncated parameter types": (
        message(b"P", b"\0select $1\0\x00\x02\x00\x00"),
        "malformed Parse",
    ),
}


@pytest.mark.parametrize("case", list(AFTER_AUTH_CASES))
def test_malformed_message_after_startup_is_fatal_08p01(gw, case):
    data, expected = AFTER_AUTH_CASES[case]
    client = session(gw)
    try:
        client.send(data)
        assert_fatal(read_to_eof(client), message=expected)
    finally:
        client.sock.close()
    assert_serving(gw)


def test_bad_message_after_good_ones_in_a_pipeline(gw):
    client = session(gw)
    try:
        assert tags(client.query("select 1")) == "TDCZ"
        client.send(header(b"y", 4))
        assert_fatal(read_to_eof(client), message="invalid frontend message type 121")
    finally:
        client.sock.close()
    assert_serving(gw)


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.02, 0.05])
def test_bad_message_while_a_large_result_streams(gw, delay):
    # The gateway's FATAL error must not be written into the middle of a relayed DataRow: the
    # client sees whole messages, then the error, then the end of the connection.
    client = session(gw, tls=False)
    try:
        client.send(
            messages.Query.build(query=b"select repeat('x', 200000) from generate_series(1, 40)")
        )
        time.sleep(delay)
        client.send(header(b"y", 4))
        received = read_to_eof(client)
        row = b"\x00\x01" + struct.pack("!i", 200000) + b"x" * 200000
        assert received[0][0] == b"T"
        # Rows cut short by the gateway's cancel are never sent; the ones sent are whole. A fast
        # relay may also have finished the whole result (CommandComplete, ReadyForQuery) before
        # the bad message arrived, as PostgreSQL itself would.
        middle = received[1:-1]
        assert all(m == (b"D", row) for m in middle if m[0] == b"D")
        assert [m[0] for m in middle if m[0] != b"D"] in ([], [b"C", b"Z"]), middle
        assert_fatal(received[-1:], message="invalid frontend message type 121")
    finally:
        client.sock.close()
    assert_serving(gw)


def test_message_of_exactly_the_size_limit_is_accepted(gw):
    # Bind body: portal "", statement "", 0 format codes, 1 parameter, 0 result formats.
    overhead = 4 + 1 + 1 + 2 + 2 + 4 + 2
    value = b"x" * (MAX_MESSAGE - overhead)
    bind = messages.Bind.build(
        portal=b"",
        statement=b"",
        param_formats=[],
        params=[{"length": len(value), "data": value}],
        result_formats=[],
    )
    assert len(bind) == 1 + MAX_MESSAGE
    client = session(gw)
    try:
        client.send(
            messages.Parse.build(statement=b"", query=b"select length($1::text)", param_types=[]),
            bind,
            messages.Execute.build(portal=b"", max_rows=0),
            messages.Sync.build(),
        )
        responses = client.read_until(b"Z")
        assert tags(responses) == "12DCZ"
        assert data_rows(responses) == [[str(len(value)).encode()]]
        # One byte more is refused before the body is read.
        client.send(header(b"B", MAX_MESSAGE + 1))
        assert_fatal(read_to_eof(client), message="exceeds the limit")
    finally:
        client.sock.close()
    assert_serving(gw)


def test_truncated_message_then_half_close_is_reported(gw):
    client = session(gw, tls=False)
    try:
        client.send(header(b"Q", 100) + b"select 1")
        client.sock.shutdown(socket.SHUT_WR)
        assert_fatal(read_to_eof(client), message="incomplete message")
    finally:
        client.sock.close()
    assert_serving(gw)


@pytest.mark.parametrize("tls", [True, False], ids=["tls", "plain"])
def test_truncated_message_then_close_does_not_hurt_the_gateway(gw, tls):
    for cut in (1, 3, 5, 9):
        client = session(gw, tls=tls)
        full = messages.Query.build(query=b"select 'never finished'")
        client.send(full[:cut])
        client.sock.close()
    # Also mid-way through a large message the gateway was already relaying.
    client = session(gw, tls=tls)
    client.send(header(b"B", 500_000) + b"\0" * 100_000)
    client.sock.close()
    time.sleep(0.2)
    assert_serving(gw)
    assert_clean_log(gw)


def test_connection_reset_mid_query_does_not_hurt_the_gateway(gw):
    for _ in range(5):
        client = session(gw, tls=False)
        client.send(messages.Query.build(query=b"select pg_sleep(0.2), * from film"))
        client.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        client.sock.close()
    assert_serving(gw)
    assert_clean_log(gw)


# --- before authentication ------------------------------------------------------------------------
def startup_body(params: bytes, protocol: int = messages.PROTOCOL_3_0) -> bytes:
    body = struct.pack("!I", protocol) + params
    return struct.pack("!I", len(body) + 4) + body


BEFORE_AUTH_CASES: dict[str, tuple[bytes, str]] = {
    "HTTP request": (
        b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n",
        "invalid length of startup packet",
    ),
    "TLS ClientHello without SSLRequest": (
        b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03" + b"\0" * 32,
        "invalid length of startup packet",
    ),
    "length 0": (struct.pack("!I", 0), "invalid length of startup packet: 0"),
    "length 4": (struct.pack("!I", 4), "invalid length of startup packet: 4"),
    "length 7": (struct.pack("!I", 7) + b"\0\3\0", "invalid length of startup packet: 7"),
    "length above 10000": (
        struct.pack("!I", 10_001) + b"\0\3\0\0user\0",
        "invalid length of startup packet: 10001",
    ),
    "negative length": (struct.pack("!i", -8) + b"\0\3\0\0", "invalid length of startup packet"),
    "parameters without terminator": (
        startup_body(b"user\0analyst\0database"),
        "invalid startup packet layout",
    ),
    "parameter without value": (startup_body(b"user\0"), "invalid startup packet layout"),
    "invalid UTF-8 parameter": (
        startup_body(b"user\0ana\xfflyst\0\0"),
        "invalid startup packet layout",
    ),
}


@pytest.mark.parametrize("case", list(BEFORE_AUTH_CASES))
def test_malformed_startup_is_fatal_08p01(gw, case):
    data, expected = BEFORE_AUTH_CASES[case]
    client = WireClient(gw.port, tls=False)
    try:
        client.send(data)
        assert_fatal(read_to_eof(client), message=expected)
    finally:
        client.sock.close()
    assert_serving(gw)


def test_unsupported_protocol_version_is_fatal(gw):
    client = WireClient(gw.port, tls=False)
    try:
        client.send(startup_body(b"user\0analyst\0\0", protocol=(2 << 16)))
        assert_fatal(read_to_eof(client), sqlstate="0A000", message="unsupported frontend protocol")
    finally:
        client.sock.close()
    assert_serving(gw)


def test_truncated_startup_then_half_close_is_reported(gw):
    client = WireClient(gw.port, tls=False)
    try:
        client.send(startup_body(b"user\0analyst\0\0")[:10])
        client.sock.shutdown(socket.SHUT_WR)
        assert_fatal(read_to_eof(client), message="incomplete message")
    finally:
        client.sock.close()
    assert_serving(gw)


def test_data_pipelined_after_sslrequest_is_refused(gw):
    # CVE-2021-23214: bytes sent before the TLS handshake must not be read as if encrypted.
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=8)
    try:
        sock.sendall(
            messages.SSLRequest.build(code=messages.SSL_REQUEST_CODE)
            + messages.startup_message({"user": "analyst", "database": "pagila"})
        )
        received = b""
        while chunk := sock.recv(4096):
            received += chunk
        assert received[:1] == b"E", received
        fields = error_fields(received[5 : 1 + struct.unpack("!I", received[1:5])[0]])
        assert (fields["C"], fields["S"]) == ("08P01", "FATAL")
        assert "unencrypted data after SSL request" in fields["M"]
    finally:
        sock.close()
    assert_serving(gw)


def test_second_sslrequest_inside_tls_is_fatal(gw):
    client = WireClient(gw.port, tls=True)
    try:
        client.send(messages.SSLRequest.build(code=messages.SSL_REQUEST_CODE))
        assert_fatal(read_to_eof(client), message="SSLRequest received twice")
    finally:
        client.sock.close()
    assert_serving(gw)


def _start_sasl(gw: GatewayProcess) -> WireClient:
    client = WireClient(gw.port, tls=True)
    client.send(messages.startup_message({"user": "analyst", "database": "pagila"}))
    tag, payload = client.read()
    assert tag == b"R"
    assert messages.Authentication.parse(payload).code == messages.AUTH_SASL
    return client


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (messages.Query.build(query=b"select 1"), "expected password response"),
        (header(b"p", 3), "invalid message length 3"),
        (header(b"p", 64 * 1024 + 5) + b"x" * 100, "exceeds the limit"),
        (header(b"p", 4), "malformed SASL message"),
        (
            messages.SASLInitialResponse.build(mechanism=b"MD5", length=3, data=b"abc"),
            "invalid SASL authentication mechanism",
        ),
    ],
    ids=["query instead of password", "length 3", "oversized", "empty", "unknown mechanism"],
)
def test_malformed_authentication_message_is_fatal_08p01(gw, data, expected):
    client = _start_sasl(gw)
    try:
        client.send(data)
        assert_fatal(read_to_eof(client), message=expected)
    finally:
        client.sock.close()
    assert_serving(gw)


# --- pre-authentication timeout -------------------------------------------------------------------
def _silent(gw: GatewayProcess) -> WireClient:
    return WireClient(gw.port, tls=False)


def _partial_startup(gw: GatewayProcess) -> WireClient:
    client = WireClient(gw.port, tls=False)
    client.send(startup_body(b"user\0analyst\0database\0pagila\0\0")[:12])
    return client


def _after_tls(gw: GatewayProcess) -> WireClient:
    return WireClient(gw.port, tls=True)


def _mid_sasl(gw: GatewayProcess) -> WireClient:
    return _start_sasl(gw)


def _sslrequest_without_handshake(gw: GatewayProcess) -> WireClient:
    client = WireClient(gw.port, tls=False)
    client.send(messages.SSLRequest.build(code=messages.SSL_REQUEST_CODE))
    assert client.sock.recv(1) == b"S"
    return client


def _partial_client_hello(gw: GatewayProcess) -> WireClient:
    client = _sslrequest_without_handshake(gw)
    client.send(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")
    return client


TIMEOUT_CASES: dict[str, tuple[Callable[[GatewayProcess], WireClient], bool]] = {
    # name: (how to get stuck, whether a readable ErrorResponse is expected)
    "nothing sent": (_silent, True),
    "partial startup packet": (_partial_startup, True),
    "TLS established, no startup": (_after_tls, True),
    "SASL exchange abandoned": (_mid_sasl, True),
    "SSLRequest, no TLS handshake": (_sslrequest_without_handshake, False),
    "partial TLS ClientHello": (_partial_client_hello, False),
}


@pytest.mark.parametrize("case", list(TIMEOUT_CASES))
def test_authentication_timeout_closes_the_connection(gw, case):
    stall, readable_error = TIMEOUT_CASES[case]
    client = stall(gw)
    started = time.monotonic()
    try:
        if readable_error:
            received = read_to_eof(client, timeout=AUTH_TIMEOUT + 5)
            assert_fatal(received, message="canceling authentication due to timeout")
        else:
            # Inside an unfinished TLS handshake nothing readable can be sent: only the close.
            client.sock.settimeout(AUTH_TIMEOUT + 5)
            try:
                while client.sock.recv(4096):
                    pass
            except TimeoutError:
                pytest.fail("the server did not close the connection")
            except OSError:
                pass
        elapsed = time.monotonic() - started
        assert AUTH_TIMEOUT - 0.5 <= elapsed <= AUTH_TIMEOUT + 3, elapsed
    finally:
        client.sock.close()
    assert_serving(gw)


def test_authenticated_idle_session_is_not_timed_out(gw):
    client = session(gw)
    try:
        time.sleep(AUTH_TIMEOUT + 1)
        assert tags(client.query("select 1")) == "TDCZ"
    finally:
        client.close()


# --- connection storms ----------------------------------------------------------------------------
def _drop(port: int, kind: int) -> None:
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    try:
        if kind == 0:
            pass
        elif kind == 1:
            # Reset instead of an orderly close.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        elif kind == 2:
            sock.sendall(messages.SSLRequest.build(code=messages.SSL_REQUEST_CODE))
        elif kind == 3:
            sock.sendall(messages.SSLRequest.build(code=messages.SSL_REQUEST_CODE))
            sock.recv(1)
            sock.sendall(b"\x16\x03\x01\x02\x00\x01")
        elif kind == 4:
            sock.sendall(startup_body(b"user\0analyst\0\0")[:9])
        elif kind == 5:
            sock.sendall(b"\xff" * 64)
        elif kind == 6:
            sock.sendall(messages.SSLRequest.build(code=messages.SSL_REQUEST_CODE))
            if sock.recv(1) == b"S":
                context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                sock = context.wrap_socket(sock)
        elif kind == 7:
            sock.sendall(messages.startup_message({"user": "analyst", "database": "pagila"}))
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    except OSError:
        pass
    finally:
        sock.close()


def _storm(port: int, total: int, concurrency: int) -> list[BaseException]:
    failures: list[BaseException] = []

    def worker(start: int) -> None:
        for i in range(start, total, concurrency):
            try:
                _drop(port, i % 8)
            except BaseException as exc:  # the gateway refusing connections is a failure too
                failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return failures


def test_many_connections_opened_and_dropped(gateway_factory):
    limit = 20
    gw = gateway_factory({"max_client_connections": limit})
    failures = _storm(gw.port, total=1200, concurrency=16)
    assert failures == []
    assert gw.alive(), gw.log()
    # Every dropped connection must have given its slot back: with limit - 1 connections held
    # open, one more client still gets in. A leaked slot would refuse it with 53300.
    deadline = time.monotonic() + 15
    while True:
        held = [
            socket.create_connection(("127.0.0.1", gw.port), timeout=5) for _ in range(limit - 1)
        ]
        try:
            # Plain, so that a refusal is a readable ErrorResponse instead of a failed SSLRequest.
            client = WireClient(gw.port, tls=False)
            responses = client.startup("analyst", ANALYST_PASSWORD, "pagila")
            if responses[-1][0] == b"Z":
                assert data_rows(client.query("select 7")) == [[b"7"]]
                client.close()
                break
            error = error_fields(responses[0][1])
            client.sock.close()
            assert error["C"] == "53300", error
            assert time.monotonic() < deadline, "connection slots were not released"
        finally:
            for sock in held:
                sock.close()
        time.sleep(0.5)
    assert gw.alive(), gw.log()
    assert_clean_log(gw)


def test_many_sessions_dropped_mid_conversation(gw):
    def one(i: int) -> None:
        client = session(gw, tls=i % 2 == 0)
        if i % 3 == 0:
            client.send(messages.Query.build(query=b"select * from film, actor"))
        elif i % 3 == 1:
            client.send(
                messages.Parse.build(statement=b"s", query=b"select 1", param_types=[]),
                messages.Bind.build(
                    portal=b"", statement=b"s", param_formats=[], params=[], result_formats=[]
                ),
            )
        client.sock.close()

    failures: list[BaseException] = []

    def worker(start: int) -> None:
        for i in range(start, 40, 4):
            try:
                one(i)
            except BaseException as exc:
                failures.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert_serving(gw)
    assert_clean_log(gw)
