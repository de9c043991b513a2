"""The extended query protocol, simple queries, transaction status, COPY and FunctionCall through
the gateway, asserted message by message with the raw wire client.

Every expectation here is what PostgreSQL 15 itself answers on a direct connection: the gateway
relays the backend's messages and only swaps its own errors in for rejected statements.
"""

from __future__ import annotations

import math
import struct
import uuid
from collections.abc import Iterator, Sequence

import pytest

from gateway.protocol import messages
from tests.conftest import ANALYST_PASSWORD
from tests.pgwire import WireClient, data_rows, errors, ready_status, tags

INT4 = 23
INT8 = 20
TEXT = 25
# Fails when executed, not when planned: `select 1/0` would fail at Bind (constant folding).
DIV_ZERO = "select 1/(film_id - film_id) from film where film_id = 1"
MARKER = "metahog_rejected"

SYNC = messages.Sync.build()
FLUSH = messages.Flush.build()


# --- message builders ---------------------------------------------------------------------------
def parse(sql: str, name: bytes = b"", types: Sequence[int] = ()) -> bytes:
    return messages.Parse.build(statement=name, query=sql.encode(), param_types=list(types))


def bind(
    portal: bytes = b"",
    statement: bytes = b"",
    params: Sequence[bytes | None] = (),
    param_formats: Sequence[int] = (),
    result_formats: Sequence[int] = (),
) -> bytes:
    values = [
        {"length": -1, "data": None} if p is None else {"length": len(p), "data": p} for p in params
    ]
    return messages.Bind.build(
        portal=portal,
        statement=statement,
        param_formats=list(param_formats),
        params=values,
        result_formats=list(result_formats),
    )


def execute(portal: bytes = b"", max_rows: int = 0) -> bytes:
    return messages.Execute.build(portal=portal, max_rows=max_rows)


def describe(kind: bytes, name: bytes = b"") -> bytes:
    return messages.simple_message(b"D", kind + name + b"\0")


def close(kind: bytes, name: bytes = b"") -> bytes:
    return messages.simple_message(b"C", kind + name + b"\0")


def query(sql: str) -> bytes:
    return messages.Query.build(query=sql.encode())


def function_call(oid: int, args: Sequence[bytes]) -> bytes:
    body = struct.pack("!IH", oid, 0) + struct.pack("!H", len(args))
    for arg in args:
        body += struct.pack("!i", len(arg)) + arg
    body += struct.pack("!H", 0)
    return messages.simple_message(b"F", body)


# --- message readers ----------------------------------------------------------------------------
def parameter_types(payload: bytes) -> list[int]:
    (count,) = struct.unpack_from("!H", payload)
    return list(struct.unpack_from(f"!{count}I", payload, 2))


def row_fields(payload: bytes) -> list[tuple[str, int, int]]:
    """RowDescription as (name, type oid, format code) per column."""
    (count,) = struct.unpack_from("!H", payload)
    pos, fields = 2, []
    for _ in range(count):
        end = payload.index(b"\0", pos)
        name = payload[pos:end].decode()
        _table, _attnum, type_oid, _len, _mod, fmt = struct.unpack_from("!IhIhih", payload, end + 1)
        fields.append((name, type_oid, fmt))
        pos = end + 1 + 18
    return fields


def payloads(responses: list[tuple[bytes, bytes]], tag: bytes) -> list[bytes]:
    return [p for t, p in responses if t == tag]


def command_tags(responses: list[tuple[bytes, bytes]]) -> list[str]:
    return [p.rstrip(b"\0").decode() for p in payloads(responses, b"C")]


def sqlstates(responses: list[tuple[bytes, bytes]]) -> list[str]:
    return [e["C"] for e in errors(responses)]


def read_batches(client: WireClient, count: int) -> list[list[tuple[bytes, bytes]]]:
    return [client.read_until(b"Z") for _ in range(count)]


def assert_silent(client: WireClient, seconds: float = 0.5) -> None:
    """Nothing arrives within `seconds`: the server is waiting for the client."""
    client.sock.settimeout(seconds)
    try:
        with pytest.raises(TimeoutError):
            client.read()
    finally:
        client.sock.settimeout(10)


def assert_usable(client: WireClient) -> None:
    responses = client.query("select 41 + 1")
    assert tags(responses) == "TDCZ"
    assert data_rows(responses) == [[b"42"]]
    assert ready_status(responses) == "I"


def film_count(client: WireClient) -> int:
    rows = data_rows(client.query("select count(*) from film"))
    return int(rows[0][0])


@pytest.fixture
def client(gateway) -> Iterator[WireClient]:
    wire = WireClient(gateway.port)
    assert ready_status(wire.startup("analyst", ANALYST_PASSWORD, "pagila")) == "I"
    try:
        yield wire
    finally:
        wire.close()


# --- Parse / Bind / Describe / Execute / Close / Sync ------------------------------------------
def test_full_extended_cycle_message_by_message(client):
    name, portal = b"by_id", b"cur"
    client.send(
        parse("select film_id, title from film where film_id = $1", name, [INT4]),
        describe(b"S", name),
        bind(portal, name, [b"7"]),
        describe(b"P", portal),
        execute(portal),
        close(b"P", portal),
        close(b"S", name),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert tags(responses) == "1tT2TDC33Z"
    assert parameter_types(payloads(responses, b"t")[0]) == [INT4]
    statement_fields, portal_fields = (row_fields(p) for p in payloads(responses, b"T"))
    assert statement_fields == [("film_id", INT4, 0), ("title", TEXT, 0)]
    assert portal_fields == [("film_id", INT4, 0), ("title", TEXT, 0)]
    assert data_rows(responses) == [[b"7", b"Film 7"]]
    assert command_tags(responses) == ["SELECT 1"]
    assert ready_status(responses) == "I"


def test_describe_of_statement_without_rows_gives_nodata(client):
    client.send(
        parse("rollback", b"rb"),
        describe(b"S", b"rb"),
        bind(b"p", b"rb"),
        describe(b"P", b"p"),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert tags(responses) == "1tn2nZ"
    assert parameter_types(payloads(responses, b"t")[0]) == []


def test_parameter_types_are_inferred_when_not_given(client):
    client.send(parse("select $1::int + 1, $2::text, $3::bigint"), describe(b"S"), SYNC)
    responses = client.read_until(b"Z")
    assert tags(responses) == "1tTZ"
    assert parameter_types(payloads(responses, b"t")[0]) == [INT4, TEXT, INT8]


def test_empty_statement_in_extended_protocol(client):
    client.send(parse(""), bind(), describe(b"P"), execute(), SYNC)
    responses = client.read_until(b"Z")
    assert tags(responses) == "12nIZ"


# --- row limits and PortalSuspended ------------------------------------------------------------
def test_row_limit_suspends_and_next_execute_continues_in_transaction(client):
    assert ready_status(client.query("begin")) == "T"
    client.send(
        parse("select film_id from film where film_id <= 8 order by film_id", b"eight"),
        bind(b"rows", b"eight"),
        execute(b"rows", 3),
        SYNC,
    )
    first = client.read_until(b"Z")
    assert tags(first) == "12DDDsZ"
    assert ready_status(first) == "T"
    client.send(execute(b"rows", 3), SYNC)
    second = client.read_until(b"Z")
    assert tags(second) == "DDDsZ"
    client.send(execute(b"rows", 0), SYNC)
    third = client.read_until(b"Z")
    assert tags(third) == "DDCZ"
    assert command_tags(third) == ["SELECT 2"]
    values = [row[0] for row in data_rows(first + second + third)]
    assert values == [str(i).encode() for i in range(1, 9)]
    # The portal ran to completion: executing it again returns no more rows.
    client.send(execute(b"rows", 0), SYNC)
    assert tags(client.read_until(b"Z")) == "CZ"
    assert ready_status(client.query("commit")) == "I"


def test_row_limit_continues_within_one_sync_batch(client):
    client.send(
        parse("select film_id from film where film_id <= 5 order by film_id"),
        bind(),
        execute(b"", 2),
        execute(b"", 2),
        execute(b"", 0),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert tags(responses) == "12DDsDDsDCZ"
    assert [row[0] for row in data_rows(responses)] == [b"1", b"2", b"3", b"4", b"5"]
    assert command_tags(responses) == ["SELECT 1"]
    assert ready_status(responses) == "I"


def test_suspended_unnamed_portal_does_not_outlive_sync_outside_transaction(client):
    client.send(parse("select film_id from film order by film_id"), bind(), execute(b"", 2), SYNC)
    assert tags(client.read_until(b"Z")) == "12DDsZ"
    client.send(execute(b"", 2), SYNC)
    responses = client.read_until(b"Z")
    assert tags(responses) == "EZ"
    assert sqlstates(responses) == ["34000"]
    assert ready_status(responses) == "I"


# --- named and unnamed statements and portals ---------------------------------------------------
def test_named_and_unnamed_statements_and_portals(client):
    client.send(
        parse("select 'named', $1::int", b"st", [INT4]),
        parse("select 'unnamed', $1::int * 2", b"", [INT4]),
        bind(b"", b"st", [b"1"]),
        execute(),
        bind(b"", b"", [b"2"]),
        execute(),
        bind(b"pa", b"st", [b"3"]),
        bind(b"pb", b"", [b"4"]),
        execute(b"pb"),
        execute(b"pa"),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert tags(responses) == "112DC2DC22DCDCZ"
    assert data_rows(responses) == [
        [b"named", b"1"],
        [b"unnamed", b"4"],
        [b"unnamed", b"8"],
        [b"named", b"3"],
    ]
    # The named statement survives the Sync; the unnamed one too, until the next unnamed Parse.
    client.send(bind(b"", b"st", [b"5"]), execute(), bind(b"", b"", [b"6"]), execute(), SYNC)
    responses = client.read_until(b"Z")
    assert data_rows(responses) == [[b"named", b"5"], [b"unnamed", b"12"]]


def test_duplicate_named_statement_is_an_error(client):
    client.send(parse("select 1", b"dup"), SYNC, parse("select 2", b"dup"), SYNC)
    first, second = read_batches(client, 2)
    assert tags(first) == "1Z"
    assert tags(second) == "EZ"
    assert sqlstates(second) == ["42P05"]
    assert_usable(client)


def test_close_statement_and_portal(client):
    assert ready_status(client.query("begin")) == "T"
    client.send(
        parse("select film_id from film order by film_id", b"films"),
        bind(b"keep", b"films"),
        bind(b"gone", b"films"),
        execute(b"keep", 1),
        execute(b"gone", 1),
        close(b"P", b"gone"),
        close(b"S", b"films"),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert tags(responses) == "122DsDs33Z"
    # A closed portal is gone; a portal outlives the statement it was bound from.
    client.send(execute(b"gone", 1), SYNC)
    responses = client.read_until(b"Z")
    assert tags(responses) == "EZ"
    assert sqlstates(responses) == ["34000"]
    assert ready_status(responses) == "E"
    assert ready_status(client.query("rollback")) == "I"

    client.send(parse("select 1", b"again"), close(b"S", b"again"), bind(b"", b"again"), SYNC)
    responses = client.read_until(b"Z")
    assert tags(responses) == "13EZ"
    assert sqlstates(responses) == ["26000"]
    # Closing what does not exist is not an error.
    client.send(close(b"S", b"never_was"), close(b"P", b"never_was"), SYNC)
    assert tags(client.read_until(b"Z")) == "33Z"


def test_portal_outlives_its_closed_statement(client):
    assert ready_status(client.query("begin")) == "T"
    client.send(
        parse("select film_id from film where film_id <= 3 order by film_id", b"s"),
        bind(b"p", b"s"),
        close(b"S", b"s"),
        execute(b"p"),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert tags(responses) == "123DDDCZ"
    assert ready_status(client.query("commit")) == "I"


# --- Flush ---------------------------------------------------------------------------------------
def test_flush_sends_pending_responses_without_sync(client):
    client.send(parse("select 'flushed'"), bind(), execute())
    # Without Flush or Sync, PostgreSQL keeps its answers buffered; the gateway adds nothing.
    assert_silent(client)
    client.send(FLUSH)
    responses = client.read_until(b"C")
    assert tags(responses) == "12DC"
    assert data_rows(responses) == [[b"flushed"]]
    assert_silent(client)
    client.send(SYNC)
    responses = client.read_until(b"Z")
    assert tags(responses) == "Z"
    assert ready_status(responses) == "I"


def test_flush_then_error_then_sync(client):
    client.send(parse(DIV_ZERO), bind(), execute(), FLUSH)
    responses = client.read_until(b"E")
    assert tags(responses) == "12E"
    assert sqlstates(responses) == ["22012"]
    client.send(parse("select 2"), bind(), execute(), SYNC)
    # Everything up to the Sync is skipped after the error.
    assert tags(client.read_until(b"Z")) == "Z"
    assert_usable(client)


# --- pipelining ---------------------------------------------------------------------------------
def test_pipelined_batches_answer_in_order(client):
    batches = []
    for i in range(1, 9):
        batches += [
            parse("select $1::int * 10, $2::text", b"", [INT4, TEXT]),
            bind(b"", b"", [str(i).encode(), f"batch {i}".encode()]),
            execute(),
            SYNC,
        ]
    client.send(*batches)
    for i, responses in enumerate(read_batches(client, 8), start=1):
        assert tags(responses) == "12DCZ"
        assert data_rows(responses) == [[str(i * 10).encode(), f"batch {i}".encode()]]
    assert_usable(client)


def test_pipelined_errors_and_rejections_stay_with_their_batch(client):
    client.send(
        parse(DIV_ZERO),
        bind(),
        execute(),
        SYNC,
        parse("insert into film values (5000, 'x')"),
        bind(),
        execute(),
        SYNC,
        parse("select 'third'"),
        bind(),
        execute(),
        SYNC,
        query("delete from film"),
        parse("select 'fifth'"),
        bind(),
        execute(),
        SYNC,
        query("select 'sixth'"),
    )
    division, insert, third, delete, fifth, sixth = read_batches(client, 6)
    assert tags(division) == "12EZ"
    assert sqlstates(division) == ["22012"]
    assert tags(insert) == "EZ"
    assert sqlstates(insert) == ["25006"]
    assert tags(third) == "12DCZ"
    assert data_rows(third) == [[b"third"]]
    assert tags(delete) == "EZ"
    assert sqlstates(delete) == ["25006"]
    assert tags(fifth) == "12DCZ"
    assert data_rows(fifth) == [[b"fifth"]]
    assert tags(sixth) == "TDCZ"
    for batch in (division, insert, third, delete, fifth, sixth):
        assert ready_status(batch) == "I"
        for error in errors(batch):
            assert MARKER not in error["M"]
    assert film_count(client) == 1000


# --- errors and recovery ------------------------------------------------------------------------
def test_error_discards_messages_until_sync(client):
    client.send(
        parse(DIV_ZERO),
        bind(),
        execute(),
        parse("select 'skipped'"),
        bind(),
        describe(b"P"),
        execute(),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert tags(responses) == "12EZ"
    error = errors(responses)[0]
    assert error["C"] == "22012"
    assert error["M"] == "division by zero"
    assert ready_status(responses) == "I"
    assert_usable(client)


def test_guard_rejection_in_parse_discards_until_sync(client):
    client.send(
        parse("insert into film values (5000,'x')", b"ins"),
        bind(b"", b"ins"),
        describe(b"P"),
        execute(),
        parse("select 'skipped'"),
        bind(),
        execute(),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert tags(responses) == "EZ"
    (error,) = errors(responses)
    assert error["C"] == "25006"
    assert error["S"] == "ERROR"
    assert "read-only" in error["M"]
    assert MARKER not in error["M"]
    assert ready_status(responses) == "I"
    # The rejected statement was never prepared under its name.
    client.send(bind(b"", b"ins"), SYNC)
    responses = client.read_until(b"Z")
    assert sqlstates(responses) == ["26000"]
    assert film_count(client) == 1000
    assert_usable(client)


def test_rejected_parse_after_an_error_in_the_same_batch(client):
    # The backend is already skipping when the sentinel arrives: only the first error is seen,
    # and the next rejection still gets its own guard error.
    client.send(parse(DIV_ZERO), bind(), execute(), parse("delete from film"), SYNC)
    responses = client.read_until(b"Z")
    assert tags(responses) == "12EZ"
    assert sqlstates(responses) == ["22012"]
    client.send(parse("update film set title = 'y'"), SYNC)
    responses = client.read_until(b"Z")
    assert sqlstates(responses) == ["25006"]
    assert MARKER not in errors(responses)[0]["M"]
    assert_usable(client)


def test_query_message_while_skipping_to_sync_is_discarded(client):
    # PostgreSQL ignores a simple Query that arrives while it skips to Sync after an extended
    # protocol error; later rejections must still be reported with the guard's own error.
    client.send(parse(DIV_ZERO), bind(), execute(), query("select 'ignored'"), SYNC)
    responses = client.read_until(b"Z")
    assert tags(responses) == "12EZ"
    assert sqlstates(responses) == ["22012"]
    responses = client.query("delete from film")
    assert tags(responses) == "EZ"
    assert sqlstates(responses) == ["25006"]
    assert MARKER not in errors(responses)[0]["M"]
    client.send(parse("insert into film values (5000,'x')"), SYNC)
    responses = client.read_until(b"Z")
    assert sqlstates(responses) == ["25006"]
    assert_usable(client)


# --- formats ------------------------------------------------------------------------------------
def test_binary_parameter_and_binary_result_column(client):
    client.send(
        parse("select $1::int4 + 1 as n, $2::text as t", b"", [INT4, TEXT]),
        bind(
            b"", b"", [struct.pack("!i", 41), b"abc"], param_formats=[1, 0], result_formats=[1, 0]
        ),
        describe(b"P"),
        execute(),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert tags(responses) == "12TDCZ"
    assert row_fields(payloads(responses, b"T")[0]) == [("n", INT4, 1), ("t", TEXT, 0)]
    assert data_rows(responses) == [[b"\x00\x00\x00\x2a", b"abc"]]


def test_single_format_code_applies_to_all_columns_and_params(client):
    client.send(
        parse("select $1::int8 * 2, $2::int4, $3::text", b"", [INT8, INT4, TEXT]),
        bind(
            b"",
            b"",
            [struct.pack("!q", -(2**40)), struct.pack("!i", -1), None],
            param_formats=[1],
            result_formats=[1],
        ),
        describe(b"P"),
        execute(),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert tags(responses) == "12TDCZ"
    assert [f[2] for f in row_fields(payloads(responses, b"T")[0])] == [1, 1, 1]
    assert data_rows(responses) == [[struct.pack("!q", -(2**41)), struct.pack("!i", -1), None]]


def test_text_formats_are_the_default(client):
    client.send(
        parse("select $1::int4 * 3"),
        bind(b"", b"", [b"14"], param_formats=[0], result_formats=[0]),
        execute(),
        bind(b"", b"", [b"15"]),
        execute(),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert data_rows(responses) == [[b"42"], [b"45"]]


def test_binary_results_of_stored_types(client):
    client.send(
        parse("select b, u, f8, bool, arr from typed where id = $1", b"", [INT4]),
        bind(b"", b"", [struct.pack("!i", 1)], param_formats=[1], result_formats=[1]),
        execute(),
        bind(b"", b"", [b"1"], param_formats=[0], result_formats=[0]),
        execute(),
        SYNC,
    )
    responses = client.read_until(b"Z")
    binary, text = data_rows(responses)
    assert binary[0] == b"\xde\xad\xbe\xef"
    assert binary[1] == uuid.UUID("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11").bytes
    assert math.isnan(struct.unpack("!d", binary[2])[0])
    assert binary[3] == b"\x01"
    # int4[] {1,2,3}: ndim 1, no nulls, element oid 23, dimension 3 from lower bound 1.
    assert binary[4] == struct.pack("!iiIii", 1, 0, INT4, 3, 1) + b"".join(
        struct.pack("!ii", 4, v) for v in (1, 2, 3)
    )
    assert text == [
        b"\\xdeadbeef",
        b"a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
        b"NaN",
        b"t",
        b"{1,2,3}",
    ]


def test_binary_parameter_of_wrong_size_is_a_backend_error_not_fatal(client):
    client.send(
        parse("select $1::int4", b"", [INT4]),
        bind(b"", b"", [b"\x00\x01"], param_formats=[1]),
        execute(),
        SYNC,
    )
    responses = client.read_until(b"Z")
    assert tags(responses) == "1EZ"
    # PostgreSQL reports the short value as a protocol violation, but only an ERROR: the session
    # goes on, and the gateway must not treat the SQLSTATE as fatal.
    (error,) = errors(responses)
    assert (error["C"], error["S"]) == ("08P01", "ERROR")
    assert ready_status(responses) == "I"
    assert_usable(client)


# --- transaction status -------------------------------------------------------------------------
def test_ready_for_query_status_through_a_failed_transaction(client):
    assert ready_status(client.query("select 1")) == "I"
    assert ready_status(client.query("begin")) == "T"
    assert ready_status(client.query("select 1")) == "T"
    failed = client.query("select 1/0")
    assert sqlstates(failed) == ["22012"]
    assert ready_status(failed) == "E"
    aborted = client.query("select 1")
    assert sqlstates(aborted) == ["25P02"]
    assert ready_status(aborted) == "E"
    responses = client.query("rollback")
    assert command_tags(responses) == ["ROLLBACK"]
    assert ready_status(responses) == "I"


def test_guard_rejection_in_query_fails_the_transaction(client):
    assert ready_status(client.query("begin")) == "T"
    responses = client.query("delete from film")
    assert tags(responses) == "EZ"
    assert sqlstates(responses) == ["25006"]
    assert ready_status(responses) == "E"
    assert sqlstates(client.query("select 1")) == ["25P02"]
    assert ready_status(client.query("rollback")) == "I"
    assert_usable(client)


def test_guard_rejection_in_parse_fails_the_transaction(client):
    assert ready_status(client.query("begin")) == "T"
    client.send(parse("insert into film values (5000,'x')"), bind(), execute(), SYNC)
    responses = client.read_until(b"Z")
    assert tags(responses) == "EZ"
    assert sqlstates(responses) == ["25006"]
    assert ready_status(responses) == "E"
    client.send(parse("select 1"), bind(), execute(), SYNC)
    responses = client.read_until(b"Z")
    assert sqlstates(responses) == ["25P02"]
    assert ready_status(responses) == "E"
    client.send(parse("rollback"), bind(), execute(), SYNC)
    responses = client.read_until(b"Z")
    assert tags(responses) == "12CZ"
    assert ready_status(responses) == "I"
    assert film_count(client) == 1000


def test_extended_protocol_transaction_status(client):
    client.send(parse("begin"), bind(), execute(), SYNC)
    responses = client.read_until(b"Z")
    assert command_tags(responses) == ["BEGIN"]
    assert ready_status(responses) == "T"
    client.send(parse(DIV_ZERO), bind(), execute(), SYNC)
    assert ready_status(client.read_until(b"Z")) == "E"
    assert ready_status(client.query("rollback")) == "I"


def test_begin_read_only_works_and_read_write_is_rejected(client):
    responses = client.query("begin read only")
    assert command_tags(responses) == ["BEGIN"]
    assert ready_status(responses) == "T"
    assert data_rows(client.query("show transaction_read_only")) == [[b"on"]]
    assert ready_status(client.query("commit")) == "I"

    for statement in (
        "begin read write",
        "start transaction read write",
        "begin isolation level serializable, read write",
    ):
        responses = client.query(statement)
        assert tags(responses) == "EZ", statement
        assert sqlstates(responses) == ["25006"], statement
        assert ready_status(responses) == "I", statement

    assert ready_status(client.query("begin")) == "T"
    responses = client.query("set transaction read write")
    assert sqlstates(responses) == ["25006"]
    assert ready_status(responses) == "E"
    assert ready_status(client.query("rollback")) == "I"


# --- simple query -------------------------------------------------------------------------------
def test_several_statements_in_one_query_message(client):
    responses = client.query(
        "select 1 as a; select 'two' as b, 2; select film_id from film where film_id < 3"
    )
    assert tags(responses) == "TDCTDCTDDCZ"
    assert [row_fields(p) for p in payloads(responses, b"T")] == [
        [("a", INT4, 0)],
        [("b", TEXT, 0), ("?column?", INT4, 0)],
        [("film_id", INT4, 0)],
    ]
    assert data_rows(responses) == [[b"1"], [b"two", b"2"], [b"1"], [b"2"]]
    assert command_tags(responses) == ["SELECT 1", "SELECT 1", "SELECT 2"]
    assert ready_status(responses) == "I"


def test_error_in_a_multi_statement_query_stops_it(client):
    responses = client.query("select 1; select 1/0; select 3")
    assert tags(responses) == "TDCEZ"
    assert sqlstates(responses) == ["22012"]
    assert ready_status(responses) == "I"


@pytest.mark.parametrize("text", ["", ";", "-- ping", "  ", "/* nothing */ ;"])
def test_empty_query_gives_empty_query_response(client, text):
    responses = client.query(text)
    assert tags(responses) == "IZ"
    assert payloads(responses, b"I") == [b""]
    assert ready_status(responses) == "I"
    assert_usable(client)


def test_write_after_commit_in_the_same_message_rejects_the_whole_message(client):
    assert ready_status(client.query("begin")) == "T"
    responses = client.query("commit; delete from film")
    assert tags(responses) == "EZ"
    assert sqlstates(responses) == ["25006"]
    # The COMMIT did not run either: the transaction is still open, and now failed.
    assert ready_status(responses) == "E"
    assert ready_status(client.query("rollback")) == "I"

    responses = client.query("commit; delete from film")
    assert tags(responses) == "EZ"
    assert sqlstates(responses) == ["25006"]
    assert ready_status(responses) == "I"

    responses = client.query("select 1; delete from film where film_id = 1")
    assert tags(responses) == "EZ"
    assert sqlstates(responses) == ["25006"]
    assert film_count(client) == 1000


# --- FunctionCall -------------------------------------------------------------------------------
def test_function_call_is_refused_and_session_stays_usable(client):
    # 1396 is abs(int4) in pg_proc; the message is refused whatever it names.
    client.send(function_call(1396, [b"\xff\xff\xff\xf0"]))
    responses = client.read_until(b"Z")
    assert tags(responses) == "EZ"
    (error,) = errors(responses)
    assert error["C"] == "0A000"
    assert "FunctionCall" in error["M"]
    assert ready_status(responses) == "I"
    assert_usable(client)

    assert ready_status(client.query("begin")) == "T"
    client.send(function_call(1396, [b"\x00\x00\x00\x01"]))
    responses = client.read_until(b"Z")
    assert sqlstates(responses) == ["0A000"]
    assert ready_status(responses) == "E"
    assert ready_status(client.query("rollback")) == "I"


# --- COPY ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "statement",
    [
        "copy film from stdin",
        "copy film (film_id, title) from stdin with (format csv)",
        "copy film to '/tmp/metahog-film.txt'",
        "copy film from '/etc/passwd'",
    ],
)
def test_copy_from_stdin_and_to_files_are_refused(client, statement):
    responses = client.query(statement)
    assert tags(responses) == "EZ"
    assert sqlstates(responses) == ["25006"]
    assert ready_status(responses) == "I"
    assert_usable(client)


def test_copy_from_stdin_via_parse_is_refused(client):
    client.send(parse("copy film from stdin"), bind(), execute(), SYNC)
    responses = client.read_until(b"Z")
    assert tags(responses) == "EZ"
    assert sqlstates(responses) == ["25006"]
    assert_usable(client)


def test_copy_query_to_stdout(client):
    responses = client.query(
        "copy (select film_id, title from film where film_id <= 3 order by film_id) to stdout"
    )
    assert tags(responses) == "HdddcCZ"
    copy_format, columns = struct.unpack_from("!bH", payloads(responses, b"H")[0])
    assert (copy_format, columns) == (0, 2)
    assert payloads(responses, b"d") == [b"1\tFilm 1\n", b"2\tFilm 2\n", b"3\tFilm 3\n"]
    assert command_tags(responses) == ["COPY 3"]
    assert ready_status(responses) == "I"


def test_copy_table_to_stdout_csv(client):
    responses = client.query("copy actor (actor_id, last_name) to stdout with (format csv)")
    assert tags(responses) == "H" + "d" * 200 + "cCZ"
    assert payloads(responses, b"d")[0] == b"1,Last1\n"
    assert command_tags(responses) == ["COPY 200"]


def test_copy_messages_outside_copy_mode_are_ignored(client):
    client.send(
        messages.simple_message(b"d", b"1\tinjected\n"),
        messages.simple_message(b"c"),
        messages.CopyFail.build(message=b"nothing"),
    )
    assert_usable(client)
    assert film_count(client) == 1000
