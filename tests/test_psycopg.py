"""psycopg 3 through the gateway, compared value by value with the same queries run directly."""

from __future__ import annotations

import math

import psycopg
import pytest
from psycopg import pq

QUERIES = [
    "select * from film order by film_id",
    "select * from typed order by id",
    "select f.title, a.first_name, a.last_name from film f join film_actor fa using (film_id) "
    "join actor a using (actor_id) where f.film_id < 50 order by 1, 2",
    "select rating, count(*), avg(rental_rate), sum(length) from film group by rating order by 1",
    "select now() - now() as zero, 'ä€😀'::text as unicode, null::int as nothing",
]


def fetch(dsn: str, query: str, *, binary: bool, params: tuple = ()) -> tuple[list, list]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        cur = conn.cursor(binary=binary)
        cur.execute(query, params or None)
        names = [(d.name, d.type_code) for d in cur.description]
        return names, [tuple(map(comparable, row)) for row in cur.fetchall()]


def comparable(value: object) -> object:
    """NaN never equals itself; compare it by spelling."""
    return "NaN" if isinstance(value, float) and math.isnan(value) else value


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
@pytest.mark.parametrize("query", QUERIES)
def test_results_match_direct(gateway, direct_dsn, query, binary):
    assert fetch(gateway.dsn(), query, binary=binary) == fetch(direct_dsn, query, binary=binary)


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_parameters_in_both_formats(gateway, direct_dsn, binary):
    query = "select film_id, title from film where film_id = %s or title = %s order by 1"
    params = (7, "Film 9")
    through = fetch(gateway.dsn(), query, binary=binary, params=params)
    assert through == fetch(direct_dsn, query, binary=binary, params=params)
    assert [row[0] for row in through[1]] == [7, 9]


def test_binary_result_format_is_what_the_client_asked(gateway):
    with psycopg.connect(gateway.dsn()) as conn:
        cur = conn.cursor(binary=True)
        cur.execute("select 1::int4 as a")
        assert cur.pgresult.fformat(0) == pq.Format.BINARY
        assert cur.pgresult.get_value(0, 0) == b"\x00\x00\x00\x01"
        cur = conn.cursor(binary=False)
        cur.execute("select 1::int4 as a")
        assert cur.pgresult.fformat(0) == pq.Format.TEXT
        assert cur.pgresult.get_value(0, 0) == b"1"


def test_autocommit_off_keeps_a_transaction_open(gateway):
    with psycopg.connect(gateway.dsn()) as conn:
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        conn.execute("select 1")
        assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
        first = conn.execute("select txid_current_if_assigned() is null, now()").fetchone()
        second = conn.execute("select now()").fetchone()
        assert first[1] == second[0]  # one transaction, one now()
        conn.commit()
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE


def test_error_in_transaction_sets_failed_status_and_rollback_recovers(gateway):
    with psycopg.connect(gateway.dsn()) as conn:
        conn.execute("select 1")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            conn.execute("delete from film")
        assert conn.info.transaction_status == pq.TransactionStatus.INERROR
        with pytest.raises(psycopg.errors.InFailedSqlTransaction):
            conn.execute("select 1")
        conn.rollback()
        assert conn.execute("select count(*) from film").fetchone() == (1000,)


def test_autocommit_on(gateway):
    with psycopg.connect(gateway.dsn(), autocommit=True) as conn:
        conn.execute("select 1")
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE
        with conn.transaction():
            assert conn.execute("select count(*) from actor").fetchone() == (200,)
            assert conn.info.transaction_status == pq.TransactionStatus.INTRANS
        assert conn.info.transaction_status == pq.TransactionStatus.IDLE


@pytest.mark.parametrize("binary", [False, True], ids=["text", "binary"])
def test_server_side_cursor(gateway, direct_dsn, binary):
    with psycopg.connect(gateway.dsn()) as conn:
        cur = conn.cursor("films", binary=binary)
        cur.itersize = 100
        cur.execute("select film_id, title, rental_rate from film order by film_id")
        first = cur.fetchmany(10)
        assert [r[0] for r in first] == list(range(1, 11))
        cur.scroll(5)
        assert cur.fetchone()[0] == 16
        rest = cur.fetchall()
        assert len(rest) == 1000 - 16
        cur.close()
    with psycopg.connect(direct_dsn) as conn:
        expected = conn.execute(
            "select film_id, title, rental_rate from film order by film_id"
        ).fetchall()
    assert first == expected[:10]
    assert rest == expected[16:]


def test_server_side_cursor_with_hold(gateway):
    with psycopg.connect(gateway.dsn(), autocommit=True) as conn:
        with conn.cursor("held", withhold=True) as cur:
            cur.execute("select film_id from film where film_id <= 30 order by 1")
            assert len(cur.fetchall()) == 30


def test_pipeline_mode(gateway):
    with psycopg.connect(gateway.dsn(), autocommit=True) as conn:
        with conn.pipeline():
            cursors = [conn.execute("select %s::int * 2", (i,)) for i in range(20)]
        assert [c.fetchone()[0] for c in cursors] == [i * 2 for i in range(20)]


def test_many_statements_and_prepared_reuse(gateway):
    with psycopg.connect(gateway.dsn(), autocommit=True, prepare_threshold=2) as conn:
        for i in range(1, 12):
            row = conn.execute("select title from film where film_id = %s", (i,)).fetchone()
            assert row == (f"Film {i}",)
