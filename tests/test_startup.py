"""Connection start-up and authentication, through psycopg (libpq) and the raw wire client."""

from __future__ import annotations

import socket
import struct

import psycopg
import pytest

from gateway.protocol import messages
from tests.conftest import SCRAM_PASSWORD
from tests.pgwire import WireClient, error_fields


def sqlstate_of(dsn: str) -> tuple[str | None, str]:
    try:
        psycopg.connect(dsn).close()
    except psycopg.OperationalError as exc:
        diag = getattr(exc, "diag", None)
        return (diag.sqlstate if diag else None), str(exc)
    return None, ""


def raw_error(port: int, user: str, password: str, database: str) -> dict[str, str]:
    client = WireClient(port)
    try:
        responses = client.startup(user, password, database)
        assert responses[0][0] == b"E", responses
        return error_fields(responses[0][1])
    finally:
        client.close()


def test_sslrequest_leads_to_tls(gateway):
    with psycopg.connect(gateway.dsn(sslmode="require")) as conn:
        assert conn.pgconn.ssl_in_use
        assert conn.execute("select 1").fetchone() == (1,)


def test_plain_connection_without_tls_works_in_auto_mode(gateway):
    with psycopg.connect(gateway.dsn(sslmode="disable")) as conn:
        assert not conn.pgconn.ssl_in_use
        assert conn.execute("select count(*) from film").fetchone() == (1000,)


def test_gssencrequest_gets_n_and_client_falls_back(gateway):
    sock = socket.create_connection(("127.0.0.1", gateway.port), timeout=5)
    sock.sendall(struct.pack("!II", 8, messages.GSSENC_REQUEST_CODE))
    assert sock.recv(1) == b"N"
    # The same connection then proceeds with an SSLRequest, as libpq does.
    sock.sendall(struct.pack("!II", 8, messages.SSL_REQUEST_CODE))
    assert sock.recv(1) == b"S"
    sock.close()
    with psycopg.connect(gateway.dsn(gssencmode="prefer")) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_scram_is_the_default_and_channel_binding_prefer_uses_plus(gateway):
    with psycopg.connect(gateway.dsn(channel_binding="prefer")) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    # require fails unless the server really binds the channel (SCRAM-SHA-256-PLUS).
    with psycopg.connect(gateway.dsn(channel_binding="require")) as conn:
        assert conn.execute("select 2").fetchone() == (2,)


def test_scram_verifier_user_can_log_in(gateway):
    with psycopg.connect(gateway.dsn(user="scram_user", password=SCRAM_PASSWORD)) as conn:
        assert conn.execute("select current_user").fetchone() == ("reader",)


def test_scram_without_tls(gateway):
    with psycopg.connect(gateway.dsn(sslmode="disable", channel_binding="disable")) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_wrong_password_and_unknown_user_get_the_same_28p01(gateway):
    wrong = raw_error(gateway.port, "analyst", "not-the-password", "pagila")
    unknown = raw_error(gateway.port, "nobody", "whatever", "pagila")
    assert wrong["C"] == unknown["C"] == "28P01"
    assert wrong["M"] == 'password authentication failed for user "analyst"'
    assert unknown["M"] == 'password authentication failed for user "nobody"'
    _, message = sqlstate_of(gateway.dsn(password="nope"))
    assert 'password authentication failed for user "analyst"' in message


def test_unknown_database_gets_3d000(gateway):
    error = raw_error(gateway.port, "analyst", "secret", "no_such_db")
    assert error["C"] == "3D000"
    assert error["M"] == 'database "no_such_db" does not exist'


def test_user_not_allowed_the_source_gets_42501(gateway):
    error = raw_error(gateway.port, "other_only", "other-pw", "pagila")
    assert error["C"] == "42501"
    with psycopg.connect(
        gateway.dsn(database="other", user="other_only", password="other-pw")
    ) as conn:
        assert conn.execute("select body from note").fetchone() == ("other source",)


def test_database_picks_the_source(gateway):
    with psycopg.connect(gateway.dsn(database="other")) as conn:
        assert conn.execute("select current_database()").fetchone() == ("otherdb",)
    with psycopg.connect(gateway.dsn(database="pagila")) as conn:
        assert conn.execute("select current_database()").fetchone() == ("testdb",)


def test_parameter_status_and_backend_key(gateway):
    client = WireClient(gateway.port)
    try:
        client.startup("analyst", "secret", "pagila", application_name="wire-test")
        expected = {
            "server_version",
            "server_encoding",
            "client_encoding",
            "DateStyle",
            "IntervalStyle",
            "integer_datetimes",
            "standard_conforming_strings",
            "TimeZone",
            "application_name",
            "is_superuser",
            "session_authorization",
            "default_transaction_read_only",
            "in_hot_standby",
        }
        assert expected <= set(client.parameters)
        assert client.parameters["server_version"].split()[0].split(".")[0].isdigit()
        assert client.parameters["application_name"] == "wire-test"
        assert client.parameters["is_superuser"] == "off"
        assert client.parameters["session_authorization"] == "analyst"
        assert client.parameters["default_transaction_read_only"] == "on"
        assert client.parameters["standard_conforming_strings"] == "on"
        assert client.key is not None and client.key[1] != 0
    finally:
        client.close()
    other = WireClient(gateway.port)
    try:
        other.startup("analyst", "secret", "pagila")
        assert other.key != client.key
    finally:
        other.close()


def test_startup_parameters_are_honoured(gateway):
    with psycopg.connect(
        gateway.dsn(
            application_name="my-report", options="-c search_path=pg_catalog -c DateStyle=German"
        )
    ) as conn:
        row = conn.execute(
            "select current_setting('application_name'), current_setting('search_path'), "
            "current_setting('DateStyle')"
        ).fetchone()
        assert row == ("my-report", "pg_catalog", "German, DMY")


def test_options_that_change_server_settings_are_not_forwarded(gateway):
    dsn = gateway.dsn(
        options="-c default_transaction_read_only=off -c statement_timeout=0 -c search_path=public"
    )
    notices: list[str] = []
    with psycopg.connect(dsn) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        row = conn.execute(
            "select current_setting('default_transaction_read_only'), "
            "current_setting('statement_timeout'), current_setting('search_path')"
        ).fetchone()
    assert row == ("on", "30s", "public")


def test_cleartext_password_only_over_tls(gateway_factory):
    gw = gateway_factory({"auth": "password"})
    with psycopg.connect(gw.dsn(sslmode="require")) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    client = WireClient(gw.port, tls=False)
    try:
        responses = client.startup("analyst", "secret", "pagila")
        error = error_fields(responses[0][1])
        assert error["C"] == "28000"
        assert "TLS" in error["M"]
    finally:
        client.close()
    _, message = sqlstate_of(gw.dsn(sslmode="require", password="wrong"))
    assert "password authentication failed" in message


def _gateway_with_tls(factory, mode: str):
    return factory({"tls": mode})


def test_tls_require_refuses_plain_connections(gateway_factory):
    required = _gateway_with_tls(gateway_factory, "require")
    _, message = sqlstate_of(required.dsn(sslmode="disable"))
    assert "requires TLS" in message
    client = WireClient(required.port, tls=False)
    try:
        responses = client.send(messages.startup_message({"user": "analyst", "database": "pagila"}))
        assert error_fields(client.read()[1])["C"] == "28000"
        del responses
    finally:
        client.close()
    with psycopg.connect(required.dsn(sslmode="require")) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_tls_off_answers_n(gateway_factory):
    gw = _gateway_with_tls(gateway_factory, "off")
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=5)
    sock.sendall(struct.pack("!II", 8, messages.SSL_REQUEST_CODE))
    assert sock.recv(1) == b"N"
    sock.close()
    _, message = sqlstate_of(gw.dsn(sslmode="require"))
    assert "does not support SSL" in message
    with psycopg.connect(gw.dsn(sslmode="prefer")) as conn:
        assert not conn.pgconn.ssl_in_use


def test_generated_certificate_is_kept_across_restarts(gateway_factory):
    gw = gateway_factory()
    cert = (gw.state_dir / "tls" / "server.crt").read_bytes()
    key_mode = (gw.state_dir / "tls" / "server.key").stat().st_mode & 0o777
    assert key_mode == 0o600
    gw.stop()
    from tests.conftest import start_gateway

    again = start_gateway(gw.config_path, gw.port, gw.config_path.parent)
    try:
        assert (gw.state_dir / "tls" / "server.crt").read_bytes() == cert
    finally:
        again.stop()


@pytest.mark.parametrize("proto_minor", [2])
def test_newer_protocol_minor_gets_negotiate_protocol_version(gateway, proto_minor):
    client = WireClient(gateway.port)
    try:
        body = messages.StartupMessage.build(
            protocol=(3 << 16) | proto_minor,
            params=[
                {"name": b"user", "value": b"analyst"},
                {"name": b"database", "value": b"pagila"},
                {"name": b"_pq_.test_option", "value": b"1"},
                {"name": b"", "value": None},
            ],
        )
        client.send(body)
        tag, payload = client.read()
        assert tag == b"v"
        negotiated = messages.NegotiateProtocolVersion.parse(payload)
        assert negotiated.newest_minor == 0
        assert negotiated.unrecognized == [b"_pq_.test_option"]
    finally:
        client.close()


def test_configured_certificate_is_used_and_verifiable(gateway_factory, tmp_path):
    from gateway.protocol.tls import make_self_signed

    cert, key = make_self_signed("localhost")
    (tmp_path / "server.crt").write_bytes(cert)
    (tmp_path / "server.key").write_bytes(key)
    gw = gateway_factory(
        {"tls_cert": str(tmp_path / "server.crt"), "tls_key": str(tmp_path / "server.key")}
    )
    dsn = gw.dsn(host="localhost", sslmode="verify-full", sslrootcert=str(tmp_path / "server.crt"))
    with psycopg.connect(dsn) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    assert not (gw.state_dir / "tls" / "server.crt").exists()


def test_client_encodings_the_guard_cannot_read_are_refused_at_startup(gateway):
    # In GBK and its kin a backslash can be the second byte of a character: the gateway would
    # not see strings end where the server does. Such a start-up setting is dropped, with a
    # warning, and the session keeps a safe encoding.
    notices: list[str] = []
    with psycopg.connect(gateway.dsn(client_encoding="GBK")) as conn:
        conn.add_notice_handler(lambda diag: notices.append(diag.message_primary or ""))
        assert conn.execute("show client_encoding").fetchone() == ("UTF8",)
    with psycopg.connect(gateway.dsn(options="-c client_encoding=SJIS")) as conn:
        assert conn.execute("show client_encoding").fetchone() == ("UTF8",)
    with psycopg.connect(gateway.dsn(client_encoding="LATIN1")) as conn:
        assert conn.execute("show client_encoding").fetchone() == ("LATIN1",)
        assert conn.execute("select 'ä'").fetchone() == ("ä",)
