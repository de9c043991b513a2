// pgjdbc against a MetaHog gateway: metadata, server-side prepared statements with binary
// transfer, read-only refusals and transactions.
//
// Run in Java 17 source-launcher mode (no javac step):
//   java -Duser.timezone=UTC -cp postgresql.jar tests/jdbc/JdbcCheck.java URL USER PASSWORD
//
// Output: one JSON object per line, for tests/test_jdbc.py.
//   {"check": NAME, "ok": true|false, "detail": TEXT}   one per check
//   {"data": NAME, ...}                                 values the Python side compares with
//                                                       the backend queried directly
//   {"done": true}                                      last line: the program ran to its end
// The exit status is 0 when every check passed, 1 otherwise.

import java.math.BigDecimal;
import java.sql.Array;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.sql.Timestamp;
import java.sql.Types;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HexFormat;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.Properties;

import org.postgresql.PGConnection;
import org.postgresql.PGResultSetMetaData;
import org.postgresql.PGStatement;
import org.postgresql.util.PGobject;

public class JdbcCheck {
    static final String FILM_QUERY =
        "select film_id, title, rental_rate, last_update from film where film_id = ?";
    static final String TYPED_QUERY =
        "select id, n, ts, d, u, j, arr, tarr, iv, b, f8, bool from typed where id = ?";
    static final int EXECUTIONS = 10;

    static boolean allOk = true;

    /** A failed expectation inside a check; its message becomes the check's detail. */
    static final class CheckFailed extends RuntimeException {
        CheckFailed(String message) {
            super(message);
        }
    }

    interface Body {
        String run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: JdbcCheck URL USER PASSWORD");
            System.exit(2);
        }
        String url = args[0];
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        props.setProperty("connectTimeout", "10");
        props.setProperty("socketTimeout", "60");

        Connection conn;
        try {
            conn = DriverManager.getConnection(url, props);
        } catch (SQLException e) {
            report("connect", false, describe(e));
            emit(map("done", true));
            System.exit(1);
            return;
        }
        try (conn) {
            DatabaseMetaData meta = conn.getMetaData();
            report("connect", true, meta.getDriverName() + " " + meta.getDriverVersion()
                + " -> " + meta.getDatabaseProductName() + " " + meta.getDatabaseProductVersion());
            check("tables", () -> checkTables(conn));
            check("columns", () -> checkColumns(conn));
            check("primary_keys", () -> checkPrimaryKeys(conn));
            check("prepared_film", () -> checkPreparedFilm(conn));
            check("server_prepared_statement", () -> checkServerStatement(conn));
            check("prepared_typed", () -> checkPreparedTyped(conn));
            check("insert_refused", () -> refused(conn, "insert", c -> {
                try (PreparedStatement ps = c.prepareStatement(
                        "insert into film (film_id, title) values (?, ?)")) {
                    ps.setInt(1, 5000);
                    ps.setString(2, "nope");
                    ps.executeUpdate();
                }
            }));
            check("update_refused", () -> refused(conn, "update", c -> {
                try (PreparedStatement ps = c.prepareStatement(
                        "update film set title = ? where film_id = ?")) {
                    ps.setString(1, "changed");
                    ps.setInt(2, 1);
                    ps.executeUpdate();
                }
            }));
            check("delete_refused", () -> refused(conn, "delete", c -> {
                try (Statement st = c.createStatement()) {
                    st.executeUpdate("delete from film where film_id = 1");
                }
            }));
            check("create_table_refused", () -> refused(conn, "create table", c -> {
                try (Statement st = c.createStatement()) {
                    st.execute("create table jdbc_probe (x int)");
                }
            }));
            check("write_after_select_refused", () -> refused(conn, "select; delete", c -> {
                // pgjdbc sends both statements in one Parse/Bind/Execute batch before one Sync.
                try (Statement st = c.createStatement()) {
                    st.execute("select 1; delete from film where film_id = 2");
                }
            }));
            check("batch_insert_refused", () -> refused(conn, "batch insert", c -> {
                try (PreparedStatement ps = c.prepareStatement(
                        "insert into actor (actor_id, first_name) values (?, ?)")) {
                    for (int i = 0; i < 3; i++) {
                        ps.setInt(1, 9000 + i);
                        ps.setString(2, "batch");
                        ps.addBatch();
                    }
                    ps.executeBatch();
                }
            }));
            check("nothing_written", () -> {
                expectEquals("film count", 1000L,
                    scalar(conn, "select count(*) from film"));
                expectEquals("title of film 1", "Film 1",
                    scalar(conn, "select title from film where film_id = 1"));
                expectEquals("film 2 exists", 1L,
                    scalar(conn, "select count(*) from film where film_id = 2"));
                expectEquals("actor count", 200L, scalar(conn, "select count(*) from actor"));
                expectEquals("jdbc_probe table", null,
                    scalar(conn, "select to_regclass('public.jdbc_probe')::text"));
                return "no row or table changed";
            });
            check("transaction_commit", () -> checkTransaction(conn));
            check("transaction_failed_write", () -> checkFailedTransaction(conn));
            check("read_only", () -> checkReadOnly(conn));
            check("isolation", () -> checkIsolation(conn));
            check("read_only_mode_always", () -> checkReadOnlyModeAlways(url, props));
            check("still_usable", () -> {
                expectEquals("autocommit", true, conn.getAutoCommit());
                expectEquals("select 42", 42, scalar(conn, "select 42"));
                return "connection valid: " + conn.isValid(5);
            });
        }
        emit(map("done", true));
        System.exit(allOk ? 0 : 1);
    }

    // --- checks ---------------------------------------------------------------------------

    static String checkTables(Connection conn) throws SQLException {
        List<String> names = new ArrayList<>();
        try (ResultSet rs = conn.getMetaData().getTables(null, "public", "%",
                new String[] {"TABLE"})) {
            while (rs.next()) {
                expectEquals("TABLE_SCHEM", "public", rs.getString("TABLE_SCHEM"));
                expectEquals("TABLE_TYPE", "TABLE", rs.getString("TABLE_TYPE"));
                names.add(rs.getString("TABLE_NAME"));
                if ("film".equals(rs.getString("TABLE_NAME"))) {
                    expectEquals("film REMARKS", "films for rent", rs.getString("REMARKS"));
                }
            }
        }
        emit(map("data", "tables", "names", names));
        for (String expected : List.of("film", "actor", "film_actor", "typed")) {
            if (!names.contains(expected)) {
                throw new CheckFailed("table " + expected + " missing from " + names);
            }
        }
        return names.toString();
    }

    static String checkColumns(Connection conn) throws SQLException {
        List<Map<String, Object>> columns = new ArrayList<>();
        try (ResultSet rs = conn.getMetaData().getColumns(null, "public", "film", "%")) {
            while (rs.next()) {
                columns.add(map(
                    "name", rs.getString("COLUMN_NAME"),
                    "data_type", rs.getInt("DATA_TYPE"),
                    "type_name", rs.getString("TYPE_NAME"),
                    "column_size", rs.getInt("COLUMN_SIZE"),
                    "decimal_digits", rs.getObject("DECIMAL_DIGITS") == null
                        ? null : rs.getInt("DECIMAL_DIGITS"),
                    "nullable", rs.getInt("NULLABLE"),
                    "ordinal", rs.getInt("ORDINAL_POSITION"),
                    "default", rs.getString("COLUMN_DEF")));
            }
        }
        emit(map("data", "columns", "columns", columns));
        Map<String, Map<String, Object>> byName = new LinkedHashMap<>();
        for (Map<String, Object> column : columns) {
            byName.put((String) column.get("name"), column);
        }
        expectEquals("column names",
            List.of("film_id", "title", "rating", "length", "rental_rate", "last_update"),
            new ArrayList<>(byName.keySet()));
        expectColumn(byName.get("film_id"), Types.INTEGER, "int4");
        expectColumn(byName.get("title"), Types.VARCHAR, "text");
        expectColumn(byName.get("rating"), Types.VARCHAR, "text");
        expectColumn(byName.get("length"), Types.SMALLINT, "int2");
        expectColumn(byName.get("rental_rate"), Types.NUMERIC, "numeric");
        expectColumn(byName.get("last_update"), Types.TIMESTAMP, "timestamptz");
        expectEquals("rental_rate precision", 4, byName.get("rental_rate").get("column_size"));
        expectEquals("rental_rate scale", 2, byName.get("rental_rate").get("decimal_digits"));
        expectEquals("film_id nullable", DatabaseMetaData.columnNoNulls,
            byName.get("film_id").get("nullable"));
        expectEquals("rating nullable", DatabaseMetaData.columnNullable,
            byName.get("rating").get("nullable"));
        return columns.size() + " columns";
    }

    static void expectColumn(Map<String, Object> column, int dataType, String typeName) {
        String name = (String) column.get("name");
        expectEquals(name + " DATA_TYPE", dataType, column.get("data_type"));
        expectEquals(name + " TYPE_NAME", typeName, column.get("type_name"));
    }

    static String checkPrimaryKeys(Connection conn) throws SQLException {
        List<String> keys = new ArrayList<>();
        try (ResultSet rs = conn.getMetaData().getPrimaryKeys(null, "public", "film_actor")) {
            while (rs.next()) {
                keys.add(rs.getShort("KEY_SEQ") + ":" + rs.getString("COLUMN_NAME"));
            }
        }
        keys.sort(null);
        expectEquals("film_actor primary key", List.of("1:actor_id", "2:film_id"), keys);
        return keys.toString();
    }

    /**
     * One PreparedStatement run EXECUTIONS times. pgjdbc's default prepareThreshold is 5: the
     * first four executions use the unnamed statement and text results; from the fifth on it
     * parses a named server-side statement (S_n), describes it, and asks for binary results.
     */
    static String checkPreparedFilm(Connection conn) throws SQLException {
        expectEquals("prepareThreshold", 5, conn.unwrap(PGConnection.class).getPrepareThreshold());
        List<Map<String, Object>> executions = new ArrayList<>();
        try (PreparedStatement ps = conn.prepareStatement(FILM_QUERY)) {
            PGStatement pgStatement = ps.unwrap(PGStatement.class);
            for (int run = 1; run <= EXECUTIONS; run++) {
                int id = run;  // ids 1..10: film k and k+5 share rental_rate and last_update
                boolean serverPrepareBefore = pgStatement.isUseServerPrepare();
                ps.setInt(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        throw new CheckFailed("execution " + run + ": no row for film " + id);
                    }
                    Timestamp lastUpdate = rs.getTimestamp(4);
                    BigDecimal rate = rs.getBigDecimal(3);
                    Map<String, Object> execution = map(
                        "run", run,
                        "id", id,
                        "server_prepare_before", serverPrepareBefore,
                        "formats", formats(rs),
                        "film_id", rs.getInt(1),
                        "title", rs.getString(2),
                        "rental_rate", rate.toPlainString(),
                        "rental_rate_string", rs.getString(3),
                        "last_update_micros", micros(lastUpdate.toInstant()),
                        "last_update", lastUpdate.toInstant().toString());
                    if (rs.next()) {
                        throw new CheckFailed("execution " + run + ": more than one row");
                    }
                    executions.add(execution);
                }
            }
            emit(map("data", "prepared_film", "executions", executions));
            // What pgjdbc itself reports: it decided to use a server-side statement.
            expectEquals("isUseServerPrepare after the loop", true,
                pgStatement.isUseServerPrepare());
        }
        for (Map<String, Object> execution : executions) {
            int run = (Integer) execution.get("run");
            int id = (Integer) execution.get("id");
            expectEquals("run " + run + " film_id", id, execution.get("film_id"));
            expectEquals("run " + run + " title", "Film " + id, execution.get("title"));
            expectEquals("run " + run + " rental_rate as string", execution.get("rental_rate"),
                execution.get("rental_rate_string"));
            @SuppressWarnings("unchecked")
            List<Integer> formats = (List<Integer>) execution.get("formats");
            if (run <= 4) {
                expectEquals("run " + run + " result formats (text)", List.of(0, 0, 0, 0), formats);
            }
            if (run > 5) {
                // int4 and timestamptz are in pgjdbc's default binary set; text never is.
                expectEquals("run " + run + " film_id format (binary)", 1, formats.get(0));
                expectEquals("run " + run + " title format (text)", 0, formats.get(1));
                expectEquals("run " + run + " last_update format (binary)", 1, formats.get(3));
                // Binary rows must decode to what the text rows said: same rate as film k-5,
                // same timestamp as every film.
                Map<String, Object> textRun = executions.get(run - 6);
                expectEquals("run " + run + " rental_rate vs run " + (run - 5),
                    textRun.get("rental_rate"), execution.get("rental_rate"));
                expectEquals("run " + run + " last_update vs run " + (run - 5),
                    textRun.get("last_update_micros"), execution.get("last_update_micros"));
            }
        }
        return "formats per run: " + executions.stream().map(e -> e.get("formats")).toList();
    }

    /** The named statement really exists on the backend session behind this connection. */
    static String checkServerStatement(Connection conn) throws SQLException {
        List<String> found = new ArrayList<>();
        try (Statement st = conn.createStatement();
             ResultSet rs = st.executeQuery(
                 "select name, statement, parameter_types::text from pg_prepared_statements"
                 + " where not from_sql order by name")) {
            while (rs.next()) {
                found.add(rs.getString(1) + " | " + rs.getString(2) + " | " + rs.getString(3));
            }
        }
        String expected = FILM_QUERY.replace("?", "$1");
        for (String row : found) {
            if (row.startsWith("S_") && row.contains("| " + expected + " |")
                    && row.endsWith("{integer}")) {
                return row;
            }
        }
        throw new CheckFailed("no named statement for the film query in " + found);
    }

    /** Every column type of `typed`, text (runs 1-4) against binary (later runs). */
    static String checkPreparedTyped(Connection conn) throws SQLException {
        Map<Integer, List<String>> firstSeen = new LinkedHashMap<>();
        Map<Integer, List<Integer>> lastFormats = new LinkedHashMap<>();
        List<Map<String, Object>> rows = new ArrayList<>();
        try (PreparedStatement ps = conn.prepareStatement(TYPED_QUERY)) {
            for (int run = 0; run < 12; run++) {
                int id = 1 + run % 3;
                ps.setInt(1, id);
                try (ResultSet rs = ps.executeQuery()) {
                    if (!rs.next()) {
                        throw new CheckFailed("no row for typed " + id);
                    }
                    List<String> values = new ArrayList<>();
                    for (int col = 1; col <= rs.getMetaData().getColumnCount(); col++) {
                        values.add(canonical(rs.getObject(col)));
                    }
                    List<Integer> formats = formats(rs);
                    List<String> earlier = firstSeen.putIfAbsent(id, values);
                    if (earlier != null && !earlier.equals(values)) {
                        throw new CheckFailed("typed " + id + " run " + (run + 1) + " formats "
                            + formats + " gave " + values + ", first run gave " + earlier);
                    }
                    lastFormats.put(id, formats);
                    if (run >= 9) {
                        rows.add(map("id", id, "formats", formats, "values", values));
                    }
                }
            }
        }
        emit(map("data", "prepared_typed", "rows", rows));
        if (!lastFormats.get(1).contains(1)) {
            throw new CheckFailed("no binary column in the last runs: " + lastFormats);
        }
        return "last formats " + lastFormats;
    }

    interface Attempt {
        void run(Connection conn) throws SQLException;
    }

    /** The attempt must fail with SQLSTATE 25006 and leave the connection usable. */
    static String refused(Connection conn, String what, Attempt attempt) throws SQLException {
        String outcome;
        try {
            attempt.run(conn);
            throw new CheckFailed(what + " succeeded");
        } catch (SQLException e) {
            SQLException first = e;
            // executeBatch wraps the server's error in a BatchUpdateException.
            if (e.getNextException() != null && !"25006".equals(e.getSQLState())) {
                first = e.getNextException();
            }
            if (!"25006".equals(first.getSQLState())) {
                throw new CheckFailed(what + ": expected SQLSTATE 25006, got " + describe(e));
            }
            outcome = describe(first);
        }
        expectEquals("select 1 after " + what, 1, scalar(conn, "select 1"));
        return outcome;
    }

    static String checkTransaction(Connection conn) throws SQLException {
        conn.setAutoCommit(false);
        try {
            Object first = scalar(conn, "select now()::text");
            expectEquals("count", 1000L, scalar(conn, "select count(*) from film"));
            expectEquals("rating of film 3", "R",
                scalar(conn, "select rating from film where film_id = 3"));
            // now() is the transaction's start time: equal only if both ran in one transaction.
            expectEquals("now() inside one transaction", first, scalar(conn, "select now()::text"));
            conn.commit();
            Object afterCommit = scalar(conn, "select now()::text");
            conn.rollback();
            return "now() " + first + ", next transaction " + afterCommit;
        } finally {
            conn.setAutoCommit(true);
        }
    }

    /** A refused write inside a transaction aborts it, as PostgreSQL would; rollback recovers. */
    static String checkFailedTransaction(Connection conn) throws SQLException {
        conn.setAutoCommit(false);
        try {
            expectEquals("select in transaction", 1, scalar(conn, "select 1"));
            try (Statement st = conn.createStatement()) {
                st.executeUpdate("update film set rating = 'X'");
                throw new CheckFailed("update succeeded");
            } catch (SQLException e) {
                expectEquals("update SQLSTATE", "25006", e.getSQLState());
            }
            try {
                scalar(conn, "select 2");
                throw new CheckFailed("select after a failed statement succeeded");
            } catch (SQLException e) {
                expectEquals("select in aborted transaction", "25P02", e.getSQLState());
            }
            conn.rollback();
            expectEquals("select after rollback", 3, scalar(conn, "select 3"));
            conn.commit();
            return "25006, then 25P02, then rollback";
        } finally {
            conn.setAutoCommit(true);
        }
    }

    /** setReadOnly(true) with autocommit off makes pgjdbc open transactions with BEGIN READ ONLY. */
    static String checkReadOnly(Connection conn) throws SQLException {
        conn.setReadOnly(true);
        expectEquals("isReadOnly", true, conn.isReadOnly());
        conn.setAutoCommit(false);
        try {
            expectEquals("transaction_read_only", "on",
                scalar(conn, "select current_setting('transaction_read_only')"));
            expectEquals("count in read-only transaction", 200L,
                scalar(conn, "select count(*) from actor"));
            conn.commit();
        } finally {
            conn.setAutoCommit(true);
            conn.setReadOnly(false);
        }
        expectEquals("isReadOnly after reset", false, conn.isReadOnly());
        expectEquals("select after read-only", 1, scalar(conn, "select 1"));
        return "BEGIN READ ONLY transaction committed; back to read-write mode";
    }

    static String checkIsolation(Connection conn) throws SQLException {
        int before = conn.getTransactionIsolation();
        conn.setTransactionIsolation(Connection.TRANSACTION_SERIALIZABLE);
        conn.setAutoCommit(false);
        try {
            expectEquals("transaction_isolation", "serializable",
                scalar(conn, "select current_setting('transaction_isolation')"));
            conn.commit();
        } finally {
            conn.setAutoCommit(true);
            conn.setTransactionIsolation(before);
        }
        return "serializable, then back to " + before;
    }

    /** readOnlyMode=always sends SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY. */
    static String checkReadOnlyModeAlways(String url, Properties base) throws SQLException {
        Properties props = new Properties();
        props.putAll(base);
        props.setProperty("readOnlyMode", "always");
        try (Connection conn = DriverManager.getConnection(url, props)) {
            conn.setReadOnly(true);
            expectEquals("transaction_read_only", "on",
                scalar(conn, "select current_setting('transaction_read_only')"));
            // Going back to read-write asks the server for READ WRITE, which the gateway
            // refuses; reported for information, not checked.
            String back;
            try {
                conn.setReadOnly(false);
                back = "setReadOnly(false) accepted";
            } catch (SQLException e) {
                back = "setReadOnly(false) refused: " + describe(e);
            }
            emit(map("data", "read_only_mode_always", "set_read_only_false", back));
            expectEquals("select after setReadOnly(false)", 1, scalar(conn, "select 1"));
            return back;
        }
    }

    // --- helpers --------------------------------------------------------------------------

    static void check(String name, Body body) {
        try {
            report(name, true, body.run());
        } catch (CheckFailed e) {
            report(name, false, e.getMessage());
        } catch (SQLException e) {
            report(name, false, describe(e));
        } catch (Exception e) {
            report(name, false, e.toString());
        }
    }

    static void report(String name, boolean ok, String detail) {
        allOk &= ok;
        emit(map("check", name, "ok", ok, "detail", detail));
    }

    static String describe(SQLException e) {
        return "SQLState " + e.getSQLState() + ": " + e.getMessage();
    }

    static void expectEquals(String what, Object expected, Object actual) {
        if (!Objects.equals(expected, actual)) {
            throw new CheckFailed(what + ": expected " + expected + ", got " + actual);
        }
    }

    static Object scalar(Connection conn, String sql) throws SQLException {
        try (Statement st = conn.createStatement(); ResultSet rs = st.executeQuery(sql)) {
            if (!rs.next()) {
                throw new CheckFailed(sql + ": no row");
            }
            return rs.getObject(1);
        }
    }

    /** Per column: 0 when the backend sent text, 1 when it sent binary. */
    static List<Integer> formats(ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        PGResultSetMetaData pgmd = md.unwrap(PGResultSetMetaData.class);
        List<Integer> formats = new ArrayList<>();
        for (int col = 1; col <= md.getColumnCount(); col++) {
            formats.add(pgmd.getFormat(col));
        }
        return formats;
    }

    static long micros(Instant instant) {
        return instant.getEpochSecond() * 1_000_000L + instant.getNano() / 1_000;
    }

    /** A representation that does not depend on the transfer format. */
    static String canonical(Object value) throws SQLException {
        if (value == null) {
            return null;
        }
        if (value instanceof BigDecimal decimal) {
            return decimal.toPlainString();
        }
        if (value instanceof Timestamp ts) {
            return "micros:" + micros(ts.toInstant());
        }
        if (value instanceof byte[] bytes) {
            return "\\x" + HexFormat.of().formatHex(bytes);
        }
        if (value instanceof Array array) {
            return Arrays.deepToString((Object[]) array.getArray());
        }
        if (value instanceof PGobject object) {
            return object.getType() + ":" + object.getValue();
        }
        return value.getClass().getSimpleName() + ":" + value;
    }

    // --- JSON output ----------------------------------------------------------------------

    static Map<String, Object> map(Object... pairs) {
        Map<String, Object> result = new LinkedHashMap<>();
        for (int i = 0; i < pairs.length; i += 2) {
            result.put((String) pairs[i], pairs[i + 1]);
        }
        return result;
    }

    static void emit(Map<String, Object> record) {
        StringBuilder out = new StringBuilder();
        json(out, record);
        System.out.println(out);
        System.out.flush();
    }

    static void json(StringBuilder out, Object value) {
        if (value == null) {
            out.append("null");
        } else if (value instanceof Boolean || value instanceof Integer || value instanceof Long) {
            out.append(value);
        } else if (value instanceof Map<?, ?> m) {
            out.append('{');
            boolean first = true;
            for (Map.Entry<?, ?> entry : m.entrySet()) {
                if (!first) {
                    out.append(',');
                }
                first = false;
                json(out, String.valueOf(entry.getKey()));
                out.append(':');
                json(out, entry.getValue());
            }
            out.append('}');
        } else if (value instanceof List<?> list) {
            out.append('[');
            for (int i = 0; i < list.size(); i++) {
                if (i > 0) {
                    out.append(',');
                }
                json(out, list.get(i));
            }
            out.append(']');
        } else {
            String s = value.toString();
            out.append('"');
            for (int i = 0; i < s.length(); i++) {
                char c = s.charAt(i);
                switch (c) {
                    case '"' -> out.append("\\\"");
                    case '\\' -> out.append("\\\\");
                    case '\n' -> out.append("\\n");
                    case '\r' -> out.append("\\r");
                    case '\t' -> out.append("\\t");
                    default -> {
                        if (c < 0x20) {
                            out.append(String.format("\\u%04x", (int) c));
                        } else {
                            out.append(c);
                        }
                    }
                }
            }
            out.append('"');
        }
    }
}
