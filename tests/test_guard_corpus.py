"""The read-only guard's adversarial corpus, sent through a real gateway to a real PostgreSQL 15.

Every refused case goes through `metahog serve` as one simple-protocol Query message (and, when it
is a single statement, once more as an extended-protocol Parse). Each must come back as exactly
one ErrorResponse carrying the guard's own SQLSTATE and message, which proves that the guard, not
the backend, refused it, and must leave the backend unchanged: the tables' contents, the list of
relations, functions and roles, the sequence, advisory locks, prepared transactions, replication
slots, large objects, ALTER SYSTEM's file and the gateway session's own settings are compared
with their state before the corpus ran, after every case.

Every legitimate case (client introspection and analytical queries, and texts that are only
lexically unusual) must pass untouched: its messages through the gateway are byte for byte the
ones PostgreSQL sends on a direct connection.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest
from asyncpg import introspection

from gateway.protocol import messages
from gateway.protocol.errors import PgError
from gateway.routing.guard import Guard
from tests.conftest import READER_PASSWORD
from tests.pgwire import WireClient, data_rows, errors, ready_status, tags

WRITE = "25006"  # READ_ONLY_SQL_TRANSACTION
DENIED = "42501"  # INSUFFICIENT_PRIVILEGE: functions and settings
SYNTAX = "42601"

# The guard that the gateway runs, for the expected messages: same code, same verdicts.
GUARD = Guard()


def group(name: str, *cases: tuple[str, str]) -> list:
    return [pytest.param(sql, state, id=f"{name}-{i:02d}") for i, (sql, state) in enumerate(cases)]


def same(state: str, *statements: str) -> tuple[tuple[str, str], ...]:
    return tuple((sql, state) for sql in statements)


# --- the refused corpus ------------------------------------------------------------------------
# {victim} is the process id of a live backend that must survive pg_terminate_backend attempts.
REFUSED = [
    *group(
        "dml",
        *same(
            WRITE,
            "insert into film (film_id, title) values (5001, 'new')",
            "INSERT INTO film SELECT film_id + 5000, title FROM film",
            "insert into film values (5001, 'x') on conflict do nothing",
            "update film set title = 'changed' where film_id = 1",
            "update film f set title = a.first_name from actor a where a.actor_id = f.film_id",
            "delete from film where film_id = 1",
            "delete from film_actor using actor where actor.actor_id = film_actor.actor_id",
            "merge into film f using actor a on f.film_id = a.actor_id "
            "when matched then update set title = a.last_name",
            "merge into film f using actor a on f.film_id = a.actor_id "
            "when not matched then insert values (a.actor_id, a.first_name)",
            "truncate film_actor",
            "truncate table actor restart identity cascade",
            "delete from",
        ),
    ),
    *group(
        "ddl",
        *same(
            WRITE,
            "create table evil (a int)",
            "create temp table evil (a int)",
            "create unlogged table evil as select * from film",
            "create table evil as select 1 as a",
            "create view evil as select 1 as a",
            "create materialized view evil as select 1 as a",
            "create index on film (title)",
            "create index concurrently evil_idx on film (title)",
            "create schema evil",
            "create sequence evil",
            "create function evil() returns int language sql as $$ select 1 $$",
            "create or replace function public.evil() returns void language plpgsql "
            "as $$ begin delete from film; end $$",
            "create procedure evil() language sql as 'delete from film'",
            "create trigger evil before insert on film for each row execute function evil()",
            "create rule evil as on select to film do instead nothing",
            "create extension dblink",
            "create extension if not exists file_fdw",
            "create role evil superuser",
            "create user evil password 'x'",
            "create database evil",
            "create tablespace evil location '/tmp'",
            "create server evil foreign data wrapper postgres_fdw",
            "create publication evil for all tables",
            "create subscription evil connection 'host=x' publication evil",
            "create type evil as (a int)",
            "create domain evil as int",
            "create policy evil on film using (true)",
            "create event trigger evil on ddl_command_start execute function evil()",
            "create aggregate evil (int) (sfunc = int4pl, stype = int)",
            "create cast (text as int) with inout",
            "create operator === (procedure = int4eq, leftarg = int, rightarg = int)",
            "create statistics evil on title, rating from film",
            "alter table film add column evil int",
            "alter table film rename to evil",
            "alter table film owner to postgres",
            "alter table film disable trigger all",
            "alter role reader superuser",
            "alter role reader set default_transaction_read_only = off",
            "alter database testdb set default_transaction_read_only = off",
            "alter system set default_transaction_read_only = off",
            "alter system reset all",
            "alter default privileges grant all on tables to public",
            "alter sequence guard_corpus.counter restart with 100",
            "drop table film_actor",
            "drop table if exists film cascade",
            "drop schema public cascade",
            "drop function now()",
            "drop role reader",
            "drop database testdb",
            "drop owned by reader",
            "reassign owned by reader to postgres",
            "grant all on film to public",
            "grant postgres to reader",
            "revoke select on film from reader",
            "comment on table film is 'defaced'",
            "security label on table film is 'x'",
            "import foreign schema public from server evil into public",
        ),
    ),
    *group(
        "maintenance",
        *same(
            WRITE,
            "refresh materialized view evil",
            "cluster film using film_pkey",
            "reindex table film",
            "reindex database testdb",
            "vacuum",
            "vacuum full film",
            "vacuum (analyze, verbose) film",
            "analyze film",
            "analyse",
            "checkpoint",
            "load 'auto_explain'",
            "lock table film in access exclusive mode",
            "listen evil",
            "notify evil, 'payload'",
            "call evil()",
            "do $$ begin delete from film; end $$",
            "do language plpgsql $body$ begin perform 1; end $body$",
        ),
    ),
    *group(
        "copy",
        *same(
            WRITE,
            "copy film from stdin",
            "copy film (title) from stdin with (format csv)",
            "copy film to '/tmp/film.csv'",
            "copy film from '/etc/passwd'",
            "copy (select 1) to '/tmp/one'",
            "copy film to program 'cat > /tmp/film'",
            "copy film from program 'id'",
            "copy (delete from film returning *) to stdout",
            "copy (insert into film values (5001, 'x') returning *) to stdout",
            "copy (select * from film for update) to stdout",
            "copy film to stdout; delete from film",
            "copy film to stdin",
        ),
        ("copy (select nextval('guard_corpus.counter')) to stdout", DENIED),
    ),
    *group(
        "select-into-and-locks",
        *same(
            WRITE,
            "select * into evil from film",
            "select * into temporary evil from film",
            "select 1 as a into unlogged evil",
            "with x as (select 1 as a) select * into evil from x",
            "select * from film for update",
            "select * from film for no key update",
            "select * from film for share",
            "select * from film for key share",
            "select * from film where film_id = 1 for update nowait",
            "select * from film for update skip locked",
            "select * from film for update of film",
            "select * from (select * from film for update) f",
            "with f as (select * from film for share) select count(*) from f",
            "select (select title from film limit 1 for update)",
        ),
    ),
    *group(
        "cte",
        *same(
            WRITE,
            "with d as (delete from film returning *) select count(*) from d",
            "with u as (update film set title = 'x' returning *) select * from u",
            "with i as (insert into film values (5001, 'x') returning *) select * from i",
            "with recursive r(n) as (select 1 union all select n + 1 from r where n < 3), "
            "d as (delete from actor returning *) select * from r",
            "with a as (select 1), b as (delete from film_actor returning actor_id) "
            "select * from a, b",
            "with d as materialized (delete from film returning *) select 1",
            "with d as not materialized (update actor set first_name = 'x' returning 1) "
            "select * from d",
            "with x as (select 1) delete from film",
            "with x as (select 1) update film set title = 'x'",
            "with x as (select 1) insert into film select 5001, 'x'",
            "with x as (select * from film) merge into actor a using x "
            "on x.film_id = a.actor_id when matched then delete",
            "with o as (with i as (delete from film returning *) select * from i) select * from o",
            "explain with d as (delete from film returning *) select * from d",
            "declare c cursor for with d as (delete from film returning *) select * from d",
            "prepare p as with d as (delete from film returning *) select * from d",
            "select * from (with d as (delete from film returning 1) select * from d) s",
        ),
    ),
    *group(
        "explain-prepare-cursor",
        *same(
            WRITE,
            "explain analyze delete from film",
            "explain (analyze) insert into film values (5001, 'x')",
            "explain (analyze, format json) update film set title = 'x'",
            "explain analyze create table evil as select 1",
            "explain delete from film",
            "explain analyze select * from film for update",
            "prepare p as insert into film values (5001, 'x')",
            "prepare p (int) as update film set title = 'x' where film_id = $1",
            "prepare p as delete from film",
            "declare c cursor for select * from film for update",
            "declare c cursor with hold for delete from film returning *",
        ),
        *same(
            DENIED,
            "explain analyze select nextval('guard_corpus.counter')",
            "explain select pg_advisory_lock(1)",
            "declare c cursor for select nextval('guard_corpus.counter')",
            "declare c no scroll cursor with hold for select pg_read_file('/etc/passwd')",
            "prepare p as select nextval('guard_corpus.counter')",
            "execute p(nextval('guard_corpus.counter'))",
            "explain execute p(pg_advisory_lock(1))",
        ),
    ),
    *group(
        "comments",
        *same(
            WRITE,
            "/* harmless */ delete from film",
            "-- harmless\ndelete from film",
            "select 1; /* ; */ delete from film",
            "select 1 /* ; */; delete from film",
            "/* /* nested */ still a comment */ delete from film",
            "/* /* */ */ delete from film",
            "select 1 -- ;\n; delete from film",
            "select 1 --\r; delete from film",
            "select 1 /* a /* b */ ; delete from film */ ; delete from film",
            "delete /* comment */ from film",
            "delete--comment\nfrom film",
            "/*+ SeqScan(film) */ delete from film",
            "select '/*' ; delete from film -- */'",
            "select '--'; delete from film",
            "select 1 -- a\n-- b\n; truncate film",
        ),
        # `#--`: PostgreSQL reads `#` and a comment, sqlglot read the operator `#-`; the two
        # lexers disagree, so the text is refused before anything else.
        ("select 1 #-- '\n 2; delete from film; -- '", SYNTAX),
        ("de/**/lete from film", SYNTAX),
    ),
    *group(
        "dollar-quotes",
        *same(
            WRITE,
            "select $$;$$; delete from film",
            "select $t$ $$ ; $t$; delete from film",
            "select $_$ $$ $_$ ; update film set title = 'x'",
            "select $tag$a$tag$; delete from film",
            "select $a$ $A$ $a$; delete from film",
            "select 1 as$$; delete from film; select $$ -- $$",
            "select $$ $$, $q$'$q$; insert into film values (5001, 'x')",
        ),
        # U+00A0 and U+2003 are letters to PostgreSQL: `as\u00a0$$` is an alias, not the start
        # of a string, so PostgreSQL would run the DELETE that sqlglot read as a string.
        ("select 1 as\u00a0$$; delete from film; select $$ -- $$\n", SYNTAX),
        ("select 1 as\u2003$$; delete from film; select $$ -- $$\n", SYNTAX),
        ("select 1 x\u3000$$; delete from film; select $$ -- $$\n", SYNTAX),
    ),
    *group(
        "unicode-escapes",
        *same(
            DENIED,
            "select U&\"\\0073et_config\"('default_transaction_read_only', 'off', false)",
            "select U&\"!0073et_config\" UESCAPE '!' ('default_transaction_read_only', 'off', "
            "false)",
            "select u&\"\\006Eextval\"('guard_corpus.counter')",
            "select * from U&\"\\0070g_ls_dir\"('.')",
            "select U&\"\\+000070g_read_file\"('/etc/passwd')",
            'select pg_catalog.U&"\\0070g_terminate_backend"({victim})',
            'select U&"pg\\005Fadvisory\\005Flock"(1)',
            "select set_config(U&'\\0073tatement_timeout', '0', false)",
            "select set_config(U&'!0073tatement_timeout' UESCAPE '!', '0', false)",
            'set U&"\\0073tatement_timeout" = 0',
            'set U&"default_transaction_read_only" to off',
        ),
        *same(
            WRITE,
            'delete from U&"\\0066ilm"',
            "insert into U&\"f\\0069lm\" (film_id, title) values (5001, 'x')",
        ),
        *same(
            SYNTAX,
            'select U&"\\D83D"()',
            "select U&'\\0041' UESCAPE 'a'",
            'select U&"\\00zz"',
        ),
    ),
    *group(
        "quoting-and-case",
        *same(
            WRITE,
            "DeLeTe FrOm film",
            'delete from "film"',
            'delete from public."film"',
            'UPDATE "film" SET "title" = \'x\'',
            "InSeRt InTo film VALUES (5001, 'x')",
            'DROP TABLE "film_actor"',
        ),
        *same(
            DENIED,
            "select \"set_config\"('default_transaction_read_only', 'off', false)",
            "select \"pg_catalog\".\"set_config\"('statement_timeout', '0', false)",
            "select pg_catalog.\"nextval\"('guard_corpus.counter')",
            "select \"SET_CONFIG\"('statement_timeout', '0', false)",
            "select PG_CATALOG.NEXTVAL('guard_corpus.counter')",
            "select Pg_Read_File('/etc/passwd')",
            "select * from \"pg_ls_dir\"('.')",
            "select \"lo_import\"('/etc/passwd')",
        ),
    ),
    *group(
        "multi-statement",
        *same(
            WRITE,
            "select 1; delete from film",
            "select 1;delete from film",
            ";;delete from film",
            "select 1;; ;insert into film values (5001, 'x')",
            "show search_path; drop table film",
            "explain select 1; vacuum",
            "values (1); truncate film",
            "table film; delete from film_actor",
            "select 1; select 2; create table evil (a int)",
            "begin; delete from film; commit",
            "begin read only; insert into film values (5001, 'x'); commit",
            "set search_path = public; drop table film_actor",
            "declare c cursor for select 1; fetch c; delete from film",
            "prepare p as select 1; execute p; delete from film",
        ),
    ),
    *group(
        "transactions",
        *same(
            WRITE,
            "commit; delete from film",
            "rollback; insert into film values (5001, 'x')",
            "end; create table evil (a int)",
            "abort; drop table film",
            "begin; commit; update film set title = 'x'",
            "begin read only; commit; begin read write",
            "begin; set transaction read write",
            "begin read write",
            "begin transaction read write",
            "start transaction read write",
            "start transaction isolation level serializable, read write",
            "begin isolation level repeatable read read write",
            "begin read only, read write",
            "begin not deferrable read write",
            "set transaction read write",
            "set transaction isolation level read committed, read write",
            "set session characteristics as transaction read write",
            "savepoint s; delete from film",
            "release savepoint s; delete from film",
            "rollback to savepoint s; delete from film",
            "commit and chain; delete from film",
            "prepare transaction 'evil'",
            "commit prepared 'evil'",
            "rollback prepared 'evil'",
        ),
        *same(
            DENIED,
            "set transaction_read_only = off",
            "set transaction_read_only to false",
            "set local transaction_read_only = 0",
            "set default_transaction_read_only = off",
            "SET DEFAULT_TRANSACTION_READ_ONLY TO OFF",
            "set session default_transaction_read_only = 'off'",
            'set "default_transaction_read_only" = off',
            "reset default_transaction_read_only",
            "reset transaction_read_only",
            "select set_config('transaction_read_only', 'off', true)",
            "select set_config('default_transaction_read_only', 'off', false)",
            "set transaction snapshot '00000003-0000001B-1'",
            "set session authorization postgres",
            "set session authorization default",
            "reset session authorization",
            "set role postgres",
            "set role none",
            "set local role postgres",
            "set session role postgres",
            "reset role",
        ),
    ),
    *group(
        "functions",
        *same(
            DENIED,
            "select nextval('guard_corpus.counter')",
            "select setval('guard_corpus.counter', 100)",
            "select set_config('statement_timeout', '0', false)",
            "select lo_import('/etc/passwd')",
            "select lo_export(1, '/tmp/lo')",
            "select lo_create(0)",
            "select lo_from_bytea(0, 'x')",
            "select lo_unlink(1)",
            "select lowrite(0, 'x')",
            "select pg_read_file('/etc/passwd')",
            "select pg_read_binary_file('/etc/passwd')",
            "select pg_ls_dir('.')",
            "select * from pg_ls_waldir()",
            "select pg_stat_file('postgresql.conf')",
            "select pg_terminate_backend({victim})",
            "select pg_cancel_backend({victim})",
            "select pg_advisory_lock(1)",
            "select pg_try_advisory_lock(1)",
            "select pg_advisory_xact_lock(1)",
            "select pg_advisory_lock_shared(1)",
            "select pg_notify('evil', 'payload')",
            "select dblink('dbname=testdb', 'delete from film')",
            "select dblink_exec('dbname=testdb', 'delete from film')",
            "select query_to_xml('delete from film returning *', true, true, '')",
            "select query_to_xml_and_xmlschema('select 1', true, true, '')",
            "select cursor_to_xml('c', 1, true, true, '')",
            "select ts_stat('select to_tsvector(title) from film')",
            "select ts_rewrite('a'::tsquery, 'select ''a''::tsquery, ''b''::tsquery')",
            "select pg_logical_emit_message(true, 'x', 'y')",
            "select pg_reload_conf()",
            "select pg_rotate_logfile()",
            "select pg_switch_wal()",
            "select pg_create_restore_point('x')",
            "select pg_import_system_collations('pg_catalog')",
            "select pg_create_logical_replication_slot('evil', 'test_decoding')",
            "select pg_drop_replication_slot('evil')",
            "select pg_replication_origin_create('evil')",
            "select txid_current()",
            "select pg_current_xact_id()",
            "select pg_stat_reset()",
            "select pg_stat_reset_shared('bgwriter')",
            "select pg_backup_start('x')",
            "select pg_promote()",
            "select pg_export_snapshot()",
            "select pg_log_backend_memory_contexts(pg_backend_pid())",
            "select brin_summarize_new_values('film_pkey')",
            "select gin_clean_pending_list('film_pkey')",
            "select pg_file_write('x', 'y', false)",
            "select crosstab('select 1, 2, 3')",
            "select xpath_table('id', 'xml', 'film', '/x', 'true')",
        ),
    ),
    *group(
        "function-placement",
        *same(
            DENIED,
            "select * from nextval('guard_corpus.counter')",
            "select * from film, lateral nextval('guard_corpus.counter') n",
            "select * from film cross join lateral (select nextval('guard_corpus.counter')) n",
            "select * from rows from (generate_series(1, 2), nextval('guard_corpus.counter'))",
            "values (1), (nextval('guard_corpus.counter'))",
            "select 1 union all select nextval('guard_corpus.counter')",
            "select 1 except select setval('guard_corpus.counter', 1)",
            "select 1 intersect select pg_advisory_lock(1)",
            "select (select nextval('guard_corpus.counter'))",
            "select exists (select pg_advisory_lock(1))",
            "select 1 where 1 in (select nextval('guard_corpus.counter'))",
            "select array(select nextval('guard_corpus.counter'))",
            "select coalesce(null, nextval('guard_corpus.counter'))",
            "select case when film_id > 0 then nextval('guard_corpus.counter') end from film",
            "select greatest(1, nextval('guard_corpus.counter'))",
            "select abs(nextval('guard_corpus.counter'))",
            "select format('%s', pg_read_file('/etc/passwd'))",
            "select length(pg_read_file('/etc/passwd'))",
            "select title from film order by nextval('guard_corpus.counter')",
            "select rating, count(*) from film group by rating "
            "having max(nextval('guard_corpus.counter')) > 0",
            "select count(*) filter (where nextval('guard_corpus.counter') > 0) from film",
            "select sum(film_id) over (order by nextval('guard_corpus.counter')) from film",
            "select distinct on (nextval('guard_corpus.counter')) title from film",
            "select * from film limit nextval('guard_corpus.counter')",
            "select * from film offset nextval('guard_corpus.counter')",
            "select * from film join actor on actor_id = nextval('guard_corpus.counter')",
            "select * from film where film_id = nextval('guard_corpus.counter')",
            "select nextval('guard_corpus.counter')::text",
            "select (nextval('guard_corpus.counter'))",
            "select array[nextval('guard_corpus.counter')]",
            "select row(nextval('guard_corpus.counter'))",
            "select jsonb_build_object('k', nextval('guard_corpus.counter'))",
            "select * from generate_series(1, nextval('guard_corpus.counter'))",
            "select nextval /* comment */ ('guard_corpus.counter')",
            "select nextval\n('guard_corpus.counter')",
            "with n as (select nextval('guard_corpus.counter')) select * from n",
            "select 1 from film where pg_sleep(0) is null and nextval('guard_corpus.counter') > 0",
            "table film union all select nextval('guard_corpus.counter'), null, null, null, "
            "null, null",
        ),
    ),
    *group(
        "settings",
        *same(
            DENIED,
            "set statement_timeout = 0",
            "set statement_timeout to default",
            "set local statement_timeout = 0",
            "SET STATEMENT_TIMEOUT TO 0",
            'set "statement_timeout" = 0',
            "set session statement_timeout = 0",
            "reset statement_timeout",
            "set lock_timeout = 0",
            "set idle_in_transaction_session_timeout = 0",
            "set session_replication_role = replica",
            "set work_mem = '64GB'",
            "set temp_file_limit = -1",
            "set max_parallel_workers_per_gather = 64",
            "set log_statement = 'none'",
            "set default_tablespace = 'x'",
            "set allow_system_table_mods = on",
            "set zero_damaged_pages = on",
            "select set_config('lock_timeout', '0', false)",
            "select set_config(name, 'off', false) "
            "from (values ('default_transaction_read_only')) v(name)",
            "select set_config(lower('STATEMENT_TIMEOUT'), '0', false)",
            "select set_config('statement' || '_timeout', '0', false)",
            "select set_config($$statement_timeout$$, '0', false)",
            "select set_config(E'statement\\x5ftimeout', '0', false)",
            "select set_config('jit', 'off', false), set_config('statement_timeout', '0', false)",
            # Client-only encodings, whose second bytes can be a backslash (settings.py).
            "set client_encoding = 'GB18030'",
            "set client_encoding to big5",
            "set names 'gbk'",
            "select set_config('client_encoding', 'SJIS', false)",
        ),
    ),
    *group(
        "syntax",
        *same(
            SYNTAX,
            "select from where",
            "selec 1",
            "select 'unterminated",
            'select "unterminated',
            "select $$unterminated",
            "/* unterminated comment",
            "select 1 /* /* nested, closed once */",
            "frobnicate the database",
            "select 1 \\ 2",
            "select\x0b1",
            "select 1 as\u00a0x",
            'select ""',
            "select 1abc",
        ),
    ),
]


# --- the legitimate corpus ---------------------------------------------------------------------
# psql 15's queries for \dt, \d film, \d+ film_actor, \df now, \dn, \l, \du, \dx, \dv, \di, \ds,
# \dp film, \dT and \dt+ film, as `psql -E` prints them; {film} and {film_actor} are the tables'
# oids, as psql inlines them.
RELKIND_NAMES = (
    "CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN "
    "'materialized view' WHEN 'i' THEN 'index' WHEN 'S' THEN 'sequence' WHEN 't' THEN "
    "'TOAST table' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' "
    "WHEN 'I' THEN 'partitioned index' END as \"Type\""
)
PSQL = [
    f"""SELECT n.nspname as "Schema",
  c.relname as "Name",
  {RELKIND_NAMES},
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;""",
    """SELECT c.oid,
  n.nspname,
  c.relname
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relname OPERATOR(pg_catalog.~) '^(film)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 2, 3;""",
    """SELECT c.relchecks, c.relkind, c.relhasindex, c.relhasrules, c.relhastriggers, \
c.relrowsecurity, c.relforcerowsecurity, false AS relhasoids, c.relispartition, '', \
c.reltablespace, CASE WHEN c.reloftype = 0 THEN '' ELSE \
c.reloftype::pg_catalog.regtype::pg_catalog.text END, c.relpersistence, c.relreplident, am.amname
FROM pg_catalog.pg_class c
 LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)
LEFT JOIN pg_catalog.pg_am am ON (c.relam = am.oid)
WHERE c.oid = '{film}';""",
    """SELECT a.attname,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
   FROM pg_catalog.pg_attrdef d
   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
  a.attnotnull,
  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t
   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) \
AS attcollation,
  a.attidentity,
  a.attgenerated
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = '{film}' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;""",
    """SELECT c2.relname, i.indisprimary, i.indisunique, i.indisclustered, i.indisvalid, \
pg_catalog.pg_get_indexdef(i.indexrelid, 0, true),
  pg_catalog.pg_get_constraintdef(con.oid, true), contype, condeferrable, condeferred, \
i.indisreplident, c2.reltablespace
FROM pg_catalog.pg_class c, pg_catalog.pg_class c2, pg_catalog.pg_index i
  LEFT JOIN pg_catalog.pg_constraint con ON (conrelid = i.indrelid AND conindid = i.indexrelid \
AND contype IN ('p','u','x'))
WHERE c.oid = '{film}' AND c.oid = i.indrelid AND i.indexrelid = c2.oid
ORDER BY i.indisprimary DESC, c2.relname;""",
    """SELECT true as sametable, conname,
  pg_catalog.pg_get_constraintdef(r.oid, true) as condef,
  conrelid::pg_catalog.regclass AS ontable
FROM pg_catalog.pg_constraint r
WHERE r.conrelid = '{film_actor}' AND r.contype = 'f'
     AND conparentid = 0
ORDER BY conname""",
    """SELECT conname, conrelid::pg_catalog.regclass AS ontable,
       pg_catalog.pg_get_constraintdef(oid, true) AS condef
  FROM pg_catalog.pg_constraint c
 WHERE confrelid IN (SELECT pg_catalog.pg_partition_ancestors('{film}')
                     UNION ALL VALUES ('{film}'::pg_catalog.regclass))
       AND contype = 'f' AND conparentid = 0
ORDER BY conname;""",
    """SELECT pol.polname, pol.polpermissive,
  CASE WHEN pol.polroles = '{{0}}' THEN NULL ELSE pg_catalog.array_to_string(array(select \
rolname from pg_catalog.pg_roles where oid = any (pol.polroles) order by 1),',') END,
  pg_catalog.pg_get_expr(pol.polqual, pol.polrelid),
  pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid),
  CASE pol.polcmd
    WHEN 'r' THEN 'SELECT'
    WHEN 'a' THEN 'INSERT'
    WHEN 'w' THEN 'UPDATE'
    WHEN 'd' THEN 'DELETE'
    END AS cmd
FROM pg_catalog.pg_policy pol
WHERE pol.polrelid = '{film}' ORDER BY 1;""",
    """SELECT oid, stxrelid::pg_catalog.regclass, stxnamespace::pg_catalog.regnamespace::\
pg_catalog.text AS nsp, stxname,
pg_catalog.pg_get_statisticsobjdef_columns(oid) AS columns,
  'd' = any(stxkind) AS ndist_enabled,
  'f' = any(stxkind) AS deps_enabled,
  'm' = any(stxkind) AS mcv_enabled,
stxstattarget
FROM pg_catalog.pg_statistic_ext
WHERE stxrelid = '{film}'
ORDER BY nsp, stxname;""",
    """SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_namespace pn ON p.oid = pn.pnpubid
     JOIN pg_catalog.pg_class pc ON pc.relnamespace = pn.pnnspid
WHERE pc.oid ='{film}' and pg_catalog.pg_relation_is_publishable('{film}')
UNION
SELECT pubname
     , pg_get_expr(pr.prqual, c.oid)
     , (CASE WHEN pr.prattrs IS NOT NULL THEN
         (SELECT string_agg(attname, ', ')
           FROM pg_catalog.generate_series(0, pg_catalog.array_upper(pr.prattrs::\
pg_catalog.int2[], 1)) s,
                pg_catalog.pg_attribute
          WHERE attrelid = pr.prrelid AND attnum = prattrs[s])
        ELSE NULL END) FROM pg_catalog.pg_publication p
     JOIN pg_catalog.pg_publication_rel pr ON p.oid = pr.prpubid
     JOIN pg_catalog.pg_class c ON c.oid = pr.prrelid
WHERE pr.prrelid = '{film}'
UNION
SELECT pubname
     , NULL
     , NULL
FROM pg_catalog.pg_publication p
WHERE p.puballtables AND pg_catalog.pg_relation_is_publishable('{film}')
ORDER BY 1;""",
    """SELECT t.tgname, pg_catalog.pg_get_triggerdef(t.oid, true), t.tgenabled, t.tgisinternal,
  CASE WHEN t.tgparentid != 0 THEN
    (SELECT u.tgrelid::pg_catalog.regclass
     FROM pg_catalog.pg_trigger AS u,
          pg_catalog.pg_partition_ancestors(t.tgrelid) WITH ORDINALITY AS a(relid, depth)
     WHERE u.tgname = t.tgname AND u.tgrelid = a.relid
           AND u.tgparentid = 0
     ORDER BY a.depth LIMIT 1)
  END AS parent
FROM pg_catalog.pg_trigger t
WHERE t.tgrelid = '{film}' AND (NOT t.tgisinternal OR (t.tgisinternal AND t.tgenabled = 'D'))
ORDER BY 1;""",
    """SELECT c.oid::pg_catalog.regclass
FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
WHERE c.oid = i.inhparent AND i.inhrelid = '{film}'
  AND c.relkind != 'p' AND c.relkind != 'I'
ORDER BY inhseqno;""",
    """SELECT c.oid::pg_catalog.regclass, c.relkind, inhdetachpending, \
pg_catalog.pg_get_expr(c.relpartbound, c.oid)
FROM pg_catalog.pg_class c, pg_catalog.pg_inherits i
WHERE c.oid = i.inhrelid AND i.inhparent = '{film}'
ORDER BY pg_catalog.pg_get_expr(c.relpartbound, c.oid) = 'DEFAULT', \
c.oid::pg_catalog.regclass::pg_catalog.text;""",
    """SELECT c.relchecks, c.relkind, c.relhasindex, c.relhasrules, c.relhastriggers, \
c.relrowsecurity, c.relforcerowsecurity, false AS relhasoids, c.relispartition, \
pg_catalog.array_to_string(c.reloptions || array(select 'toast.' || x from \
pg_catalog.unnest(tc.reloptions) x), ', ')
, c.reltablespace, CASE WHEN c.reloftype = 0 THEN '' ELSE \
c.reloftype::pg_catalog.regtype::pg_catalog.text END, c.relpersistence, c.relreplident, am.amname
FROM pg_catalog.pg_class c
 LEFT JOIN pg_catalog.pg_class tc ON (c.reltoastrelid = tc.oid)
LEFT JOIN pg_catalog.pg_am am ON (c.relam = am.oid)
WHERE c.oid = '{film_actor}';""",
    """SELECT a.attname,
  pg_catalog.format_type(a.atttypid, a.atttypmod),
  (SELECT pg_catalog.pg_get_expr(d.adbin, d.adrelid, true)
   FROM pg_catalog.pg_attrdef d
   WHERE d.adrelid = a.attrelid AND d.adnum = a.attnum AND a.atthasdef),
  a.attnotnull,
  (SELECT c.collname FROM pg_catalog.pg_collation c, pg_catalog.pg_type t
   WHERE c.oid = a.attcollation AND t.oid = a.atttypid AND a.attcollation <> t.typcollation) \
AS attcollation,
  a.attidentity,
  a.attgenerated,
  a.attstorage,
  a.attcompression AS attcompression,
  CASE WHEN a.attstattarget=-1 THEN NULL ELSE a.attstattarget END AS attstattarget,
  pg_catalog.col_description(a.attrelid, a.attnum)
FROM pg_catalog.pg_attribute a
WHERE a.attrelid = '{film_actor}' AND a.attnum > 0 AND NOT a.attisdropped
ORDER BY a.attnum;""",
    """SELECT n.nspname as "Schema",
  p.proname as "Name",
  pg_catalog.pg_get_function_result(p.oid) as "Result data type",
  pg_catalog.pg_get_function_arguments(p.oid) as "Argument data types",
 CASE p.prokind
  WHEN 'a' THEN 'agg'
  WHEN 'w' THEN 'window'
  WHEN 'p' THEN 'proc'
  ELSE 'func'
 END as "Type"
FROM pg_catalog.pg_proc p
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = p.pronamespace
WHERE p.proname OPERATOR(pg_catalog.~) '^(now)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_function_is_visible(p.oid)
ORDER BY 1, 2, 4;""",
    """SELECT n.nspname AS "Name",
  pg_catalog.pg_get_userbyid(n.nspowner) AS "Owner"
FROM pg_catalog.pg_namespace n
WHERE n.nspname !~ '^pg_' AND n.nspname <> 'information_schema'
ORDER BY 1;""",
    """SELECT d.datname as "Name",
       pg_catalog.pg_get_userbyid(d.datdba) as "Owner",
       pg_catalog.pg_encoding_to_char(d.encoding) as "Encoding",
       d.datcollate as "Collate",
       d.datctype as "Ctype",
       d.daticulocale as "ICU Locale",
       CASE d.datlocprovider WHEN 'c' THEN 'libc' WHEN 'i' THEN 'icu' END AS "Locale Provider",
       pg_catalog.array_to_string(d.datacl, E'\\n') AS "Access privileges"
FROM pg_catalog.pg_database d
ORDER BY 1;""",
    """SELECT r.rolname, r.rolsuper, r.rolinherit,
  r.rolcreaterole, r.rolcreatedb, r.rolcanlogin,
  r.rolconnlimit, r.rolvaliduntil,
  ARRAY(SELECT b.rolname
        FROM pg_catalog.pg_auth_members m
        JOIN pg_catalog.pg_roles b ON (m.roleid = b.oid)
        WHERE m.member = r.oid) as memberof
, r.rolreplication
, r.rolbypassrls
FROM pg_catalog.pg_roles r
WHERE r.rolname !~ '^pg_'
ORDER BY 1;""",
    """SELECT e.extname AS "Name", e.extversion AS "Version", n.nspname AS "Schema", \
c.description AS "Description"
FROM pg_catalog.pg_extension e LEFT JOIN pg_catalog.pg_namespace n ON n.oid = e.extnamespace \
LEFT JOIN pg_catalog.pg_description c ON c.objoid = e.oid AND c.classoid = \
'pg_catalog.pg_extension'::pg_catalog.regclass
ORDER BY 1;""",
    f"""SELECT n.nspname as "Schema",
  c.relname as "Name",
  {RELKIND_NAMES},
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner",
  c2.relname as "Table"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
     LEFT JOIN pg_catalog.pg_index i ON i.indexrelid = c.oid
     LEFT JOIN pg_catalog.pg_class c2 ON i.indrelid = c2.oid
WHERE c.relkind IN ('i','I','')
      AND n.nspname <> 'pg_catalog'
      AND n.nspname !~ '^pg_toast'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;""",
    """SELECT n.nspname as "Schema",
  c.relname as "Name",
  CASE c.relkind WHEN 'r' THEN 'table' WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view' \
WHEN 'S' THEN 'sequence' WHEN 'f' THEN 'foreign table' WHEN 'p' THEN 'partitioned table' END \
as "Type",
  pg_catalog.array_to_string(c.relacl, E'\\n') AS "Access privileges",
  pg_catalog.array_to_string(ARRAY(
    SELECT attname || E':\\n  ' || pg_catalog.array_to_string(attacl, E'\\n  ')
    FROM pg_catalog.pg_attribute a
    WHERE attrelid = c.oid AND NOT attisdropped AND attacl IS NOT NULL
  ), E'\\n') AS "Column privileges",
  pg_catalog.array_to_string(ARRAY(
    SELECT polname
    || CASE WHEN NOT polpermissive THEN
       E' (RESTRICTIVE)'
       ELSE '' END
    || CASE WHEN polcmd != '*' THEN
           E' (' || polcmd::pg_catalog.text || E'):'
       ELSE E':'
       END
    || CASE WHEN polqual IS NOT NULL THEN
           E'\\n  (u): ' || pg_catalog.pg_get_expr(polqual, polrelid)
       ELSE E''
       END
    || CASE WHEN polwithcheck IS NOT NULL THEN
           E'\\n  (c): ' || pg_catalog.pg_get_expr(polwithcheck, polrelid)
       ELSE E''
       END    || CASE WHEN polroles <> '{{0}}' THEN
           E'\\n  to: ' || pg_catalog.array_to_string(
               ARRAY(
                   SELECT rolname
                   FROM pg_catalog.pg_roles
                   WHERE oid = ANY (polroles)
                   ORDER BY 1
               ), E', ')
       ELSE E''
       END
    FROM pg_catalog.pg_policy pol
    WHERE polrelid = c.oid), E'\\n')
    AS "Policies"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r','v','m','S','f','p')
  AND c.relname OPERATOR(pg_catalog.~) '^(film)$' COLLATE pg_catalog.default
  AND n.nspname !~ '^pg_' AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1, 2;""",
    """SELECT n.nspname as "Schema",
  pg_catalog.format_type(t.oid, NULL) AS "Name",
  pg_catalog.obj_description(t.oid, 'pg_type') as "Description"
FROM pg_catalog.pg_type t
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
WHERE (t.typrelid = 0 OR (SELECT c.relkind = 'c' FROM pg_catalog.pg_class c \
WHERE c.oid = t.typrelid))
  AND NOT EXISTS(SELECT 1 FROM pg_catalog.pg_type el WHERE el.oid = t.typelem \
AND el.typarray = t.oid)
      AND n.nspname <> 'pg_catalog'
      AND n.nspname <> 'information_schema'
  AND pg_catalog.pg_type_is_visible(t.oid)
ORDER BY 1, 2;""",
    f"""SELECT n.nspname as "Schema",
  c.relname as "Name",
  {RELKIND_NAMES},
  pg_catalog.pg_get_userbyid(c.relowner) as "Owner",
  CASE c.relpersistence WHEN 'p' THEN 'permanent' WHEN 't' THEN 'temporary' WHEN 'u' THEN \
'unlogged' END as "Persistence",
  am.amname as "Access method",
  pg_catalog.pg_size_pretty(pg_catalog.pg_table_size(c.oid)) as "Size",
  pg_catalog.obj_description(c.oid, 'pg_class') as "Description"
FROM pg_catalog.pg_class c
     LEFT JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
     LEFT JOIN pg_catalog.pg_am am ON am.oid = c.relam
WHERE c.relkind IN ('r','p','t','s','')
  AND c.relname OPERATOR(pg_catalog.~) '^(film)$' COLLATE pg_catalog.default
  AND pg_catalog.pg_table_is_visible(c.oid)
ORDER BY 1,2;""",
]

# What drivers, ORMs and tools send to learn the schema.
CLIENTS = [
    # pgjdbc's type cache, with its comment
    """SELECT typinput='pg_catalog.array_in'::regproc as is_array, typtype, typname, pg_type.oid
  FROM pg_catalog.pg_type
  LEFT JOIN (select ns.oid as nspoid, ns.nspname, r.r
          from pg_namespace as ns
 -- go with older way of unnesting array to be compatible with 8.0
          join ( select s.r, (current_schemas(false))[s.r] as nspname
                   from generate_series(1, array_upper(current_schemas(false), 1)) as s(r) ) as r
         using ( nspname )
       ) as sp
    ON sp.nspoid = typnamespace
 WHERE typname = 'jsonb'
 ORDER BY sp.r, pg_type.oid DESC LIMIT 1""",
    # pgjdbc's DatabaseMetaData.getTables
    """SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM, c.relname AS TABLE_NAME,  CASE \
n.nspname ~ '^pg_' OR n.nspname = 'information_schema'  WHEN true THEN CASE  WHEN n.nspname = \
'pg_catalog' OR n.nspname = 'information_schema' THEN CASE c.relkind   WHEN 'r' THEN 'SYSTEM \
TABLE'   WHEN 'v' THEN 'SYSTEM VIEW'   WHEN 'i' THEN 'SYSTEM INDEX'   ELSE NULL   END  ELSE \
NULL  END  WHEN false THEN CASE c.relkind  WHEN 'r' THEN 'TABLE'  WHEN 'p' THEN 'PARTITIONED \
TABLE'  WHEN 'i' THEN 'INDEX'  WHEN 'S' THEN 'SEQUENCE'  WHEN 'v' THEN 'VIEW'  WHEN 'c' THEN \
'TYPE'  WHEN 'f' THEN 'FOREIGN TABLE'  WHEN 'm' THEN 'MATERIALIZED VIEW'  ELSE NULL  END  ELSE \
NULL  END  AS TABLE_TYPE, d.description AS REMARKS,  '' as TYPE_CAT, '' as TYPE_SCHEM, '' as \
TYPE_NAME, '' AS SELF_REFERENCING_COL_NAME, '' AS REF_GENERATION  FROM pg_catalog.pg_namespace \
n, pg_catalog.pg_class c  LEFT JOIN pg_catalog.pg_description d ON (c.oid = d.objoid AND \
d.objsubid = 0  and d.classoid = 'pg_class'::regclass)  WHERE c.relnamespace = n.oid  AND \
c.relname LIKE 'film%' AND (false  OR ( c.relkind = 'r' AND n.nspname !~ '^pg_' AND n.nspname \
<> 'information_schema' ) )  ORDER BY TABLE_TYPE,TABLE_SCHEM,TABLE_NAME""",
    # pgjdbc's DatabaseMetaData.getPrimaryKeys
    """SELECT NULL AS TABLE_CAT, n.nspname AS TABLE_SCHEM,   ct.relname AS TABLE_NAME, \
a.attname AS COLUMN_NAME,   (information_schema._pg_expandarray(i.indkey)).n AS KEY_SEQ, \
ci.relname AS PK_NAME,   information_schema._pg_expandarray(i.indkey) AS KEYS, a.attnum AS \
A_ATTNUM FROM pg_catalog.pg_class ct   JOIN pg_catalog.pg_attribute a ON (ct.oid = a.attrelid) \
  JOIN pg_catalog.pg_namespace n ON (ct.relnamespace = n.oid)   JOIN pg_catalog.pg_index i ON ( \
a.attrelid = i.indrelid)   JOIN pg_catalog.pg_class ci ON (ci.oid = i.indexrelid) WHERE true  \
AND ct.relname = E'film_actor' AND i.indisprimary  ORDER BY table_name, pk_name, key_seq""",
    # psycopg's TypeInfo.fetch
    """SELECT
    typname AS name, oid, typarray AS array_oid,
    oid::regtype::text AS regtype, typdelim AS delimiter
FROM pg_type t
WHERE t.oid = to_regtype('jsonb')
ORDER BY t.oid""",
    # SQLAlchemy's has_table and get_columns
    "SELECT pg_catalog.pg_class.relname FROM pg_catalog.pg_class JOIN pg_catalog.pg_namespace "
    "ON pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace WHERE "
    "pg_catalog.pg_class.relname = 'film' AND pg_catalog.pg_class.relkind = ANY (ARRAY['r', "
    "'p', 'f', 'v', 'm']) AND pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND "
    "pg_catalog.pg_namespace.nspname != 'pg_catalog'",
    "SELECT pg_catalog.pg_attribute.attname AS name, "
    "pg_catalog.format_type(pg_catalog.pg_attribute.atttypid, pg_catalog.pg_attribute.atttypmod)"
    " AS format_type, (SELECT pg_catalog.pg_get_expr(pg_catalog.pg_attrdef.adbin, "
    "pg_catalog.pg_attrdef.adrelid) FROM pg_catalog.pg_attrdef WHERE "
    "pg_catalog.pg_attrdef.adrelid = pg_catalog.pg_class.oid AND pg_catalog.pg_attrdef.adnum = "
    'pg_catalog.pg_attribute.attnum AND pg_catalog.pg_attribute.atthasdef) AS "default", '
    "pg_catalog.pg_attribute.attnotnull AS not_null, pg_catalog.pg_class.relname AS table_name, "
    "pg_catalog.pg_description.description AS comment FROM pg_catalog.pg_class LEFT OUTER JOIN "
    "pg_catalog.pg_attribute ON pg_catalog.pg_class.oid = pg_catalog.pg_attribute.attrelid AND "
    "pg_catalog.pg_attribute.attnum > 0 AND NOT pg_catalog.pg_attribute.attisdropped LEFT OUTER "
    "JOIN pg_catalog.pg_description ON pg_catalog.pg_description.objoid = "
    "pg_catalog.pg_attribute.attrelid AND pg_catalog.pg_description.objsubid = "
    "pg_catalog.pg_attribute.attnum JOIN pg_catalog.pg_namespace ON "
    "pg_catalog.pg_namespace.oid = pg_catalog.pg_class.relnamespace WHERE "
    "pg_catalog.pg_class.relkind = ANY (ARRAY['r', 'p', 'f', 'v', 'm']) AND "
    "pg_catalog.pg_table_is_visible(pg_catalog.pg_class.oid) AND "
    "pg_catalog.pg_namespace.nspname != 'pg_catalog' AND pg_catalog.pg_class.relname IN "
    "('film', 'actor') ORDER BY pg_catalog.pg_class.relname, pg_catalog.pg_attribute.attnum",
    "select pg_catalog.version()",
    "select current_schema()",
    "show standard_conforming_strings",
    "show transaction isolation level",
    "select current_setting('server_version_num')::int",
    # DBeaver's schema list
    "SELECT n.oid,n.*,d.description FROM pg_catalog.pg_namespace n\n"
    "left outer join pg_catalog.pg_description d on d.objoid=n.oid and d.objsubid=0 and "
    "d.classoid='pg_namespace'::regclass\n ORDER BY nspname",
    # information_schema, as BI tools ask it
    "SELECT table_schema, table_name, column_name, data_type, is_nullable "
    "FROM information_schema.columns WHERE table_schema = 'public' "
    "ORDER BY table_name, ordinal_position",
    "select table_name from information_schema.tables where table_schema = 'public' order by 1",
    # Metabase-style quoting
    'SELECT "public"."film"."title" AS "title", "public"."film"."rating" AS "rating" '
    'FROM "public"."film" WHERE "public"."film"."rating" = \'PG\' ORDER BY "public"."film"."'
    'film_id" ASC LIMIT 5',
    # asyncpg's set-up: set_config with an allowed setting is SET in function form
    "SELECT set_config('jit', 'off', false)",
]

ANALYTICS = [
    "select rating, count(*), avg(length)::numeric(10,2), min(rental_rate), max(rental_rate) "
    "from film group by rating order by rating",
    "select film_id, title, rank() over (partition by rating order by length desc, film_id) "
    "from film order by film_id limit 20",
    "select film_id, length, lag(length) over w, lead(length, 2) over w, "
    "sum(length) over (order by film_id rows between 2 preceding and current row) "
    "from film window w as (order by film_id) order by film_id limit 15",
    "select rating, percentile_cont(0.5) within group (order by length) from film "
    "group by rating order by 1",
    "select count(*) filter (where length > 120), count(*) filter (where rating = 'R') from film",
    "select rating, rental_rate, count(*) from film group by rollup (rating, rental_rate) "
    "order by 1 nulls last, 2 nulls last",
    "select rating, count(*) from film group by grouping sets ((rating), ()) order by 1",
    "with recursive r(n) as (select 1 union all select n + 1 from r where n < 10) "
    "select sum(n) from r",
    "with top as (select actor_id, count(*) c from film_actor group by actor_id) "
    "select a.first_name, t.c from top t join actor a using (actor_id) order by t.c desc, "
    "a.actor_id limit 5",
    "select a.actor_id, f.title from actor a cross join lateral (select title from film_actor "
    "fa join film f using (film_id) where fa.actor_id = a.actor_id order by title limit 2) f "
    "order by 1, 2 limit 10",
    "select g, g * g from generate_series(1, 10) g",
    "select d::date from generate_series('2024-01-01'::date, '2024-01-10', '3 days') d",
    "select distinct on (rating) rating, title from film order by rating, length desc, film_id",
    "select jsonb_agg(jsonb_build_object('id', film_id, 'title', title) order by film_id) "
    "from film where film_id <= 3",
    "select j -> 'a', j ->> 'a', j #> '{a,2}', j #>> '{a,2,b}', j @> '{\"a\": [1]}', "
    "jsonb_typeof(j) from typed where id = 1",
    "select jsonb_path_query(j, '$.a[*] ? (@ > 1)') from typed where id = 1",
    "select j ? 'a', j ?| array['a', 'z'], j ?& array['a'] from typed where id = 1",
    "select json_build_array(1, 'two', null), row_to_json(t) from "
    "(select film_id, title from film where film_id = 7) t",
    "select 'film'::regclass, 'film'::regclass::oid > 0, pg_relation_size('film') > 0",
    "select 'public.film_actor'::regclass::text, 'int4'::regtype, 'now'::regproc",
    "select arr, arr[2], array_length(arr, 1), tarr, unnest(arr) from typed where id = 1",
    "select string_agg(title, ', ' order by film_id) from film where film_id < 5",
    "select title from film where title ilike 'film 1_' and title !~ '5' order by 1",
    "select exists (select 1 from film where film_id = 1), "
    "not exists (select 1 from actor where actor_id = 0)",
    "select film_id from film where film_id < 20 except select film_id from film_actor "
    "where actor_id = 2 intersect select film_id from film order by 1",
    "table actor order by actor_id limit 3",
    "values (1, 'a'), (2, 'b') order by 1 desc",
    "select n, iv, d, ts at time zone 'UTC', u, b, bool from typed order by id",
    "select date_trunc('month', ts), extract(year from d), ts::date - d, "
    "interval '1 day' * 3 from typed where id = 1",
    "explain (costs off) select * from film where film_id = 1",
    "select count(*) from film f join film_actor fa on fa.film_id = f.film_id "
    "join actor a on a.actor_id = fa.actor_id where a.last_name like 'Last1%'",
    "select coalesce(n, 0), nullif(id, 2), greatest(id, 2), least(id, 2) from typed order by id",
    "select rating, array_agg(film_id order by film_id) filter (where film_id < 30) "
    "from film group by rating order by rating",
    "select currval('guard_corpus.counter') from film where false",
    "select pg_sleep(0)",
]

# Texts that are lexically unusual but harmless: the guard's lexer checks must not refuse them.
UNUSUAL = [
    "select 1 /* a /* nested */ comment */ + 1",
    "/* /* */ delete from film */ select 'comment hid it'",
    "select 1 -- a comment; delete from film\n",
    "select 'a;b', 'it''s', E'tab\\there', E'quote \\' and backslash \\\\'",
    "select $$;delete from film;$$, $tag$ $$ $tag$",
    "select $a$ x $A$; delete from film; $a$",
    'select U&"fil\\006D_id" from film where film_id = 1',
    "select U&'d\\0061t\\+000061', U&'!0041' UESCAPE '!'",
    'select 1 as "a""b", 2 as "select", 3 as "Mixed Case"',
    "SeLeCt TiTlE fRoM FiLm WhErE FiLm_Id = 1",
    "select 'café' as \"naïve\", 'snow ☃' as \"☃\"",
    "select\r\n1\r\n;",
    "select\t1\x0c+\t2",
    "select 1; select 2;; select 3",
    "select .5, 1.e2, 1e-3, 10::numeric(4,1)",
    "select x'1F'::int, b'101'::int, n'national'",
    "select 1 as a$b, 2 as a$$",
    "select 1 + /* operator */ 2, 3 *-- trailing\n 4",
    "select 1 # 3, '{\"a\":1}'::jsonb #- '{a}'",
    "select title || '--' || rating from film where film_id = 3",
    "select '/* not a comment */' as s",
    "select array[1, 2]::int[] operator(pg_catalog.||) array[3]",
    "select 2 <>-1, 1 <> 2, 3 *-1, 4 !=(-1)",
    "select /*+ SeqScan(film) */ count(*) from film",
]

LEGITIMATE = [
    *[pytest.param(sql, id=f"psql-{i:02d}") for i, sql in enumerate(PSQL)],
    *[pytest.param(sql, id=f"client-{i:02d}") for i, sql in enumerate(CLIENTS)],
    *[pytest.param(sql, id=f"analytics-{i:02d}") for i, sql in enumerate(ANALYTICS)],
    *[pytest.param(sql, id=f"unusual-{i:02d}") for i, sql in enumerate(UNUSUAL)],
]


# --- fixtures ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def superuser(pg) -> Iterator[psycopg.Connection]:
    """A direct superuser connection: it sets up the sequence and reads the backend's state."""
    conn = psycopg.connect(
        host=pg.socket_dir, port=pg.port, user="postgres", dbname="testdb", autocommit=True
    )
    conn.execute(
        "create schema if not exists guard_corpus;"
        "create sequence if not exists guard_corpus.counter;"
        "grant usage on schema guard_corpus to reader;"
        "grant all on sequence guard_corpus.counter to reader"
    )
    try:
        yield conn
    finally:
        conn.execute("drop schema guard_corpus cascade")
        conn.close()


@pytest.fixture(scope="module")
def victim(pg) -> Iterator[psycopg.Connection]:
    """A live backend for pg_terminate_backend / pg_cancel_backend to aim at."""
    conn = psycopg.connect(
        host=pg.socket_dir, port=pg.port, user="postgres", dbname="testdb", autocommit=True
    )
    yield conn
    conn.close()


STATE_QUERY = """
select
  (select md5(string_agg(t::text, ',' order by t.film_id)) from film t),
  (select md5(string_agg(t::text, ',' order by t.actor_id)) from actor t),
  (select md5(string_agg(t::text, ',' order by t.actor_id, t.film_id)) from film_actor t),
  (select md5(string_agg(t::text, ',' order by t.id)) from typed t),
  (select string_agg(n.nspname || '.' || c.relname || ':' || c.relkind::text, ','
                     order by n.nspname, c.relname)
     from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname not in ('pg_catalog', 'information_schema')
      and n.nspname not like 'pg_toast%%'),
  (select string_agg(p.oid::regprocedure::text, ',' order by p.oid) from pg_proc p
    where p.pronamespace not in ('pg_catalog'::regnamespace,
                                 'information_schema'::regnamespace)),
  (select string_agg(rolname || rolsuper::text, ',' order by rolname) from pg_roles),
  (select string_agg(datname, ',' order by datname) from pg_database),
  (select string_agg(extname, ',' order by extname) from pg_extension),
  (select last_value::text || is_called::text from guard_corpus.counter),
  (select count(*) from pg_db_role_setting),
  (select count(*) from pg_locks where locktype = 'advisory'),
  (select count(*) from pg_prepared_xacts),
  (select count(*) from pg_replication_slots),
  (select count(*) from pg_largeobject_metadata),
  (select count(*) from pg_file_settings where sourcefile like '%%postgresql.auto.conf'),
  (select count(*) from pg_description where objoid = 'film'::regclass),
  (select count(*) from pg_stat_activity where pid = %(victim)s)
"""

SESSION_QUERY = (
    "select current_setting('default_transaction_read_only'), "
    "current_setting('transaction_read_only'), current_setting('statement_timeout'), "
    "current_user, session_user, (select count(*) from pg_listening_channels()), "
    "(select count(*) from pg_prepared_statements), (select count(*) from pg_cursors), "
    "current_setting('client_encoding')"
)
SESSION_EXPECTED = [b"on", b"on", b"30s", b"reader", b"reader", b"0", b"0", b"0", b"UTF8"]


def backend_state(superuser: psycopg.Connection, victim: psycopg.Connection) -> tuple:
    return superuser.execute(STATE_QUERY, {"victim": victim.info.backend_pid}).fetchone()


@pytest.fixture(scope="module")
def baseline(superuser, victim) -> tuple:
    return backend_state(superuser, victim)


@pytest.fixture(scope="module")
def wire(gateway) -> Iterator[WireClient]:
    client = WireClient(gateway.port)
    client.startup("analyst", "secret", "pagila")
    yield client
    client.close()


def session_state(client: WireClient) -> list[bytes | None]:
    responses = client.query(SESSION_QUERY)
    assert ready_status(responses) == "I", responses
    [row] = data_rows(responses)
    return row


def expected_refusal(sql: str, sqlstate: str) -> PgError:
    error = GUARD.check(sql)
    assert error is not None, f"the guard allows {sql!r}"
    assert error.sqlstate == sqlstate, error.message
    return error


def assert_refused(responses: list[tuple[bytes, bytes]], error: PgError) -> None:
    # One ErrorResponse and ReadyForQuery, nothing else: no statement of the text ran.
    assert tags(responses) == "EZ", responses
    [fields] = errors(responses)
    assert fields["C"] == error.sqlstate
    # The guard's own message: it was the guard that refused, not the backend.
    assert fields["M"] == error.message
    if error.position is not None:
        assert fields["P"] == str(error.position)


def statement(case: str, victim: psycopg.Connection) -> str:
    return case.replace("{victim}", str(victim.info.backend_pid))


# --- refused -----------------------------------------------------------------------------------
def test_corpus_sizes():
    assert len(REFUSED) >= 150
    assert len(LEGITIMATE) >= 50


@pytest.mark.parametrize("case, sqlstate", REFUSED)
def test_refused_through_the_gateway(wire, superuser, victim, baseline, case, sqlstate):
    sql = statement(case, victim)
    error = expected_refusal(sql, sqlstate)
    responses = wire.query(sql)
    assert_refused(responses, error)
    assert ready_status(responses) == "I"
    assert session_state(wire) == SESSION_EXPECTED
    assert backend_state(superuser, victim) == baseline


SINGLE = [p for p in REFUSED if ";" not in p.values[0]]


@pytest.mark.parametrize("case, sqlstate", SINGLE)
def test_refused_at_parse_in_the_extended_protocol(
    wire, superuser, victim, baseline, case, sqlstate
):
    sql = statement(case, victim)
    error = expected_refusal(sql, sqlstate)
    wire.send(
        messages.Parse.build(statement=b"", query=sql.encode(), param_types=[]),
        messages.Sync.build(),
    )
    assert_refused(wire.read_until(b"Z"), error)
    assert backend_state(superuser, victim) == baseline


def test_a_read_only_transaction_stays_read_only(wire, superuser, victim, baseline):
    """Inside an open transaction, each attempt to make it writable is refused; the backend
    marks the transaction failed, as PostgreSQL does for any error."""
    for attempt, sqlstate in [
        ("set transaction read write", WRITE),
        ("set transaction_read_only = off", DENIED),
        ("select set_config('transaction_read_only', 'off', true)", DENIED),
        ("set session characteristics as transaction read write", WRITE),
        ("commit; begin read write", WRITE),
    ]:
        begun = wire.query("begin read only")
        assert ready_status(begun) == "T"
        responses = wire.query(attempt)
        assert_refused(responses, expected_refusal(attempt, sqlstate))
        assert ready_status(responses) == "E"
        assert ready_status(wire.query("rollback")) == "I"
    assert session_state(wire) == SESSION_EXPECTED
    assert backend_state(superuser, victim) == baseline


def test_writes_later_in_a_transaction_are_refused_and_fail_it(wire, superuser, victim, baseline):
    assert ready_status(wire.query("begin")) == "T"
    assert ready_status(wire.query("select count(*) from film")) == "T"
    responses = wire.query("update film set title = 'x'")
    assert_refused(responses, expected_refusal("update film set title = 'x'", WRITE))
    assert ready_status(responses) == "E"
    assert ready_status(wire.query("commit")) == "I"  # COMMIT of a failed transaction: ROLLBACK
    assert backend_state(superuser, victim) == baseline


# --- legitimate --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def direct_wire(pg) -> Iterator[WireClient]:
    client = WireClient(pg.port)
    client.startup("reader", READER_PASSWORD, "testdb")
    yield client
    client.close()


@pytest.fixture(scope="module")
def oids(superuser) -> dict[str, int]:
    return {
        name: superuser.execute("select %s::regclass::oid", [name]).fetchone()[0]
        for name in ("film", "film_actor")
    }


def answer(responses: list[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """What a query returned: row descriptions, rows, command tags, errors."""
    return [(tag, payload) for tag, payload in responses if tag in b"TDCIEn"]


@pytest.mark.parametrize("sql", LEGITIMATE)
def test_legitimate_query_passes_untouched(wire, direct_wire, oids, sql):
    sql = sql.format(**oids) if sql in PSQL else sql
    assert GUARD.check(sql) is None
    through = wire.query(sql)
    direct = direct_wire.query(sql)
    assert not errors(direct), errors(direct)
    assert answer(through) == answer(direct)
    assert ready_status(through) == ready_status(direct) == "I"


@pytest.mark.parametrize(
    "sql, params",
    [
        pytest.param(introspection.INTRO_LOOKUP_TYPES_13, [b"{23,25,3802}"], id="asyncpg-types"),
        pytest.param(
            introspection.TYPE_BY_NAME, [b"jsonb", b"pg_catalog"], id="asyncpg-type-by-name"
        ),
        pytest.param(
            "select title from film where film_id = any($1::int[]) order by 1",
            [b"{1,2,3}"],
            id="any-array",
        ),
    ],
)
def test_legitimate_parameterised_query_passes_untouched(wire, direct_wire, sql, params):
    assert GUARD.check(sql) is None
    batch = (
        messages.Parse.build(statement=b"", query=sql.encode(), param_types=[]),
        messages.Bind.build(
            portal=b"",
            statement=b"",
            param_formats=[],
            params=[{"length": len(p), "data": p} for p in params],
            result_formats=[],
        ),
        messages.simple_message(b"D", b"P\0"),
        messages.Execute.build(portal=b"", max_rows=0),
        messages.Sync.build(),
    )
    wire.send(*batch)
    through = wire.read_until(b"Z")
    direct_wire.send(*batch)
    direct = direct_wire.read_until(b"Z")
    assert not errors(direct), errors(direct)
    assert answer(through) == answer(direct)


def test_the_backend_is_unchanged_after_the_corpus(wire, superuser, victim, baseline):
    assert session_state(wire) == SESSION_EXPECTED
    assert backend_state(superuser, victim) == baseline
