"""The guard in ClickHouse's dialect: PostHog-style analytics pass, everything that writes,
reaches files or the network, or overrides settings is refused with the exact SQLSTATE."""

from __future__ import annotations

import pytest

from gateway.routing.guard import Guard

# PostHog-style analytics over events (event, distinct_id, timestamp, properties as a JSON
# string, person_id), person and person_distinct_id2.
QUERIES = [
    "SELECT event, count() AS c FROM events WHERE team_id = 1 "
    "AND timestamp >= now() - INTERVAL 7 DAY GROUP BY event ORDER BY c DESC LIMIT 10",
    "SELECT toStartOfDay(timestamp) AS day, count() FROM events "
    "WHERE event = '$pageview' GROUP BY day ORDER BY day",
    "SELECT JSONExtractString(properties, '$browser') AS browser, uniq(distinct_id) AS users "
    "FROM events GROUP BY browser ORDER BY users DESC LIMIT 5",
    "SELECT countIf(event = '$pageview') AS pageviews, countIf(event = 'signup') AS signups "
    "FROM events",
    "SELECT quantiles(0.5, 0.9, 0.99)(JSONExtractFloat(properties, '$duration')) FROM events",
    "SELECT quantile(0.9)(toFloat64OrZero(JSONExtractRaw(properties, '$duration'))) "
    "FROM events WHERE event = '$pageview'",
    "SELECT arrayJoin(JSONExtractArrayRaw(properties, '$active_feature_flags')) AS flag, "
    "count() FROM events GROUP BY flag",
    "SELECT level, count() FROM (SELECT person_id, windowFunnel(86400)(toDateTime(timestamp), "
    "event = '$pageview', event = 'signup', event = 'purchase') AS level FROM events "
    "GROUP BY person_id) GROUP BY level ORDER BY level",
    "SELECT sum(r[1]), sum(r[2]), sum(r[3]) FROM (SELECT person_id, "
    "retention(toDate(timestamp) = today() - 2, toDate(timestamp) = today() - 1, "
    "toDate(timestamp) = today()) AS r FROM events GROUP BY person_id)",
    "SELECT person_id, dateDiff('second', min(timestamp), max(timestamp)) AS session_length "
    "FROM events GROUP BY person_id",
    "WITH toDateTime('2024-01-01 00:00:00') AS start "
    "SELECT count() FROM events WHERE timestamp >= start",
    "WITH daily AS (SELECT toDate(timestamp) AS d, uniq(person_id) AS dau FROM events "
    "GROUP BY d) SELECT avg(dau) FROM daily",
    "SELECT person_id, event, timestamp FROM events "
    "ORDER BY person_id, timestamp DESC LIMIT 3 BY person_id",
    "SELECT id, JSONExtractString(properties, 'email') FROM person FINAL WHERE is_deleted = 0",
    "SELECT count() * 10 FROM events SAMPLE 1/10",
    "SELECT count() FROM events PREWHERE event = '$pageview' "
    "WHERE JSONExtractString(properties, '$os') = 'Mac OS X'",
    "SELECT flag, count() FROM events "
    "ARRAY JOIN JSONExtractArrayRaw(properties, '$active_feature_flags') AS flag GROUP BY flag",
    "SELECT count() FROM events WHERE distinct_id GLOBAL IN "
    "(SELECT distinct_id FROM person_distinct_id2 WHERE is_deleted = 0)",
    "SELECT uniqIf(person_id, event = 'purchase'), "
    "sumIf(JSONExtractFloat(properties, 'revenue'), event = 'purchase') FROM events",
    "SELECT uniqMerge(s) FROM (SELECT uniqState(person_id) AS s FROM events "
    "GROUP BY toDate(timestamp))",
    "SELECT arrayFilter(x -> x != '', splitByChar(',', elements_chain)) FROM events LIMIT 5",
    "SELECT arrayMap((k, v) -> concat(k, '=', v), ['a', 'b'], ['1', '2'])",
    "SELECT map('a', 1, 'b', 2)['a'], mapKeys(map('x', 1))",
    "SELECT tuple(1, 'a').1, (event, distinct_id) AS t FROM events LIMIT 1",
    "SELECT person_id, timestamp, row_number() OVER (PARTITION BY person_id ORDER BY timestamp) "
    "AS rn FROM events",
    "SELECT person_id, lagInFrame(timestamp) OVER (PARTITION BY person_id ORDER BY timestamp "
    "ROWS BETWEEN 1 PRECEDING AND CURRENT ROW) AS previous FROM events",
    "SELECT distinct_id, argMax(person_id, version) FROM person_distinct_id2 "
    "GROUP BY distinct_id HAVING argMax(is_deleted, version) = 0",
    "SELECT e.event, p.id FROM events AS e INNER JOIN (SELECT distinct_id, "
    "argMax(person_id, version) AS person_id FROM person_distinct_id2 GROUP BY distinct_id) "
    "AS pdi ON e.distinct_id = pdi.distinct_id LEFT JOIN person AS p ON p.id = pdi.person_id "
    "LIMIT 10",
    "SELECT toStartOfInterval(timestamp, INTERVAL 15 MINUTE) AS bucket, count() FROM events "
    "GROUP BY bucket ORDER BY bucket",
    "SELECT multiIf(JSONExtractString(properties, '$device_type') = 'Mobile', 'mobile', "
    "JSONExtractString(properties, '$device_type') = 'Tablet', 'tablet', 'desktop') AS device, "
    "count() FROM events GROUP BY device",
    "SELECT 'pageviews' AS k, count() FROM events WHERE event = '$pageview' "
    "UNION ALL SELECT 'signups', count() FROM events WHERE event = 'signup'",
    "SELECT toDate('2024-01-01') + number AS day FROM numbers(30)",
    "SELECT toDate(timestamp) AS d, count() AS c FROM events GROUP BY d ORDER BY d WITH FILL",
    "SELECT person_id, arraySort(x -> x.1, groupArray((timestamp, event))) FROM events "
    "GROUP BY person_id",
    "SELECT sequenceMatch('(?1)(?2)')(toDateTime(timestamp), event = '$pageview', "
    "event = 'signup') FROM events GROUP BY person_id",
    "SELECT topK(5)(event) FROM events",
    "SELECT count() FROM events WHERE JSONExtractString(properties, '$current_url') "
    "ILIKE '%posthog.com%' AND match(distinct_id, '^[0-9]')",
    "SELECT count() FROM events WHERE event IN ('$pageview', '$pageleave')",
    "SELECT count() FROM events WHERE "
    "has(JSONExtract(properties, '$active_feature_flags', 'Array(String)'), 'beta')",
    "SELECT formatDateTime(toTimeZone(timestamp, 'America/New_York'), '%Y-%m-%d %H') AS hour, "
    "count() FROM events GROUP BY hour",
    "SELECT event, uniqExact(distinct_id) AS u FROM events GROUP BY event HAVING u > 1",
    "SELECT count() FROM events WHERE person_id IN "
    "(SELECT person_id FROM events WHERE event = 'purchase')",
    "SELECT coalesce(nullIf(JSONExtractString(properties, 'utm_source'), ''), '(none)') "
    "AS source, count() FROM events GROUP BY source",
    "SELECT count() FROM events WHERE toDate(timestamp) BETWEEN today() - 30 AND today()",
    "SELECT sumMap(map(event, toUInt64(1))) FROM events",
    "SELECT extract(JSONExtractString(properties, '$current_url'), 'utm_campaign=([^&]*)') "
    "FROM events LIMIT 5",
    "SELECT format('{} - {}', event, distinct_id) FROM events LIMIT 1",
    "WITH ['$pageview', 'signup'] AS interesting "
    "SELECT event, count() FROM events WHERE has(interesting, event) GROUP BY event",
    "SELECT toYYYYMM(timestamp) AS month, toMonday(timestamp) AS week, "
    "if(event = 'purchase', 1, 0) AS bought, anyLast(distinct_id) FROM events "
    "GROUP BY month, week, bought",
    "SELECT groupUniqArray(event), arrayExists(x -> x = 'a', splitByChar(',', elements_chain)) "
    "AS has_a FROM events GROUP BY has_a",
    "SELECT count() FROM events WHERE timestamp > now() - INTERVAL 1 HOUR "
    "AND NOT empty(distinct_id)",
    "SELECT * FROM (SELECT event, count() AS c FROM events GROUP BY event) "
    "WHERE c > 1 ORDER BY c DESC",
    "FROM events SELECT count()",
    "SELECT number, number % 3 AS bucket FROM system.numbers LIMIT 10",
    "SELECT name FROM system.tables WHERE database = currentDatabase()",
    "SELECT * FROM view(SELECT event FROM events) LIMIT 1",
    "SELECT * FROM format(CSV, '1,2')",
    "SELECT sleepEachRow(0) FROM events LIMIT 1",
    "SELECT events.file, uuid AS file FROM (SELECT 'x' AS file, uuid FROM events) AS events",
]

# Read-only metadata and EXPLAIN, in every form the guard knows.
UTILITY = [
    "EXPLAIN SELECT count() FROM events",
    "EXPLAIN AST SELECT 1",
    "EXPLAIN SYNTAX SELECT event FROM events WHERE 1",
    "EXPLAIN QUERY TREE SELECT 1",
    "EXPLAIN PLAN actions = 1, header = 1 SELECT count() FROM events",
    "EXPLAIN PIPELINE graph = 1, compact = 0 SELECT count() FROM events",
    "EXPLAIN ESTIMATE SELECT count() FROM events WHERE event = 'signup'",
    "DESCRIBE TABLE events",
    "DESC events",
    "DESCRIBE TABLE (SELECT event, timestamp FROM events)",
    "DESCRIBE numbers(3)",
    "SHOW TABLES",
    "SHOW FULL TABLES FROM system LIKE 'one%' LIMIT 3",
    "SHOW TABLES IN system NOT ILIKE '%log%'",
    "SHOW DATABASES",
    "SHOW DATABASES LIKE 'sys%' LIMIT 2",
    "SHOW CREATE TABLE events",
    "EXISTS TABLE events",
    "EXISTS system.one",
    "SELECT 1; SELECT 2",
]

REFUSED = [
    # Table functions that reach files or the network, in every position, case and quoting.
    ("SELECT * FROM url('http://evil/x', CSV, 'a String')", "42501"),
    ("SELECT * FROM URL('http://evil/x')", "42501"),
    ("SELECT * FROM \"url\"('http://evil/x')", "42501"),
    ("SELECT * FROM `url`('http://evil/x')", "42501"),
    ("SELECT * FROM urlCluster('c', 'http://evil/x')", "42501"),
    ("SELECT * FROM file('/etc/passwd', 'LineAsString')", "42501"),
    ("SELECT * FROM File('/etc/passwd')", "42501"),
    ("SELECT * FROM fileCluster('c', '/etc/passwd')", "42501"),
    ("SELECT * FROM s3('https://b.s3.amazonaws.com/x.csv')", "42501"),
    ("SELECT * FROM s3Cluster('c', 'https://b/x.csv')", "42501"),
    ("SELECT * FROM S3CLUSTER('c', 'https://b/x.csv')", "42501"),
    ("SELECT * FROM gcs('https://storage.googleapis.com/b/x')", "42501"),
    ("SELECT * FROM hdfs('hdfs://h/x', 'CSV')", "42501"),
    ("SELECT * FROM hdfsCluster('c', 'hdfs://h/x')", "42501"),
    ("SELECT * FROM remote('other:9000', db.events)", "42501"),
    ("SELECT * FROM remoteSecure('other:9440', db.events, 'u', 'p')", "42501"),
    ("SELECT * FROM cluster('c', db.events)", "42501"),
    ("SELECT * FROM clusterAllReplicas('c', db.events)", "42501"),
    ("SELECT * FROM mysql('h:3306', 'db', 't', 'u', 'p')", "42501"),
    ("SELECT * FROM postgresql('h:5432', 'db', 't', 'u', 'p')", "42501"),
    ("SELECT * FROM jdbc('jdbc:x', 'db', 't')", "42501"),
    ("SELECT * FROM odbc('DSN=x', 'db', 't')", "42501"),
    ("SELECT * FROM mongodb('h:27017', 'db', 'c', 'u', 'p', 'x String')", "42501"),
    ("SELECT * FROM redis('h:6379', 'k', 'k String')", "42501"),
    ("SELECT * FROM sqlite('/var/lib/x.db', 't')", "42501"),
    ("SELECT * FROM executable('evil.sh', 'TSV', 'x String')", "42501"),
    ("SELECT * FROM executablePool('evil.sh', 'TSV', 'x String')", "42501"),
    ("SELECT * FROM input('x String')", "42501"),
    ("SELECT * FROM azureBlobStorage('conn', 'c', 'x.csv')", "42501"),
    ("SELECT * FROM azureBlobStorageCluster('c', 'conn', 'c', 'x.csv')", "42501"),
    ("SELECT * FROM deltaLake('https://b/t')", "42501"),
    ("SELECT * FROM hudi('https://b/t')", "42501"),
    ("SELECT * FROM iceberg('https://b/t')", "42501"),
    ("SELECT * FROM icebergLocal('/var/lib/t')", "42501"),
    ("SELECT * FROM merge('default', '^ev')", "42501"),
    ("SELECT * FROM dictionary('d')", "42501"),
    ("SELECT * FROM loop(numbers(3))", "42501"),
    ("SELECT * FROM mergeTreeIndex('default', 'events')", "42501"),
    ("SELECT * FROM viewIfPermitted(SELECT 1 ELSE null('x UInt8'))", "42501"),
    ("SELECT * FROM default.numbers(3)", "42501"),
    # ... nested: JOIN, subqueries, IN, CTEs, UNION branches, function arguments, EXPLAIN.
    ("SELECT * FROM events AS e JOIN url('http://evil/x') AS u ON e.event = u.c1", "42501"),
    ("SELECT * FROM events, s3('https://b/x.csv') AS s", "42501"),
    ("SELECT * FROM (SELECT * FROM file('/etc/passwd'))", "42501"),
    (
        "SELECT count() FROM events WHERE distinct_id IN (SELECT * FROM url('http://evil/x'))",
        "42501",
    ),
    ("SELECT count() FROM events WHERE event IN url('http://evil/x')", "42501"),
    ("WITH x AS (SELECT * FROM remote('other', db.t)) SELECT * FROM x", "42501"),
    ("WITH (SELECT c1 FROM url('http://evil/x')) AS secret SELECT secret", "42501"),
    ("SELECT 1 UNION ALL SELECT * FROM mysql('h', 'db', 't', 'u', 'p')", "42501"),
    ("SELECT * FROM view(SELECT * FROM file('/etc/passwd'))", "42501"),
    ("SELECT * FROM numbers(1) WHERE (SELECT count() FROM hdfs('hdfs://h/x')) > 0", "42501"),
    ("EXPLAIN PIPELINE SELECT * FROM url('http://evil/x')", "42501"),
    ("DESCRIBE TABLE url('http://evil/x')", "42501"),
    ("DESCRIBE merge('default', '^ev')", "42501"),
    # Scalar functions that read files, reach the network or the server.
    ("SELECT file('/etc/passwd')", "42501"),
    ("SELECT toString(FILE('/etc/passwd'))", "42501"),
    ("SELECT `f\\x69le`('/etc/passwd')", "42501"),
    ("SELECT \"fi\\x6ce\"('/etc/passwd')", "42501"),
    ("SELECT * APPLY(file) FROM events", "42501"),
    ("SELECT COLUMNS('path') APPLY file FROM logs", "42501"),
    ("SELECT arrayMap(file, ['/etc/passwd'])", "42501"),
    ("SELECT arrayMap(`FILE`, ['/etc/passwd'])", "42501"),
    ("WITH x -> file(x) AS f SELECT f('/etc/passwd')", "42501"),
    ("SELECT aiGenerate('say hi')", "42501"),
    ("SELECT hasColumnInTable('other', 'db', 't', 'c')", "42501"),
    ("SELECT generateSerialID('s')", "42501"),
    ("SELECT logTrace('x')", "42501"),
    ("SELECT filesystemAvailable()", "42501"),
    ("SELECT __getScalar('x')", "42501"),
    # Lexing: whatever ClickHouse reads as space, a comment or a string, the guard reads alike.
    ("SELECT file\u00a0('/etc/passwd')", "42501"),
    ("SELECT file\u200b('/etc/passwd')", "42501"),
    ("SELECT file\u3000('/etc/passwd')", "42501"),
    ("SELECT\vfile('/etc/passwd')", "42501"),
    ("SELECT file /* ( */ ('/etc/passwd')", "42501"),
    ("SELECT 1 -- x \r, file('/etc/passwd')\n, file('/etc/passwd')", "42501"),
    ("SELECT $a$x$a$, file('/etc/passwd')", "42501"),
    ("SELECT 'x\\\\', file('/etc/passwd')", "42501"),
    # Settings and output overrides.
    ("SELECT count() FROM events SETTINGS max_execution_time = 0", "42501"),
    ("SELECT count() FROM events SETTINGS readonly = 0", "42501"),
    ("SELECT * FROM (SELECT 1 SETTINGS max_threads = 64)", "42501"),
    ("SELECT 1 UNION ALL SELECT 2 SETTINGS max_memory_usage = 0", "42501"),
    ("SELECT 1 FORMAT JSON", "42501"),
    ("SELECT 1 FORMAT TabSeparated SETTINGS max_threads = 1", "42501"),
    ("EXPLAIN SELECT 1 SETTINGS max_threads = 1", "42501"),
    ("EXPLAIN PLAN max_execution_time = 0 SELECT 1", "42501"),
    ("DESCRIBE TABLE events SETTINGS describe_include_subcolumns = 1", "42501"),
    ("SHOW TABLES FORMAT JSON", "42501"),
    ("SET max_execution_time = 0", "42501"),
    ("SET readonly = 0", "42501"),
    ("set allow_ddl = 1, max_threads = 2", "42501"),
    # Writing files.
    ("SELECT * FROM events INTO OUTFILE '/tmp/x.csv'", "25006"),
    ("SELECT 1 INTO OUTFILE 'x' TRUNCATE FORMAT CSV", "25006"),
    ("EXPLAIN SYNTAX SELECT 1 INTO OUTFILE '/tmp/x'", "25006"),
    # Writes, DDL, server and session state.
    ("INSERT INTO events (event) VALUES ('x')", "25006"),
    ("INSERT INTO FUNCTION file('/tmp/x', 'CSV') SELECT 1", "25006"),
    ("INSERT INTO events SELECT * FROM events", "25006"),
    ("ALTER TABLE events DELETE WHERE 1", "25006"),
    ("ALTER TABLE events UPDATE event = 'x' WHERE 1", "25006"),
    ("DELETE FROM events WHERE 1", "25006"),
    ("UPDATE events SET event = 'x' WHERE 1", "25006"),
    ("CREATE TABLE t (a Int8) ENGINE = Memory", "25006"),
    ("CREATE TABLE t ENGINE = URL('http://evil/x', CSV) AS SELECT 1", "25006"),
    ("CREATE FUNCTION f AS x -> file(x)", "25006"),
    ("CREATE DICTIONARY d (k UInt64) PRIMARY KEY k SOURCE(HTTP(url 'http://evil'))", "25006"),
    ("DROP TABLE events", "25006"),
    ("DROP DATABASE default", "25006"),
    ("TRUNCATE TABLE events", "25006"),
    ("RENAME TABLE events TO events_old", "25006"),
    ("EXCHANGE TABLES events AND events_old", "25006"),
    ("DETACH TABLE events", "25006"),
    ("ATTACH TABLE events", "25006"),
    ("UNDROP TABLE events", "25006"),
    ("OPTIMIZE TABLE events FINAL", "25006"),
    ("SYSTEM SHUTDOWN", "25006"),
    ("SYSTEM FLUSH LOGS", "25006"),
    ("system drop dns cache", "25006"),
    ("KILL QUERY WHERE 1", "25006"),
    ("KILL MUTATION WHERE 1", "25006"),
    ("GRANT ALL ON *.* TO default", "25006"),
    ("REVOKE SELECT ON events FROM default", "25006"),
    ("SET DEFAULT ROLE admin TO default", "25006"),
    ("USE system", "25006"),
    ("BACKUP TABLE events TO Disk('backups', 'x.zip')", "25006"),
    ("RESTORE TABLE events FROM Disk('backups', 'x.zip')", "25006"),
    ("CHECK TABLE events", "25006"),
    ("EXPLAIN AST INSERT INTO events VALUES (1)", "25006"),
    ("EXPLAIN ALTER TABLE events DELETE WHERE 1", "25006"),
    ("DESCRIBE TABLE events; DROP TABLE events", "25006"),
    # Multi-statement strings: every statement is checked.
    ("SELECT 1; DROP TABLE events", "25006"),
    ("SELECT 1; SELECT * FROM url('http://evil/x')", "42501"),
    ("SHOW TABLES; SYSTEM SHUTDOWN", "25006"),
    ("SELECT ';'; TRUNCATE TABLE events", "25006"),
    ("SELECT 1 /* ; */; SET readonly = 0", "42501"),
    # Read-only but not allowed through the gateway.
    ("WATCH live_view", "42501"),
    ("SHOW PROCESSLIST", "42501"),
    ("SHOW GRANTS", "42501"),
    ("SHOW USERS", "42501"),
    ("SHOW CREATE USER default", "42501"),
    ("SHOW CREATE DICTIONARY d", "42501"),
    ("SHOW SETTINGS LIKE 'max%'", "42501"),
    ("EXISTS DATABASE default", "42501"),
    ("EXPLAIN TABLE OVERRIDE t PARTITION BY x", "42501"),
    # Text that cannot be parsed.
    ("SELECT FROM WHERE", "42601"),
    ("SELECT 'unterminated", "42601"),
    ("SELECT (1", "42601"),
    ("SHOW TABLES FROM", "42601"),
    ("DESCRIBE TABLE events WHERE 1", "42601"),
    ("EXPLAIN", "42601"),
]


@pytest.fixture(scope="module")
def guard() -> Guard:
    return Guard("clickhouse")


@pytest.mark.parametrize("statement", QUERIES + UTILITY)
def test_allowed(guard, statement):
    assert guard.check(statement) is None


@pytest.mark.parametrize("statement, sqlstate", REFUSED)
def test_refused(guard, statement, sqlstate):
    error = guard.check(statement)
    assert error is not None, statement
    assert error.sqlstate == sqlstate, error.message
    assert error.message


def test_corpus_sizes():
    assert len(QUERIES) >= 40
    assert len(REFUSED) >= 60


def test_queries_keep_their_trees(guard):
    verdict = guard.classify(QUERIES[0])
    assert verdict.allowed and verdict.statements[0] is not None


def test_messages_name_the_statement_function_and_position(guard):
    error = guard.check("SELECT * FROM events AS e JOIN s3Cluster('c', 'x') AS s ON 1")
    assert "s3Cluster()" in error.message and error.position == 32
    error = guard.check("SELECT * FROM merge('default', '^ev')")
    assert "merge()" in error.message and error.position == 15
    error = guard.check("SELECT * FROM numbers(3) AS n JOIN mergeTreeIndex('d', 't') AS m ON 1")
    assert "mergeTreeIndex()" in error.message
    assert "SETTINGS" in guard.check("SELECT 1 SETTINGS max_threads = 1").message
    assert "FORMAT" in guard.check("SELECT 1 FORMAT JSON").message
    assert "OUTFILE" in guard.check("SELECT 1 INTO OUTFILE 'x'").message
    assert "SYSTEM SHUTDOWN" in guard.check("SYSTEM SHUTDOWN").message
    assert "max_execution_time" in guard.check("SET max_execution_time = 0").message
    # Positions are within the EXPLAIN or DESCRIBE statement, not the embedded query.
    assert guard.check("EXPLAIN SELECT 1 SETTINGS max_threads = 1").position == 27
    assert guard.check("DESCRIBE TABLE events FORMAT JSON").position == 30


def test_table_functions_outside_the_allow_list_are_refused_where_a_table_is_expected(guard):
    # A table function the guard has never heard of is refused in FROM and JOIN (fail closed);
    # the same name called as a scalar function is ClickHouse's business.
    error = guard.check("SELECT * FROM brandNewTableFunction('x')")
    assert error.sqlstate == "42501" and "table function" in error.message
    error = guard.check("SELECT * FROM events JOIN brandNewTableFunction('x') AS b ON 1")
    assert error.sqlstate == "42501"
    assert guard.check("SELECT brandNewScalarFunction('x')") is None


def test_shape_cache_shares_verdicts_but_never_masks_code(guard):
    guard = Guard("clickhouse")
    assert guard.check("SELECT count() FROM events WHERE event = 'a'") is None
    assert guard.check("SELECT count() FROM events WHERE event = 'b'") is None
    assert len(guard._shapes) == 1
    assert guard.check("SHOW TABLES") is None
    assert guard.check("SHOW PROCESSLIST").sqlstate == "42501"
    assert guard.check("EXPLAIN SELECT 1") is None
    assert guard.check("EXPLAIN SELECT * FROM url('x')").sqlstate == "42501"


def test_postgres_guard_is_unchanged():
    # The same texts mean something else in PostgreSQL, where ClickHouse's rules do not apply.
    guard = Guard()
    assert guard.rules is None
    assert guard.check("select * from url('x')") is None
    assert Guard("clickhouse").check("select * from url('x')").sqlstate == "42501"


# Texts where a lexer that disagreed with ClickHouse's would hide a call of file().
LEXER_TRICKS = [
    *(f"SELECT file{chr(c)}('{{path}}')" for c in (0x0B, 0x0C, 0x85, 0xA0, 0x2003, 0x200B, 0xFEFF)),
    "SELECT 1 -- x \r, file('{path}')",
    "SELECT 1 # x \r, file('{path}')",
    "SELECT 1 #x\n, file('{path}')",
    "SELECT 1 /* /* */, file('{path}') */",
    "SELECT 1 /* /* */, file('{path}')",
    "SELECT $a$x$a$, file('{path}')",
    "SELECT $$x$a$, file('{path}') $$",
    "SELECT 'x\\\\', file('{path}')",
    "SELECT 'x\\'', file('{path}')",
    "SELECT `a``b`, file('{path}')",
    "SELECT `f\\x69le`('{path}')",
    "SELECT \"f\\151le\"('{path}')",
    "SELECT arrayMap(file, ['{path}'])",
    "SELECT COLUMNS('p') APPLY file FROM (SELECT '{path}' AS p)",
]


def test_lexer_agrees_with_clickhouse(tmp_path):
    """Optional: whenever ClickHouse (chDB) would read the file, the guard refuses the text."""
    chdb = pytest.importorskip("chdb")
    secret = tmp_path / "secret.txt"
    secret.write_text("metahog-secret-marker\n")
    guard = Guard("clickhouse")
    leaks = 0
    for trick in LEXER_TRICKS:
        text = trick.replace("{path}", str(secret))
        try:
            leaked = "metahog-secret-marker" in str(chdb.query(text, "CSV"))
        except Exception:
            leaked = False
        if leaked:
            leaks += 1
            assert guard.check(text) is not None, repr(text)
    if not leaks:
        pytest.skip("chDB does not read local files here")


def test_legitimate_queries_run_in_chdb():
    """Optional: every allowed query parses and runs in ClickHouse itself (chDB, in process)."""
    session_module = pytest.importorskip("chdb.session")
    session = session_module.Session()
    try:
        session.query(
            "CREATE TABLE events (uuid UUID, event String, distinct_id String, "
            "timestamp DateTime64(6, 'UTC'), properties String, person_id UUID, team_id Int64, "
            "elements_chain String) ENGINE = MergeTree "
            "ORDER BY (team_id, toDate(timestamp), event, cityHash64(distinct_id)) "
            "SAMPLE BY cityHash64(distinct_id)"
        )
        session.query(
            "CREATE TABLE person (id UUID, properties String, is_deleted UInt8, version UInt64) "
            "ENGINE = ReplacingMergeTree(version) ORDER BY id"
        )
        session.query(
            "CREATE TABLE person_distinct_id2 (distinct_id String, person_id UUID, "
            "is_deleted UInt8, version Int64) ENGINE = ReplacingMergeTree(version) "
            "ORDER BY distinct_id"
        )
        session.query(
            "INSERT INTO events SELECT generateUUIDv4(), "
            "['$pageview', 'signup', 'purchase'][number % 3 + 1], toString(number % 5), "
            "now64(6) - number * 3600, "
            '\'{"$browser": "Chrome", "$active_feature_flags": ["beta"], '
            '"$duration": 1.5, "revenue": 10}\', '
            "toUUID(concat('00000000-0000-0000-0000-00000000000', toString(number % 5))), 1, "
            "'a,b' FROM numbers(50)"
        )
        session.query(
            "INSERT INTO person SELECT "
            "toUUID(concat('00000000-0000-0000-0000-00000000000', toString(number))), "
            '\'{"email": "x@example.com"}\', 0, 1 FROM numbers(5)'
        )
        session.query(
            "INSERT INTO person_distinct_id2 SELECT toString(number), "
            "toUUID(concat('00000000-0000-0000-0000-00000000000', toString(number))), 0, 1 "
            "FROM numbers(5)"
        )
        failures = []
        for statement in QUERIES + UTILITY:
            try:
                session.query(statement, "CSV")
            except Exception as exc:
                failures.append(f"{statement}: {str(exc).splitlines()[0]}")
        assert not failures, "\n".join(failures)
    finally:
        session.close()
