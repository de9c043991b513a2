"""The PostgreSQL side: read-only backend sessions, pooling with reset, backend TLS and auth."""

from __future__ import annotations

import time

import psycopg
import pytest

from tests.conftest import READER_PASSWORD


def checksum(pg) -> str:
    tables = ("film", "actor", "film_actor", "typed")
    parts = " || ".join(
        f"(select coalesce(md5(string_agg(t::text, ',' order by t::text)), '') from {name} t)"
        for name in tables
    )
    listing = (
        "(select string_agg(relname, ',' order by relname) from pg_class "
        "where relnamespace = 'public'::regnamespace)"
    )
    return pg.psql(f"select {parts} || {listing}", "testdb").strip()


WRITES = [
    "insert into film (film_id, title) values (5001, 'new')",
    "update film set title = 'changed' where film_id = 1",
    "delete from film_actor",
    "create table evil (a int)",
    "drop table film_actor",
    "truncate actor cascade",
    "alter table film add column x int",
    "with d as (delete from actor returning *) select count(*) from d",
    "select * into film_copy from film",
    "grant all on film to public",
]


@pytest.mark.parametrize("statement", WRITES)
def test_writes_fail_with_25006_and_leave_data_unchanged(gateway, pg, statement):
    before = checksum(pg)
    with psycopg.connect(gateway.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction) as info:
            conn.execute(statement)
        assert "read-only" in str(info.value)
        assert conn.execute("select count(*) from film").fetchone() == (1000,)
    assert checksum(pg) == before


@pytest.mark.parametrize(
    "statement, sqlstate",
    [
        ("set default_transaction_read_only = off", "42501"),
        ("set session characteristics as transaction read write", "25006"),
        ("begin read write", "25006"),
        ("start transaction isolation level serializable, read write", "25006"),
        ("set statement_timeout = 0", "42501"),
        ("set role postgres", "42501"),
        ("set session authorization postgres", "42501"),
        ("select set_config('default_transaction_read_only', 'off', false)", "42501"),
        ("reset default_transaction_read_only", "42501"),
        ("select nextval('film_film_id_seq')", "42501"),
        ("select pg_terminate_backend(1)", "42501"),
    ],
)
def test_session_tricks_are_refused(gateway, statement, sqlstate):
    with psycopg.connect(gateway.dsn(), autocommit=True) as conn:
        with pytest.raises(psycopg.Error) as info:
            conn.execute(statement)
        assert info.value.sqlstate == sqlstate
        assert conn.execute("show default_transaction_read_only").fetchone() == ("on",)


def test_set_transaction_read_write_inside_transaction_is_refused(gateway):
    with psycopg.connect(gateway.dsn()) as conn:
        conn.execute("select 1")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("set transaction read write")
        conn.rollback()
        assert conn.execute("show transaction_read_only").fetchone() == ("on",)


def test_backend_session_is_read_only_at_the_database_level(gateway):
    with psycopg.connect(gateway.dsn(), autocommit=True) as conn:
        row = conn.execute(
            "select current_setting('default_transaction_read_only'), "
            "current_setting('transaction_read_only'), current_setting('statement_timeout')"
        ).fetchone()
        assert row == ("on", "on", "30s")
        # RESET ALL and DISCARD ALL return to the start-up values, which are read-only.
        conn.execute("reset all")
        conn.execute("discard all")
        assert conn.execute("show default_transaction_read_only").fetchone() == ("on",)
        assert conn.execute("show statement_timeout").fetchone() == ("30s",)


def test_backend_connections_are_pooled_and_reset(gateway):
    with psycopg.connect(gateway.dsn(database="other", application_name="first")) as conn:
        conn.autocommit = True
        first_pid = conn.execute("select pg_backend_pid()").fetchone()[0]
        conn.execute("set search_path = pg_catalog")
        conn.execute("prepare leftover as select 1")
        conn.execute("declare held cursor with hold for select 1")
    # The gateway resets the backend after the client has gone: until that round trip ends, a
    # new session gets another backend. So ask again until the reset one comes back.
    # Sessions that got another backend stay open meanwhile, so theirs do not go back on top.
    deadline = time.monotonic() + 10
    others: list[psycopg.Connection] = []
    while True:
        conn = psycopg.connect(gateway.dsn(database="other", application_name="second"))
        conn.autocommit = True
        if conn.execute("select pg_backend_pid()").fetchone()[0] == first_pid:
            break
        others.append(conn)
        assert time.monotonic() < deadline, "the first session's backend was never reused"
        time.sleep(0.05)
    for other in others:
        other.close()
    with conn:
        assert conn.execute("show search_path").fetchone() == ('"$user", public',)
        assert conn.execute("select count(*) from pg_prepared_statements").fetchone() == (0,)
        assert conn.execute("select count(*) from pg_cursors").fetchone() == (0,)
        assert conn.execute("show application_name").fetchone() == ("second",)


def test_open_transaction_is_rolled_back_before_reuse(gateway):
    conn = psycopg.connect(gateway.dsn(database="other"))
    pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    assert conn.info.transaction_status == psycopg.pq.TransactionStatus.INTRANS
    conn.close()
    with psycopg.connect(gateway.dsn(database="other"), autocommit=True) as again:
        assert again.execute("select pg_backend_pid()").fetchone()[0] == pid
        assert again.info.transaction_status == psycopg.pq.TransactionStatus.IDLE


def test_backend_tls_follows_the_dsn_sslmode(gateway):
    query = "select ssl from pg_stat_ssl where pid = pg_backend_pid()"
    with psycopg.connect(gateway.dsn(database="pagila")) as conn:
        assert conn.execute(query).fetchone() == (True,)
    with psycopg.connect(gateway.dsn(database="other")) as conn:
        assert conn.execute(query).fetchone() == (False,)


@pytest.fixture(scope="module")
def auth_gateway(gateway_factory, pg):
    sources = f"""
[sources.via_md5]
kind = "postgres"
dsn = "{pg.dsn("md5_user", "md5-pw", "testdb", sslmode="disable")}"

[sources.via_password]
kind = "postgres"
dsn = "{pg.dsn("pw_user", "pw-pw", "testdb", sslmode="disable")}"

[sources.via_tls_only]
kind = "postgres"
dsn = "{pg.dsn("tls_user", "tls-pw", "testdb", sslmode="require")}"

[sources.tls_refused]
kind = "postgres"
dsn = "{pg.dsn("tls_user", "tls-pw", "testdb", sslmode="disable")}"

[sources.bad_password]
kind = "postgres"
dsn = "{pg.dsn("reader", "wrong", "testdb", sslmode="disable")}"

[sources.unreachable]
kind = "postgres"
dsn = "postgresql://reader:x@127.0.0.1:1/testdb?sslmode=disable&connect_timeout=2"
"""
    return gateway_factory(sources_extra=sources)


@pytest.mark.parametrize(
    "source, role",
    [("via_md5", "md5_user"), ("via_password", "pw_user"), ("via_tls_only", "tls_user")],
)
def test_backend_authentication_methods(auth_gateway, source, role):
    with psycopg.connect(auth_gateway.dsn(database=source)) as conn:
        assert conn.execute("select current_user, count(*) from film").fetchone() == (role, 1000)


@pytest.mark.parametrize(
    "source, message",
    [
        ("bad_password", 'password authentication failed for user "reader"'),
        ("tls_refused", "pg_hba.conf rejects connection"),
        ("unreachable", "could not connect to 127.0.0.1:1"),
    ],
)
def test_backend_failures_reach_the_client(auth_gateway, source, message):
    with pytest.raises(psycopg.OperationalError) as info:
        psycopg.connect(auth_gateway.dsn(database=source)).close()
    assert message in str(info.value)
    assert READER_PASSWORD not in str(info.value)
    with psycopg.connect(auth_gateway.dsn(database="pagila")) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_postgresql_itself_refuses_several_statements_in_one_parse(gateway):
    from gateway.protocol import messages
    from tests.pgwire import WireClient, errors, ready_status

    client = WireClient(gateway.port)
    try:
        client.startup("analyst", "secret", "pagila")
        client.send(
            messages.Parse.build(statement=b"", query=b"select 1; select 2", param_types=[]),
            messages.Sync.build(),
        )
        responses = client.read_until(b"Z")
        [error] = errors(responses)
        assert error["C"] == "42601"
        assert error["M"] == "cannot insert multiple commands into a prepared statement"
        assert ready_status(responses) == "I"
    finally:
        client.close()


def test_backend_is_reusable_after_a_client_leaves_without_sync(gateway):
    from gateway.protocol import messages
    from tests.pgwire import WireClient, data_rows

    client = WireClient(gateway.port)
    client.startup("analyst", "secret", "other")
    [[pid]] = data_rows(client.query("select pg_backend_pid()"))
    client.send(
        messages.Parse.build(statement=b"", query=b"select 1/0", param_types=[]),
        messages.Bind.build(
            portal=b"", statement=b"", param_formats=[], params=[], result_formats=[]
        ),
        messages.Execute.build(portal=b"", max_rows=0),
        messages.Flush.build(),
    )
    responses = client.read_until(b"E")
    assert responses[0][0] == b"1"  # ParseComplete; the division fails at Bind or Execute
    client.sock.close()  # no Sync: the backend is still skipping messages after the error
    time.sleep(0.5)
    with psycopg.connect(gateway.dsn(database="other"), autocommit=True) as conn:
        # The same backend connection, reset and reused rather than dropped.
        assert conn.execute("select pg_backend_pid()").fetchone() == (int(pid),)
        assert conn.execute("select body from note").fetchone() == ("other source",)
