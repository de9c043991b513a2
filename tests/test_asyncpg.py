"""asyncpg through the gateway: prepared statements and binary codecs for the main types."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

TYPED = "select id, n, ts, d, u, j, arr, tarr, iv, b, bool from typed order by id"


def run(coroutine):
    return asyncio.run(coroutine)


async def fetch_all(dsn: str, query: str, *args: object) -> list[tuple]:
    conn = await asyncpg.connect(dsn, ssl="require")
    try:
        return [tuple(r) for r in await conn.fetch(query, *args)]
    finally:
        await conn.close()


def direct_url(pg) -> str:
    return f"postgresql://reader:reader-pw@127.0.0.1:{pg.port}/testdb"


def test_binary_types_match_direct(gateway, pg):
    through = run(fetch_all(gateway.url(), TYPED))
    assert through == run(fetch_all(direct_url(pg), TYPED))
    first = through[0]
    assert str(first[1]) == "12345.6789"
    assert first[2].isoformat() == "2024-03-01T12:34:56.789000+00:00"
    assert str(first[4]) == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert first[5] == '{"a": [1, 2, {"b": null}]}'
    assert first[6] == [1, 2, 3] and first[7] == ["x", "y z", None]
    assert first[8].days == 428 and first[9] == b"\xde\xad\xbe\xef"


def test_prepared_statement_reuse_and_parameters(gateway):
    async def scenario() -> None:
        conn = await asyncpg.connect(gateway.url(), ssl="require")
        try:
            stmt = await conn.prepare(
                "select film_id, title, rental_rate from film where film_id = $1"
            )
            assert [a.name for a in stmt.get_attributes()] == ["film_id", "title", "rental_rate"]
            assert [p.name for p in stmt.get_parameters()] == ["int4"]
            for film_id in (1, 2, 500, 1000):
                row = await stmt.fetchrow(film_id)
                assert row["film_id"] == film_id and row["title"] == f"Film {film_id}"
            assert await stmt.fetchrow(5000) is None
            values = await conn.fetchval(
                "select $1::numeric + 1, $2::uuid, $3::jsonb ->> 'k', $4::int[]",
                1,
                "00000000-0000-0000-0000-000000000001",
                '{"k": "v"}',
                [1, 2],
                column=2,
            )
            assert values == "v"
        finally:
            await conn.close()

    run(scenario())


def test_transactions_and_cursor(gateway):
    async def scenario() -> list[int]:
        conn = await asyncpg.connect(gateway.url(), ssl="require")
        try:
            async with conn.transaction(readonly=True):
                ids = [
                    r["film_id"]
                    async for r in conn.cursor(
                        "select film_id from film where film_id <= $1 order by 1", 250, prefetch=50
                    )
                ]
            return ids
        finally:
            await conn.close()

    assert run(scenario()) == list(range(1, 251))


def test_read_write_transaction_is_refused(gateway):
    async def scenario() -> None:
        conn = await asyncpg.connect(gateway.url(), ssl="require")
        try:
            with pytest.raises(asyncpg.exceptions.ReadOnlySQLTransactionError):
                await conn.execute("insert into actor values (999, 'a', 'b')")
            assert await conn.fetchval("select count(*) from actor") == 200
        finally:
            await conn.close()

    run(scenario())
