"""The guard on its own: classification, SQLSTATEs, and the caches."""

from __future__ import annotations

import pytest
from asyncpg import introspection

from gateway.routing import functions, pglexer
from gateway.routing.guard import Guard

ALLOWED = [
    "select 1",
    "",
    ";",
    "-- ping",
    "/* comment */ select 1",
    "select title from film where title like 'A%' order by 1 limit 3",
    "with t as (select 1 as a) select * from t",
    "table film",
    "values (1, 'a'), (2, 'b')",
    "select 1 union all select 2 except select 3",
    "select $$; delete from film$$ as text",
    "select 'x; drop table film' as s",
    "show search_path",
    "show transaction isolation level",
    "show all",
    "begin",
    "begin read only",
    "begin isolation level repeatable read, read only",
    "start transaction read only",
    "commit",
    "end",
    "abort",
    "rollback",
    "savepoint s1",
    "release savepoint s1",
    "rollback to savepoint s1",
    'set search_path = public, "$user"',
    "set time zone 'UTC'",
    "set local search_path to pg_catalog",
    "set session characteristics as transaction read only",
    "set transaction isolation level serializable",
    "set extra_float_digits = 3",
    "set application_name = 'x'",
    "reset all",
    "reset search_path",
    "discard all",
    "declare c cursor for select * from film",
    "declare c no scroll cursor with hold for select 1",
    "fetch forward 10 from c",
    "move 5 in c",
    "close c",
    "close all",
    "explain select 1",
    "explain analyze select * from film",
    "explain (analyze, format json) select 1",
    "explain (analyze 1, verbose 0, costs off) select 1",
    "prepare p (int) as select $1",
    "execute p(1)",
    "deallocate p",
    "deallocate all",
    "unlisten *",
    "copy (select 1) to stdout",
    "copy film to stdout with csv",
    "select current_setting('jit'), set_config('jit', 'off', false)",
    "select x::oid[] from t",
    introspection.INTRO_LOOKUP_TYPES,
]

REFUSED = [
    ("insert into film values (1)", "25006"),
    ("update film set title = 'x'", "25006"),
    ("delete from film", "25006"),
    ("merge into film using actor on true when matched then delete", "25006"),
    ("with d as (delete from film returning *) select * from d", "25006"),
    ("select * into film2 from film", "25006"),
    ("select * from film for update", "25006"),
    ("select * from film for share", "25006"),
    ("create table t (a int)", "25006"),
    ("drop table film", "25006"),
    ("alter table film add column x int", "25006"),
    ("truncate film", "25006"),
    ("grant select on film to public", "25006"),
    ("call p()", "25006"),
    ("do $$ begin end $$", "25006"),
    ("lock table film", "25006"),
    ("vacuum", "25006"),
    ("analyze film", "25006"),
    ("checkpoint", "25006"),
    ("listen chan", "25006"),
    ("notify chan", "25006"),
    ("copy film from stdin", "25006"),
    ("copy film to '/tmp/x'", "25006"),
    ("copy (select 1) to program 'id'", "25006"),
    ("prepare transaction 'x'", "25006"),
    ("commit prepared 'x'", "25006"),
    ("begin read write", "25006"),
    ("start transaction read write", "25006"),
    ("set session characteristics as transaction read write", "25006"),
    ("set transaction read write", "25006"),
    ("commit; delete from film", "25006"),
    ("select 1; insert into film values (1)", "25006"),
    ("explain analyze delete from film", "25006"),
    ("prepare p as delete from film", "25006"),
    ("declare c cursor for delete from film returning *", "25006"),
    ("set default_transaction_read_only = off", "42501"),
    ("set transaction_read_only = off", "42501"),
    ("set statement_timeout = 0", "42501"),
    ("set role postgres", "42501"),
    ("set session authorization postgres", "42501"),
    ("reset role", "42501"),
    ("select set_config('default_transaction_read_only', 'off', false)", "42501"),
    ("select pg_catalog.SET_CONFIG('statement_timeout', '0', false)", "42501"),
    ("select nextval('s')", "42501"),
    ("select * from (select setval('s', 1)) x", "42501"),
    ("select lo_import('/etc/passwd')", "42501"),
    ("select pg_read_file('/etc/passwd')", "42501"),
    ("select pg_terminate_backend(1)", "42501"),
    ("select pg_advisory_lock(1)", "42501"),
    ("select dblink('x', 'select 1')", "42501"),
    ("select query_to_xml('delete from film', true, true, '')", "42501"),
    ("select txid_current()", "42501"),
    ("select pg_reload_conf()", "42501"),
    ("execute p(nextval('s'))", "42501"),
    ("select from where", "42601"),
    ("select 'unterminated", "42601"),
]


@pytest.fixture(scope="module")
def guard() -> Guard:
    return Guard()


@pytest.mark.parametrize("statement", ALLOWED)
def test_allowed(guard, statement):
    assert guard.check(statement) is None


@pytest.mark.parametrize("statement, sqlstate", REFUSED)
def test_refused(guard, statement, sqlstate):
    error = guard.check(statement)
    assert error is not None, statement
    assert error.sqlstate == sqlstate, error.message
    assert error.message


def test_messages_name_the_offending_statement_or_function(guard):
    assert "INSERT" in guard.check("insert into film values (1)").message
    assert "nextval()" in guard.check("select nextval('s')").message
    assert (
        "default_transaction_read_only"
        in guard.check("set default_transaction_read_only=0").message
    )


def test_length_and_depth_are_capped_before_parsing():
    guard = Guard(max_length=1000, max_depth=50)
    assert guard.check("select " + "1 + " * 400 + "1").sqlstate == "54000"
    assert guard.check("select " + "(" * 60 + "1" + ")" * 60).sqlstate == "54000"
    assert guard.check("select " + "(" * 40 + "1" + ")" * 40) is None


def test_shape_cache_shares_verdicts_across_literals_but_not_refusals():
    guard = Guard()
    assert guard.check("select * from film where film_id = 1") is None
    assert len(guard._shapes) == 1
    assert guard.check("select * from film where film_id = 2") is None
    assert len(guard._shapes) == 1  # same shape, no new parse
    assert guard.check("select * from film where film_id = 2; delete from film") is not None
    # set_config's verdict depends on the literal setting name: never shared by shape.
    assert guard.check("select set_config('jit', 'off', false)") is None
    refused = guard.check("select set_config('statement_timeout', '0', false)")
    assert refused is not None and refused.sqlstate == "42501"


def test_shape_cache_never_masks_the_body_of_a_command():
    # PREPARE, EXPLAIN and the like arrive from the tokenizer as one keyword and one string
    # holding the rest: that string is code and must not be masked like a literal.
    guard = Guard()
    assert guard.check("prepare p as select 1") is None
    assert guard.check("prepare p as delete from film").sqlstate == "25006"
    assert guard.check("explain select 1") is None
    assert guard.check("explain analyze delete from film").sqlstate == "25006"


def test_shape_cache_does_not_skip_the_lexer_check():
    # Same sqlglot tokens, so the same shape; but PostgreSQL reads `title<U+00A0>from` as one
    # word. The lexer check runs before the shape cache.
    guard = Guard()
    assert guard.check("select title from film") is None
    refused = guard.check("select title\u00a0from film")
    assert refused is not None and refused.sqlstate == "42601"


@pytest.mark.parametrize(
    "text, position",
    [
        # sqlglot: AS and a string; PostgreSQL: the alias `as<U+00A0>$$`, then a DELETE.
        ("select 1 as\u00a0$$; delete from film; select $$ -- $$\n", 10),
        # sqlglot: the operator #- and a string; PostgreSQL: # and a comment, then a DELETE.
        ("select 1 #-- '\n 2; delete from film; -- '", 10),
        ("select\x0b1", 7),
        ("select 'a'\n'b'", 8),  # a string continuation: one string to PostgreSQL, two to sqlglot
    ],
)
def test_texts_the_two_lexers_read_differently_are_refused(guard, text, position):
    error = guard.check(text)
    assert error is not None and error.sqlstate == "42601", error
    assert error.position == position


def test_lexer_agrees_where_postgresql_reads_the_same(guard):
    for text in [
        "select 1 /* a /* nested */ comment */",
        "select $a$ x $A$; delete from film; $a$",
        "select E'\\'; delete from film; --'",
        'select 1 as "a"";delete from film;--"',
        "select 1 --\x0bstill a comment\n",
        "select a$b, 1 as$$, $1::int, .5, 1.e2, 'x' -- end",
        "select 1 ORDER  BY 1",
    ]:
        assert guard.check(text) is None, text


def test_foreign_whitespace_is_exactly_what_python_but_not_postgresql_calls_space():
    foreign = {chr(c) for c in range(0x110000) if chr(c).isspace()} - set(" \t\n\r\f")
    assert {c for c in foreign if pglexer._FOREIGN_SPACE.fullmatch(c)} == foreign


@pytest.mark.parametrize(
    "text, name",
    [
        ("select U&\"\\0073et_config\"('statement_timeout', '0', false)", "set_config"),
        ("select U&\"!006Eextval\" UESCAPE '!' ('s')", "nextval"),
        ("select \"nextval\"('s')", "nextval"),
        ('select "pg_catalog"."NEXTVAL"(\'s\')', "nextval"),
        ("select set_config(U&'\\0073tatement_timeout', '0', false)", "set_config"),
    ],
)
def test_function_names_are_normalised_before_the_deny_list(guard, text, name):
    error = guard.check(text)
    assert error is not None and error.sqlstate == "42501"
    assert f"function {name}()" in error.message


def test_unicode_escapes_decode_like_postgresql():
    guard = Guard()
    [_, name] = guard.tokenize('select U&"d\\0061t\\+000061"')
    assert (name.token_type.name, name.text) == ("IDENTIFIER", "data")
    [_, text] = guard.tokenize("select U&'a!0062!!' UESCAPE '!'")
    assert (text.token_type.name, text.text) == ("STRING", "ab!")
    assert guard.check("select set_config(U&'\\006Ait', 'off', false)") is None
    for bad in ['select U&"\\D83D"', "select U&'\\00'", "select U&'x' UESCAPE '+'"]:
        assert guard.check(bad).sqlstate == "42601", bad


@pytest.mark.parametrize(
    "name",
    sorted(functions.DENIED_FUNCTIONS) + [prefix + "x" for prefix in functions.DENIED_PREFIXES],
)
def test_every_denied_function_is_refused_however_it_is_written(guard, name):
    # Also proves that sqlglot parses none of them into a node of another name.
    for text in [
        f"select {name}(1)",
        f'select pg_catalog."{name}"(1)',
        f"select {name.upper()}(1)",
    ]:
        error = guard.check(text)
        assert error is not None and error.sqlstate == "42501", text


def test_ts_rewrite_is_refused_only_in_the_form_that_runs_sql(guard):
    assert guard.check("select ts_rewrite('a'::tsquery, 'select 1')").sqlstate == "42501"
    assert guard.check("select ts_rewrite('a'::tsquery, 'a'::tsquery, 'b'::tsquery)") is None


def test_client_encodings_whose_bytes_hide_a_backslash_are_refused_whatever_the_shape():
    guard = Guard()
    assert guard.check("set client_encoding = 'UTF8'") is None
    assert guard.check("set client_encoding = 'GB18030'").sqlstate == "42501"
    assert guard.check("select set_config('client_encoding', 'LATIN1', false)") is None
    assert guard.check("select set_config('client_encoding', 'win-936', false)").sqlstate == "42501"


def test_check_keeps_no_trees_but_classify_still_returns_them():
    guard = Guard()
    assert guard.check("select 1 as a") is None
    assert guard._cache["select 1 as a"].statements == ()
    verdict = guard.classify("select 1 as a")
    assert verdict.allowed and verdict.statements[0] is not None
    assert verdict.statements[0].sql(dialect="postgres") == "SELECT 1 AS a"


def test_select_as_a_column_alias_is_read_as_a_name():
    """PostgreSQL takes any keyword as a column alias after AS; Metabase's table-privilege
    query names a column `select`. The guard reads it as a name, and still sees every write."""
    guard = Guard("postgres")
    assert guard.check("select 1 as select, 2 as b from pg_class") is None
    assert guard.check("select (select true as select)") is None
    refused = guard.check("select 1 as select from pg_class; drop table t")
    assert refused is not None and refused.sqlstate == "25006"
    refused = guard.check("with d as (delete from t returning 1 as select) select * from d")
    assert refused is not None and refused.sqlstate == "25006"
    # Elsewhere SELECT is still a keyword: a stray one is still a syntax error.
    refused = guard.check("select 1 select")
    assert refused is not None and refused.sqlstate == "42601"
