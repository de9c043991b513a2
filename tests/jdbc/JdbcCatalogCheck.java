// pgjdbc against a MetaHog gateway whose source is ClickHouse: DatabaseMetaData (answered by the
// shadow catalog, a real PostgreSQL database), a PreparedStatement that pgjdbc turns into a named
// server-side statement with binary results, and a fetch-size query (Execute with a row count,
// PortalSuspended) translated to ClickHouse.
//
// Run in Java 17 source-launcher mode (no javac step):
//   java -Duser.timezone=UTC -cp postgresql.jar tests/jdbc/JdbcCatalogCheck.java URL USER PASSWORD
//
// Output: one JSON object per line, for tests/test_clickhouse_clients.py, which asserts on them.
//   {"check": NAME, "ok": true|false, "detail": TEXT}   one per step: did it run without error
//   {"data": NAME, ...}                                 what the step read
//   {"done": true}                                      last line: the program ran to its end
// The program asserts little itself: the Python side compares the values with the source's
// data and the shadow catalog, so a wrong value shows up there with its context.

import java.lang.reflect.Field;
import java.math.BigDecimal;
import java.sql.Connection;
import java.sql.DatabaseMetaData;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.ResultSetMetaData;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.postgresql.PGConnection;
import org.postgresql.PGResultSetMetaData;
import org.postgresql.PGStatement;

public class JdbcCatalogCheck {
    static final String PERSONS_QUERY =
        "select id, email, amount from persons where id >= ? order by id";
    static final String FETCH_QUERY = "select x from big where x < 95 order by x";
    static final int EXECUTIONS = 6;
    static final int FETCH_SIZE = 10;

    interface Body {
        String run() throws Exception;
    }

    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: JdbcCatalogCheck URL USER PASSWORD");
            System.exit(2);
        }
        Properties props = new Properties();
        props.setProperty("user", args[1]);
        props.setProperty("password", args[2]);
        props.setProperty("connectTimeout", "10");
        props.setProperty("socketTimeout", "60");

        Connection conn;
        try {
            conn = DriverManager.getConnection(args[0], props);
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
            check("schemas", () -> schemas(meta));
            check("tables", () -> tables(meta));
            check("columns", () -> columns(meta));
            check("primary_keys", () -> primaryKeys(meta));
            check("type_info", () -> typeInfo(meta));
            check("prepared", () -> prepared(conn));
            check("fetch_size", () -> fetchSize(conn));
            // After the cursor-mode transaction the session must still answer plain queries.
            check("still_usable", () -> stillUsable(conn));
        }
        emit(map("done", true));
    }

    // --- DatabaseMetaData -----------------------------------------------------------------

    static String schemas(DatabaseMetaData meta) throws SQLException {
        List<String> names = new ArrayList<>();
        try (ResultSet rs = meta.getSchemas()) {
            while (rs.next()) {
                names.add(rs.getString("TABLE_SCHEM"));
            }
        }
        emit(map("data", "schemas", "names", names));
        return names.toString();
    }

    static String tables(DatabaseMetaData meta) throws SQLException {
        List<Map<String, Object>> tables = new ArrayList<>();
        try (ResultSet rs = meta.getTables(null, "public", "%", new String[] {"TABLE"})) {
            while (rs.next()) {
                tables.add(map(
                    "schema", rs.getString("TABLE_SCHEM"),
                    "name", rs.getString("TABLE_NAME"),
                    "type", rs.getString("TABLE_TYPE")));
            }
        }
        emit(map("data", "tables", "tables", tables));
        return tables.size() + " tables";
    }

    static String columns(DatabaseMetaData meta) throws SQLException {
        List<Map<String, Object>> columns = new ArrayList<>();
        try (ResultSet rs = meta.getColumns(null, "public", "persons", "%")) {
            while (rs.next()) {
                columns.add(map(
                    "name", rs.getString("COLUMN_NAME"),
                    "type_name", rs.getString("TYPE_NAME"),
                    "data_type", rs.getInt("DATA_TYPE"),
                    "column_size", rs.getInt("COLUMN_SIZE"),
                    "decimal_digits", rs.getObject("DECIMAL_DIGITS") == null
                        ? null : rs.getInt("DECIMAL_DIGITS"),
                    "nullable", rs.getInt("NULLABLE"),
                    "is_nullable", rs.getString("IS_NULLABLE"),
                    "ordinal", rs.getInt("ORDINAL_POSITION"),
                    "remarks", rs.getString("REMARKS")));
            }
        }
        emit(map("data", "columns", "columns", columns));
        return columns.size() + " columns";
    }

    static String primaryKeys(DatabaseMetaData meta) throws SQLException {
        List<String> keys = new ArrayList<>();
        try (ResultSet rs = meta.getPrimaryKeys(null, "public", "persons")) {
            while (rs.next()) {
                keys.add(rs.getShort("KEY_SEQ") + ":" + rs.getString("COLUMN_NAME"));
            }
        }
        emit(map("data", "primary_keys", "keys", keys));
        return keys.toString();
    }

    static String typeInfo(DatabaseMetaData meta) throws SQLException {
        List<Map<String, Object>> types = new ArrayList<>();
        try (ResultSet rs = meta.getTypeInfo()) {
            while (rs.next()) {
                types.add(map("name", rs.getString("TYPE_NAME"),
                    "data_type", rs.getInt("DATA_TYPE")));
            }
        }
        emit(map("data", "type_info", "types", types));
        return types.size() + " types";
    }

    // --- data -----------------------------------------------------------------------------

    /**
     * pgjdbc's default prepareThreshold is 5: the first four executions use the unnamed
     * statement and text results; from the fifth on it parses a named server-side statement,
     * describes it and asks for binary results for the types in its binary set (int8 here).
     */
    static String prepared(Connection conn) throws SQLException {
        List<Map<String, Object>> executions = new ArrayList<>();
        int threshold = conn.unwrap(PGConnection.class).getPrepareThreshold();
        try (PreparedStatement ps = conn.prepareStatement(PERSONS_QUERY)) {
            PGStatement pgStatement = ps.unwrap(PGStatement.class);
            for (int run = 1; run <= EXECUTIONS; run++) {
                int from = 1 + run % 3;  // 2, 3, 1, 2, 3, 1: different bound values each run
                boolean serverPrepareBefore = pgStatement.isUseServerPrepare();
                ps.setInt(1, from);
                List<List<Object>> rows = new ArrayList<>();
                List<Integer> formats;
                try (ResultSet rs = ps.executeQuery()) {
                    formats = formats(rs);
                    while (rs.next()) {
                        BigDecimal amount = rs.getBigDecimal(3);
                        List<Object> row = new ArrayList<>();
                        row.add(rs.getLong(1));
                        row.add(rs.getString(2));
                        row.add(amount == null ? null : amount.toPlainString());
                        rows.add(row);
                    }
                }
                executions.add(map(
                    "run", run,
                    "from", from,
                    "server_prepare_before", serverPrepareBefore,
                    "formats", formats,
                    "rows", rows));
            }
            emit(map("data", "prepared", "threshold", threshold, "executions", executions,
                "server_prepare_after", pgStatement.isUseServerPrepare()));
        }
        return executions.size() + " executions";
    }

    /**
     * With autocommit off and a fetch size, pgjdbc binds a named portal and sends Execute with
     * a row count of FETCH_SIZE; the server answers each batch with PortalSuspended and pgjdbc
     * sends the next Execute when the batch is used up.
     */
    static String fetchSize(Connection conn) throws Exception {
        conn.setAutoCommit(false);
        List<Long> values = new ArrayList<>();
        List<Integer> batchSizes = new ArrayList<>();
        try (Statement st = conn.createStatement()) {
            st.setFetchSize(FETCH_SIZE);
            try (ResultSet rs = st.executeQuery(FETCH_QUERY)) {
                while (rs.next()) {
                    // At the first row of each batch, the rows pgjdbc holds in memory: the size
                    // of the batch the server sent for one Execute.
                    if (values.size() % FETCH_SIZE == 0) {
                        batchSizes.add(bufferedRows(rs));
                    }
                    values.add(rs.getLong(1));
                }
            }
            conn.commit();
        } finally {
            conn.setAutoCommit(true);
        }
        emit(map("data", "fetch_size", "values", values, "batch_sizes", batchSizes));
        return values.size() + " rows in batches " + batchSizes;
    }

    /** PgResultSet's buffered rows (a protected field: no public API exposes the batch). */
    static Integer bufferedRows(ResultSet rs) throws Exception {
        Class<?> type = rs.getClass();
        while (type != null) {
            try {
                Field field = type.getDeclaredField("rows");
                field.setAccessible(true);
                Object rows = field.get(rs);
                return rows instanceof List<?> list ? list.size() : null;
            } catch (NoSuchFieldException e) {
                type = type.getSuperclass();
            }
        }
        return null;
    }

    static String stillUsable(Connection conn) throws SQLException {
        try (Statement st = conn.createStatement();
             ResultSet rs = st.executeQuery("select count(*) from persons")) {
            rs.next();
            long count = rs.getLong(1);
            emit(map("data", "still_usable", "count", count));
            return "count " + count;
        }
    }

    // --- helpers --------------------------------------------------------------------------

    static void check(String name, Body body) {
        try {
            report(name, true, body.run());
        } catch (SQLException e) {
            report(name, false, describe(e));
        } catch (Exception e) {
            report(name, false, e.toString());
        }
    }

    static void report(String name, boolean ok, String detail) {
        emit(map("check", name, "ok", ok, "detail", detail));
    }

    static String describe(SQLException e) {
        return "SQLState " + e.getSQLState() + ": " + e.getMessage();
    }

    /** Per column: 0 when the server sent text, 1 when it sent binary. */
    static List<Integer> formats(ResultSet rs) throws SQLException {
        ResultSetMetaData md = rs.getMetaData();
        PGResultSetMetaData pgmd = md.unwrap(PGResultSetMetaData.class);
        List<Integer> formats = new ArrayList<>();
        for (int col = 1; col <= md.getColumnCount(); col++) {
            formats.add(pgmd.getFormat(col));
        }
        return formats;
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
        } else if (value instanceof Boolean || value instanceof Integer || value instanceof Long
                || value instanceof Short) {
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
