"""Analytical PostgreSQL queries over the differential dataset (tests/differential/dataset.py),
written the way analysts and BI tools write them: Metabase's quoted, schema-qualified names,
Tableau's `GROUP BY 1` and cast-heavy date handling, Power BI's nested `"_"` subqueries, and
hand-written CTEs.

Every query has a stable id and a total ORDER BY, so that its rows come back in one order on
every engine and can be compared row by row. Output values are chosen to be comparable as text:
averages and other numeric results with data-dependent scale are rounded, as reports round them.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Query:
    id: str
    sql: str


def _q(id: str, sql: str) -> Query:
    return Query(id, " ".join(sql.split()))


QUERIES: tuple[Query, ...] = (
    # ------------------------------------------------------------------ counts and grouping
    _q("count_all", "SELECT count(*) FROM orders"),
    _q(
        "count_by_status",
        "SELECT status, count(*) AS n FROM orders GROUP BY status ORDER BY status",
    ),
    _q(
        "metabase_count_by_status",
        'SELECT "public"."orders"."status" AS "status", count(*) AS "count" FROM "public"."orders"'
        ' GROUP BY "public"."orders"."status" ORDER BY "public"."orders"."status" ASC',
    ),
    _q(
        "tableau_group_ordinal",
        'SELECT "orders"."status" AS "status", SUM("orders"."quantity") AS "sum:quantity:ok"'
        ' FROM "public"."orders" "orders" GROUP BY 1 ORDER BY 1',
    ),
    _q("count_distinct_users", "SELECT count(DISTINCT distinct_id) FROM events"),
    _q(
        "count_distinct_by_event",
        "SELECT event, count(DISTINCT distinct_id) AS users, count(*) AS events FROM events"
        " GROUP BY event ORDER BY event",
    ),
    _q(
        "having_count",
        "SELECT distinct_id, count(*) FROM orders GROUP BY distinct_id HAVING count(*) >= 12"
        " ORDER BY count(*) DESC, distinct_id",
    ),
    _q(
        "group_two_keys",
        "SELECT status, is_gift, count(*), sum(quantity) FROM orders GROUP BY status, is_gift"
        " ORDER BY status, is_gift",
    ),
    _q(
        "order_by_count_desc_limit",
        "SELECT event, count(*) AS c FROM events GROUP BY event ORDER BY c DESC, event LIMIT 3",
    ),
    _q(
        "limit_offset",
        "SELECT order_id, amount FROM orders ORDER BY amount DESC, order_id LIMIT 10 OFFSET 5",
    ),
    _q("select_star_limit", "SELECT * FROM orders ORDER BY order_id LIMIT 20"),
    _q("persons_star", "SELECT * FROM persons ORDER BY id LIMIT 25"),
    # ------------------------------------------------------------------ arithmetic and numbers
    _q(
        "integer_division",
        "SELECT order_id, quantity / 3 AS thirds, quantity % 3 AS rest FROM orders"
        " ORDER BY order_id LIMIT 30",
    ),
    _q(
        "integer_division_aggregates",
        "SELECT status, sum(quantity) / count(*) AS avg_units FROM orders GROUP BY status"
        " ORDER BY status",
    ),
    _q("sum_numeric", "SELECT sum(amount) FROM orders"),
    _q(
        "sum_numeric_by_month",
        "SELECT date_trunc('month', order_date) AS month, sum(amount) AS revenue FROM orders"
        " GROUP BY 1 ORDER BY 1",
    ),
    _q("avg_rounded", "SELECT round(avg(amount), 2) FROM orders"),
    _q(
        "avg_rounded_by_status",
        "SELECT status, round(avg(quantity), 3) AS q, round(avg(amount), 2) AS a FROM orders"
        " GROUP BY status ORDER BY status",
    ),
    _q("avg_unrounded", "SELECT avg(quantity) FROM orders"),
    _q("avg_float", "SELECT avg(discount) FROM orders"),
    _q(
        "min_max",
        "SELECT min(amount), max(amount), min(order_date), max(order_date), min(status),"
        " max(status) FROM orders",
    ),
    _q(
        "sum_empty_is_null",
        "SELECT sum(amount), max(quantity), avg(quantity) FROM orders WHERE status = 'nope'",
    ),
    _q("count_empty_is_zero", "SELECT count(*), count(discount) FROM orders WHERE order_id < 0"),
    _q(
        "numeric_times_int",
        "SELECT order_id, amount * quantity AS total FROM orders ORDER BY total DESC, order_id"
        " LIMIT 15",
    ),
    _q(
        "numeric_division_rounded",
        "SELECT status, round(sum(amount) / count(*), 2) AS per_order FROM orders GROUP BY status"
        " ORDER BY status",
    ),
    _q(
        "cast_to_int_rounds",
        "SELECT order_id, amount::int AS a, (amount / 7)::integer AS b FROM orders"
        " ORDER BY order_id LIMIT 40",
    ),
    _q(
        "float_cast_int",
        "SELECT order_id, (discount * 10)::int AS d FROM orders WHERE discount IS NOT NULL"
        " ORDER BY order_id LIMIT 40",
    ),
    _q(
        "round_numeric_half_away",
        "SELECT order_id, round(amount, 1) AS r1, round(amount) AS r0 FROM orders"
        " ORDER BY order_id LIMIT 40",
    ),
    _q(
        "cast_numeric_scale",
        "SELECT order_id, CAST(amount AS numeric(12, 1)) AS a FROM orders ORDER BY order_id"
        " LIMIT 30",
    ),
    _q(
        "discount_value",
        "SELECT order_id, round((amount * (1 - discount))::numeric, 2) AS net FROM orders"
        " WHERE discount IS NOT NULL ORDER BY order_id LIMIT 30",
    ),
    _q(
        "float_arithmetic",
        "SELECT order_id, discount * 2 AS d2 FROM orders ORDER BY order_id LIMIT 30",
    ),
    _q(
        "stddev_rounded",
        "SELECT status, round(stddev(amount), 2) AS sd FROM orders GROUP BY status ORDER BY status",
    ),
    _q(
        "percentile_cont",
        "SELECT status, percentile_cont(0.5) WITHIN GROUP (ORDER BY quantity) AS median"
        " FROM orders GROUP BY status ORDER BY status",
    ),
    _q(
        "percentile_disc",
        "SELECT status, percentile_disc(0.9) WITHIN GROUP (ORDER BY amount) AS p90"
        " FROM orders GROUP BY status ORDER BY status",
    ),
    _q(
        "greatest_least",
        "SELECT order_id, greatest(quantity, 5), least(quantity, 5) FROM orders"
        " ORDER BY order_id LIMIT 20",
    ),
    _q("abs_negative", "SELECT order_id, abs(5 - quantity) FROM orders ORDER BY order_id LIMIT 20"),
    # ------------------------------------------------------------------ NULLs and ordering
    _q(
        "order_nulls_default_asc",
        "SELECT order_id, discount FROM orders ORDER BY discount, order_id LIMIT 50",
    ),
    _q(
        "order_nulls_default_desc",
        "SELECT order_id, discount FROM orders ORDER BY discount DESC, order_id LIMIT 50",
    ),
    _q(
        "order_nulls_first_asc",
        "SELECT order_id, discount FROM orders ORDER BY discount ASC NULLS FIRST, order_id"
        " LIMIT 50",
    ),
    _q(
        "order_nulls_last_desc",
        "SELECT order_id, discount FROM orders ORDER BY discount DESC NULLS LAST, order_id"
        " LIMIT 50",
    ),
    _q(
        "order_email_nulls",
        "SELECT id, email FROM persons ORDER BY email DESC, id LIMIT 60",
    ),
    _q("coalesce_email", "SELECT id, coalesce(email, 'unknown') FROM persons ORDER BY id LIMIT 60"),
    _q(
        "nullif_status",
        "SELECT order_id, nullif(status, 'paid') FROM orders ORDER BY order_id LIMIT 40",
    ),
    _q("is_null_count", "SELECT count(*) FROM persons WHERE email IS NULL"),
    _q(
        "case_when_buckets",
        "SELECT CASE WHEN amount < 100 THEN 'small' WHEN amount < 500 THEN 'medium'"
        " ELSE 'large' END AS bucket, count(*) FROM orders GROUP BY 1 ORDER BY 1",
    ),
    _q(
        "case_without_else",
        "SELECT order_id, CASE status WHEN 'paid' THEN 1 WHEN 'shipped' THEN 2 END AS code"
        " FROM orders ORDER BY order_id LIMIT 40",
    ),
    _q(
        "concat_with_null",
        "SELECT id, 'mail: ' || email AS m FROM persons ORDER BY id LIMIT 40",
    ),
    _q(
        "concat_function",
        "SELECT id, concat(distinct_id, '/', email) FROM persons ORDER BY id LIMIT 40",
    ),
    # ------------------------------------------------------------------ strings
    _q(
        "lower_upper",
        "SELECT id, lower(email), upper(distinct_id) FROM persons ORDER BY id LIMIT 40",
    ),
    _q("length_email", "SELECT id, length(email) FROM persons ORDER BY id LIMIT 40"),
    _q(
        "substring_from_for",
        "SELECT id, substring(distinct_id from 6 for 2) FROM persons ORDER BY id LIMIT 30",
    ),
    _q(
        "substring_zero",
        "SELECT id, substring(distinct_id, 0, 3) FROM persons ORDER BY id LIMIT 10",
    ),
    _q("position_at", "SELECT id, position('@' in email) FROM persons ORDER BY id LIMIT 40"),
    _q(
        "split_part_domain",
        "SELECT split_part(email, '@', 2) AS domain, count(*) FROM persons GROUP BY 1"
        " ORDER BY 1 NULLS FIRST",
    ),
    _q(
        "left_right",
        "SELECT id, left(distinct_id, 4), right(distinct_id, 2), left(distinct_id, -2)"
        " FROM persons ORDER BY id LIMIT 20",
    ),
    _q(
        "trim_replace",
        "SELECT id, trim('  ' || distinct_id || '  '), replace(distinct_id,"
        " 'user_', 'u-') FROM persons ORDER BY id LIMIT 20",
    ),
    _q("like_prefix", "SELECT count(*) FROM events WHERE distinct_id LIKE 'anon%'"),
    _q("like_underscore_escape", "SELECT count(*) FROM events WHERE distinct_id LIKE 'user\\_00%'"),
    _q(
        "like_custom_escape",
        "SELECT count(*) FROM events WHERE distinct_id LIKE 'user!_01%' ESCAPE '!'",
    ),
    _q("ilike_email", "SELECT id, email FROM persons WHERE email ILIKE 'USER_01%' ORDER BY id"),
    _q("not_like", "SELECT count(*) FROM persons WHERE email NOT LIKE '%@example.com'"),
    _q(
        "string_comparison",
        "SELECT count(*) FROM events WHERE properties->>'$current_url' > 'https://shop.example.com/P'",
    ),
    _q(
        "order_by_text_bytewise",
        "SELECT DISTINCT properties->>'$current_url' AS url FROM events ORDER BY url",
    ),
    _q("in_list", "SELECT count(*) FROM orders WHERE status IN ('paid', 'shipped')"),
    _q(
        "between_dates",
        "SELECT count(*) FROM orders WHERE order_date BETWEEN '2024-02-01' AND '2024-02-29'",
    ),
    _q(
        "cast_to_text",
        "SELECT order_id, amount::text, order_date::text, quantity::varchar"
        " FROM orders ORDER BY order_id LIMIT 20",
    ),
    _q("cast_timestamp_text", "SELECT id, created_at::text FROM persons ORDER BY id LIMIT 20"),
    _q("bool_to_text", "SELECT order_id, is_gift::text FROM orders ORDER BY order_id LIMIT 20"),
    # ------------------------------------------------------------------ booleans
    _q(
        "boolean_projection",
        "SELECT order_id, amount > 500 AS big, is_gift FROM orders ORDER BY order_id LIMIT 30",
    ),
    _q("boolean_where", "SELECT count(*) FROM orders WHERE is_gift"),
    _q("boolean_not", "SELECT count(*) FROM orders WHERE NOT is_gift AND quantity > 5"),
    _q(
        "bool_and_or",
        "SELECT status, bool_and(quantity > 0), bool_or(is_gift) FROM orders GROUP BY status"
        " ORDER BY status",
    ),
    _q(
        "count_filter",
        "SELECT status, count(*) FILTER (WHERE is_gift) AS gifts, sum(amount) FILTER"
        " (WHERE quantity > 5) AS big FROM orders GROUP BY status ORDER BY status",
    ),
    _q(
        "filter_empty_sum",
        "SELECT sum(amount) FILTER (WHERE quantity > 100) FROM orders",
    ),
    # ------------------------------------------------------------------ dates and times
    _q(
        "events_per_day",
        "SELECT date_trunc('day', timestamp) AS day, count(*) FROM events GROUP BY 1 ORDER BY 1"
        " LIMIT 30",
    ),
    _q(
        "events_per_week_monday",
        "SELECT date_trunc('week', timestamp) AS week, count(*) FROM events GROUP BY 1 ORDER BY 1",
    ),
    _q(
        "events_per_month",
        "SELECT date_trunc('month', timestamp), count(*) FROM events GROUP BY 1 ORDER BY 1",
    ),
    _q(
        "orders_per_quarter",
        "SELECT date_trunc('quarter', order_date) AS q, count(*) FROM orders GROUP BY 1 ORDER BY 1",
    ),
    _q(
        "events_per_hour",
        "SELECT date_trunc('hour', timestamp), count(*) FROM events GROUP BY 1"
        " ORDER BY 2 DESC, 1 LIMIT 10",
    ),
    _q(
        "extract_dow",
        "SELECT extract(dow FROM timestamp) AS dow, count(*) FROM events GROUP BY 1 ORDER BY 1",
    ),
    _q(
        "extract_isodow",
        "SELECT extract(isodow FROM order_date) AS d, count(*) FROM orders GROUP BY 1 ORDER BY 1",
    ),
    _q(
        "extract_fields",
        "SELECT uuid, extract(year FROM timestamp), extract(month FROM timestamp),"
        " extract(day FROM timestamp), extract(hour FROM timestamp), extract(minute FROM"
        " timestamp), extract(doy FROM timestamp), extract(week FROM timestamp),"
        " extract(quarter FROM timestamp) FROM events ORDER BY uuid LIMIT 30",
    ),
    _q(
        "extract_epoch",
        "SELECT uuid, extract(epoch FROM timestamp) FROM events ORDER BY uuid LIMIT 20",
    ),
    _q(
        "extract_second",
        "SELECT uuid, extract(second FROM timestamp) FROM events ORDER BY uuid LIMIT 20",
    ),
    _q(
        "date_part_doy",
        "SELECT date_part('doy', order_date) AS doy, count(*) FROM orders"
        " GROUP BY 1 ORDER BY 1 LIMIT 20",
    ),
    _q(
        "date_plus_integer",
        "SELECT order_id, order_date + 7 AS due FROM orders ORDER BY order_id LIMIT 20",
    ),
    _q(
        "date_minus_date",
        "SELECT order_id, order_date - DATE '2024-01-01' AS days FROM orders ORDER BY order_id"
        " LIMIT 20",
    ),
    _q(
        "timestamp_minus_interval",
        "SELECT count(*) FROM events WHERE timestamp >= TIMESTAMPTZ '2024-06-30 00:00:00+00'"
        " - INTERVAL '7 days'",
    ),
    _q(
        "now_minus_interval",
        "SELECT count(*) FROM events WHERE timestamp < now() - interval '30 days'",
    ),
    _q("current_date_filter", "SELECT count(*) FROM orders WHERE order_date <= current_date"),
    _q(
        "timestamp_difference",
        "SELECT p.id, min(e.timestamp) - p.created_at AS first_seen_after FROM persons p JOIN"
        " events e ON e.distinct_id = p.distinct_id GROUP BY p.id, p.created_at ORDER BY p.id"
        " LIMIT 20",
    ),
    _q(
        "cast_to_date",
        "SELECT timestamp::date AS d, count(*) FROM events GROUP BY 1 ORDER BY 1 LIMIT 20",
    ),
    _q(
        "cast_string_to_date",
        "SELECT count(*) FROM orders WHERE order_date >= CAST('2024-03-01' AS date)",
    ),
    _q(
        "powerbi_date_filter",
        'select "_"."status", "_"."a0" from (select "rows"."status" as "status",'
        ' count(1) as "a0" from (select "_"."order_id", "_"."status" from "public"."orders"'
        ' "_" where "_"."order_date" >= date \'2024-02-01\' and "_"."order_date" <'
        ' date \'2024-03-01\') "rows" group by "status") "_" where not "_"."a0" is null'
        ' order by "_"."status" limit 1001',
    ),
    _q(
        "tableau_cast_timestamp_trunc",
        'SELECT CAST(DATE_TRUNC(\'MONTH\', CAST("orders"."order_date" AS DATE)) AS DATE) AS'
        ' "tmn:order_date:ok", SUM("orders"."amount") AS "sum:amount:ok" FROM "public"."orders"'
        ' "orders" GROUP BY 1 ORDER BY 1',
    ),
    # ------------------------------------------------------------------ json
    _q(
        "json_browser_counts",
        "SELECT properties->>'$browser' AS browser, count(*) FROM events GROUP BY 1"
        " ORDER BY 1 NULLS FIRST",
    ),
    _q(
        "json_missing_vs_null",
        "SELECT uuid, properties->>'utm_source' AS utm FROM events ORDER BY uuid LIMIT 40",
    ),
    _q(
        "json_number_text",
        "SELECT uuid, properties->>'price' AS price FROM events WHERE event = 'purchase'"
        " ORDER BY uuid LIMIT 40",
    ),
    _q(
        "json_price_sum",
        "SELECT round(sum((properties->>'price')::numeric), 2) FROM events WHERE event ="
        " 'purchase'",
    ),
    _q(
        "json_nested",
        "SELECT properties->'nested'->>'plan' AS plan, count(*) FROM events GROUP BY 1"
        " ORDER BY 1 NULLS FIRST",
    ),
    _q(
        "json_nested_number_cast",
        "SELECT sum((properties->'nested'->>'seats')::int) FROM events",
    ),
    _q(
        "json_arrow_scalar",
        "SELECT uuid, properties->'$browser' AS b FROM events ORDER BY uuid LIMIT 30",
    ),
    _q(
        "json_person_plan",
        "SELECT properties->>'plan' AS plan, count(*) FROM persons GROUP BY 1 ORDER BY 1"
        " NULLS LAST",
    ),
    _q(
        "json_boolean_text",
        "SELECT properties->>'beta' AS beta, count(*) FROM persons GROUP BY 1 ORDER BY 1",
    ),
    _q(
        "json_where_filter",
        "SELECT count(*) FROM events WHERE properties->>'$os' = 'Linux' AND event = '$pageview'",
    ),
    # ------------------------------------------------------------------ aggregates of text/arrays
    _q(
        "string_agg_ordered",
        "SELECT status, string_agg(DISTINCT distinct_id, ',' ORDER BY distinct_id) FROM orders"
        " WHERE order_id < 40 GROUP BY status ORDER BY status",
    ),
    _q(
        "string_agg_by_order",
        "SELECT distinct_id, string_agg(status, '|' ORDER BY order_id) FROM orders"
        " WHERE distinct_id < 'user_0010' GROUP BY distinct_id ORDER BY distinct_id",
    ),
    _q(
        "array_agg_ordered",
        "SELECT distinct_id, array_agg(order_id ORDER BY order_id) FROM orders"
        " WHERE distinct_id < 'user_0010' GROUP BY distinct_id ORDER BY distinct_id",
    ),
    _q("tags_array", "SELECT order_id, tags FROM orders ORDER BY order_id LIMIT 30"),
    _q("tags_any", "SELECT count(*) FROM orders WHERE 'vip' = ANY(tags)"),
    _q(
        "tags_unnest",
        "SELECT tag, count(*) FROM (SELECT unnest(tags) AS tag FROM orders) t GROUP BY tag"
        " ORDER BY tag",
    ),
    _q(
        "tags_cardinality",
        "SELECT cardinality(tags) AS n, count(*) FROM orders GROUP BY 1 ORDER BY 1",
    ),
    # ------------------------------------------------------------------ window functions
    _q(
        "row_number_per_user",
        "SELECT order_id, distinct_id, row_number() OVER (PARTITION BY distinct_id ORDER BY"
        " order_id) AS rn FROM orders WHERE distinct_id < 'user_0005' ORDER BY distinct_id,"
        " order_id",
    ),
    _q(
        "rank_amount",
        "SELECT order_id, rank() OVER (ORDER BY quantity DESC) AS r, dense_rank() OVER (ORDER BY"
        " quantity DESC) AS dr FROM orders ORDER BY order_id LIMIT 40",
    ),
    _q(
        "lag_lead",
        "SELECT order_id, lag(amount) OVER (ORDER BY order_id) AS prev, lead(amount, 2) OVER"
        " (ORDER BY order_id) AS next2 FROM orders WHERE order_id <= 30 ORDER BY order_id",
    ),
    _q(
        "running_total",
        "SELECT order_date, sum(amount) OVER (ORDER BY order_date) AS running FROM (SELECT"
        " order_date, sum(amount) AS amount FROM orders GROUP BY order_date) d ORDER BY"
        " order_date",
    ),
    _q(
        "share_of_total",
        "SELECT status, count(*), round(100.0 * count(*) / sum(count(*)) OVER (), 2) AS pct"
        " FROM orders GROUP BY status ORDER BY status",
    ),
    _q(
        "count_over_partition",
        "SELECT DISTINCT distinct_id, count(*) OVER (PARTITION BY distinct_id) AS n FROM orders"
        " ORDER BY n DESC, distinct_id LIMIT 20",
    ),
    # ------------------------------------------------------------------ joins, CTEs, subqueries
    _q(
        "join_orders_persons",
        "SELECT p.properties->>'plan' AS plan, count(o.order_id), sum(o.amount) FROM orders o"
        " JOIN persons p ON p.distinct_id = o.distinct_id GROUP BY 1 ORDER BY 1 NULLS FIRST",
    ),
    _q(
        "left_join_nulls",
        "SELECT e.distinct_id, p.id, p.email FROM events e LEFT JOIN persons p ON"
        " p.distinct_id = e.distinct_id WHERE e.distinct_id LIKE 'anon_00%' ORDER BY"
        " e.distinct_id, e.uuid",
    ),
    _q(
        "left_join_count_zero",
        "SELECT p.id, count(o.order_id) AS orders FROM persons p LEFT JOIN orders o ON"
        " o.distinct_id = p.distinct_id GROUP BY p.id ORDER BY orders, p.id LIMIT 20",
    ),
    _q(
        "cte_funnel",
        "WITH signups AS (SELECT distinct_id, min(timestamp) AS at FROM events WHERE event ="
        " 'signed_up' GROUP BY distinct_id), buyers AS (SELECT DISTINCT distinct_id FROM"
        " events WHERE event = 'purchase') SELECT count(*) AS signups, count(b.distinct_id)"
        " AS converted FROM signups s LEFT JOIN buyers b ON b.distinct_id = s.distinct_id",
    ),
    _q(
        "cte_monthly_revenue",
        "WITH monthly AS (SELECT date_trunc('month', order_date) AS month, sum(amount) AS"
        " revenue FROM orders WHERE status <> 'cancelled' GROUP BY 1) SELECT month, revenue,"
        " revenue - lag(revenue) OVER (ORDER BY month) AS change FROM monthly ORDER BY month",
    ),
    _q(
        "subquery_in",
        "SELECT count(*) FROM events WHERE distinct_id IN (SELECT distinct_id FROM orders WHERE"
        " amount > 900)",
    ),
    _q(
        "scalar_subquery",
        "SELECT order_id, amount - (SELECT min(amount) FROM orders) AS above_min FROM orders"
        " ORDER BY order_id LIMIT 10",
    ),
    _q(
        "exists_subquery",
        "SELECT count(*) FROM persons p WHERE EXISTS (SELECT 1 FROM orders o WHERE"
        " o.distinct_id = p.distinct_id AND o.is_gift)",
    ),
    _q(
        "derived_table_avg",
        "SELECT round(avg(n), 2) FROM (SELECT distinct_id, count(*) AS n FROM events GROUP BY"
        " distinct_id) t",
    ),
    _q(
        "distinct_on_latest",
        "SELECT DISTINCT ON (distinct_id) distinct_id, order_id, amount FROM orders"
        " ORDER BY distinct_id, order_date DESC, order_id DESC",
    ),
    _q(
        "union_all",
        "SELECT 'orders' AS kind, count(*) FROM orders UNION ALL SELECT 'events', count(*) FROM"
        " events ORDER BY 1",
    ),
    _q(
        "union_distinct",
        "SELECT distinct_id FROM orders WHERE amount > 990 UNION SELECT distinct_id FROM persons"
        " WHERE id < 5 ORDER BY 1",
    ),
    _q(
        "intersect",
        "SELECT distinct_id FROM orders WHERE is_gift INTERSECT SELECT distinct_id FROM events"
        " WHERE event = 'purchase' ORDER BY 1",
    ),
    _q(
        "except",
        "SELECT distinct_id FROM persons EXCEPT SELECT distinct_id FROM orders ORDER BY 1",
    ),
    _q("distinct_status", "SELECT DISTINCT status FROM orders ORDER BY status"),
    _q("values_list", "SELECT * FROM (VALUES (1, 'a'), (2, 'b')) AS v(id, name) ORDER BY id"),
    _q("generate_series_int", "SELECT g FROM generate_series(1, 5) AS g ORDER BY g"),
    _q(
        "uuid_filter",
        "SELECT uuid, event FROM events WHERE uuid::text LIKE '00%' ORDER BY uuid",
    ),
    # ------------------------------------------------------------------ BI-tool idioms
    _q(
        "to_char_month",
        "SELECT to_char(order_date, 'YYYY-MM') AS month, count(*) FROM orders GROUP BY 1"
        " ORDER BY 1",
    ),
    _q(
        "to_char_full_timestamp",
        "SELECT uuid, to_char(timestamp, 'YYYY-MM-DD HH24:MI:SS') FROM events ORDER BY uuid"
        " LIMIT 20",
    ),
    _q(
        "to_char_names",
        "SELECT to_char(timestamp, 'FMDay') AS weekday, to_char(timestamp, 'Mon') AS mon,"
        " count(*) FROM events GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    _q(
        "to_char_quarter_label",
        "SELECT to_char(order_date, 'YYYY\"-Q\"Q') AS quarter, sum(amount) FROM orders"
        " GROUP BY 1 ORDER BY 1",
    ),
    _q(
        "json_has_key",
        "SELECT event, count(*) FROM events WHERE properties ? 'utm_source' GROUP BY event"
        " ORDER BY event",
    ),
    _q(
        "gap_filled_days",
        "SELECT d AS day, count(o.order_id) AS orders FROM generate_series('2024-01-01'::date,"
        " '2024-01-14'::date, interval '1 day') AS d LEFT JOIN orders o ON o.order_date ="
        " d::date GROUP BY d ORDER BY d",
    ),
    _q(
        "hourly_series",
        "SELECT generate_series(timestamptz '2024-01-01 00:00:00+00', timestamptz"
        " '2024-01-02 00:00:00+00', interval '6 hours') AS h ORDER BY h",
    ),
    _q(
        "metabase_report_timezone",
        'SELECT date_trunc(\'day\', ("public"."events"."timestamp" AT TIME ZONE'
        ' \'America/New_York\')) AS "timestamp", count(*) AS "count" FROM'
        ' "public"."events" GROUP BY 1 ORDER BY 1 ASC LIMIT 10',
    ),
    _q(
        "metabase_extract_integer",
        'SELECT CAST(extract(year from "public"."orders"."order_date") AS integer) AS'
        ' "order_date", count(*) AS "count" FROM "public"."orders" GROUP BY 1'
        " ORDER BY 1 ASC",
    ),
    _q(
        "metabase_cum_sum",
        'SELECT "source"."order_date" AS "order_date", sum("source"."sum")'
        ' OVER (ORDER BY "source"."order_date" ROWS UNBOUNDED PRECEDING) AS "sum"'
        ' FROM (SELECT date_trunc(\'month\', "public"."orders"."order_date") AS'
        ' "order_date", sum("public"."orders"."quantity") AS "sum" FROM'
        ' "public"."orders" GROUP BY 1) "source" ORDER BY 1',
    ),
    _q(
        "tableau_sum_one_and_case",
        'SELECT SUM(1) AS "cnt:orders:ok", SUM((CASE WHEN "orders"."is_gift" THEN 1'
        ' ELSE 0 END)) AS "sum:gift:ok" FROM "public"."orders" "orders"',
    ),
    _q(
        "tableau_date_part",
        'SELECT CAST(DATE_PART(\'YEAR\', "orders"."order_date") AS BIGINT) AS "yr",'
        ' CAST(DATE_PART(\'MONTH\', "orders"."order_date") AS BIGINT) AS "mn",'
        ' COUNT(DISTINCT "orders"."distinct_id") AS "ctd" FROM "public"."orders"'
        ' "orders" GROUP BY 1, 2 ORDER BY 1, 2',
    ),
    _q(
        "powerbi_top_n",
        'select "_"."distinct_id", "_"."a0" from (select "distinct_id", sum("amount") as "a0"'
        ' from "public"."orders" group by "distinct_id") "_" order by "_"."a0" desc,'
        ' "_"."distinct_id" limit 10',
    ),
    _q(
        "coalesce_sum_zero",
        "SELECT p.id, coalesce(sum(o.amount), 0) AS spent FROM persons p LEFT JOIN orders o ON"
        " o.distinct_id = p.distinct_id GROUP BY p.id ORDER BY spent, p.id LIMIT 20",
    ),
    _q(
        "nullif_division",
        "SELECT status, round(sum(CASE WHEN is_gift THEN amount ELSE 0 END) / nullif(sum(amount),"
        " 0), 4) AS gift_share FROM orders GROUP BY status ORDER BY status",
    ),
    _q(
        "float_ratio",
        "SELECT status, count(*)::float / (SELECT count(*) FROM orders) AS share FROM orders"
        " GROUP BY status ORDER BY status",
    ),
    _q(
        "not_in_with_null",
        "SELECT count(*) FROM persons WHERE email NOT IN (SELECT email FROM persons WHERE id"
        " <= 30)",
    ),
    _q(
        "not_in_list",
        "SELECT count(*) FROM orders WHERE status NOT IN ('paid', 'cancelled')",
    ),
    _q(
        "case_else_column_name",
        "SELECT order_id, CASE WHEN is_gift THEN 'gift' ELSE status END FROM orders"
        " ORDER BY order_id LIMIT 10",
    ),
    _q(
        "interval_month_filter",
        "SELECT count(*) FROM orders WHERE order_date >= DATE '2024-06-30' - INTERVAL '1 month'",
    ),
    _q(
        "date_trunc_of_timestamp_cast",
        "SELECT date_trunc('month', timestamp)::date AS month, count(DISTINCT distinct_id)"
        " FROM events GROUP BY 1 ORDER BY 1",
    ),
    _q(
        "retention_cohort",
        "WITH first_seen AS (SELECT distinct_id, date_trunc('month', min(timestamp)) AS cohort"
        " FROM events GROUP BY distinct_id), activity AS (SELECT DISTINCT distinct_id,"
        " date_trunc('month', timestamp) AS month FROM events) SELECT f.cohort, a.month,"
        " count(*) AS users FROM first_seen f JOIN activity a ON a.distinct_id = f.distinct_id"
        " GROUP BY 1, 2 ORDER BY 1, 2",
    ),
    _q(
        "funnel_steps_window",
        "SELECT event, count(*) FROM (SELECT event, row_number() OVER (PARTITION BY distinct_id"
        " ORDER BY timestamp, uuid) AS step FROM events) s WHERE step = 1 GROUP BY event"
        " ORDER BY event",
    ),
    _q(
        "ntile_quartiles",
        "SELECT order_id, ntile(4) OVER (ORDER BY amount, order_id) AS quartile FROM orders"
        " ORDER BY order_id LIMIT 30",
    ),
    _q(
        "first_value_window",
        "SELECT order_id, first_value(amount) OVER (PARTITION BY status ORDER BY order_id) AS"
        " first_amount FROM orders ORDER BY order_id LIMIT 30",
    ),
    _q(
        "avg_window_rounded",
        "SELECT order_id, round(avg(amount) OVER (PARTITION BY status), 2) AS status_avg FROM"
        " orders ORDER BY order_id LIMIT 30",
    ),
    _q(
        "metabase_week_starting_sunday",
        'SELECT (date_trunc(\'week\', ("public"."events"."timestamp" + INTERVAL \'1 day\'))'
        ' - INTERVAL \'1 day\') AS "timestamp", count(*) AS "count" FROM'
        ' "public"."events" GROUP BY 1 ORDER BY 1 ASC',
    ),
    _q(
        "metabase_date_week_starting_sunday",
        'SELECT CAST((date_trunc(\'week\', ("public"."orders"."order_date" + INTERVAL'
        " '1 day')) - INTERVAL '1 day') AS date) AS \"order_date\", count(*) AS \"count\""
        ' FROM "public"."orders" GROUP BY 1 ORDER BY 1 ASC',
    ),
    _q(
        "date_plus_interval_is_timestamp",
        "SELECT order_id, order_date + INTERVAL '1 day' AS next_day FROM orders ORDER BY"
        " order_id LIMIT 5",
    ),
    _q(
        "fetch_first",
        "SELECT order_id FROM orders ORDER BY amount DESC, order_id FETCH FIRST 5 ROWS ONLY",
    ),
    _q(
        "ilike_json_text",
        "SELECT count(*) FROM events WHERE properties->>'$current_url' ILIKE '%/PRICING'",
    ),
    _q(
        "date_trunc_now_filter",
        "SELECT count(*) FROM orders WHERE order_date < date_trunc('month', now())",
    ),
    _q(
        "count_distinct_multiple",
        "SELECT count(DISTINCT distinct_id) AS users, count(DISTINCT event) AS kinds,"
        " count(DISTINCT properties->>'$browser') AS browsers FROM events",
    ),
    _q(
        "rollup_totals",
        "SELECT status, is_gift, count(*), sum(amount) FROM orders GROUP BY ROLLUP (status,"
        " is_gift) ORDER BY 1, 2",
    ),
    _q(
        "grouping_sets_with_grouping",
        "SELECT status, count(*), grouping(status) FROM orders GROUP BY GROUPING SETS"
        " ((status), ()) ORDER BY 1",
    ),
    _q(
        "cube_single",
        "SELECT event, count(*) FROM events GROUP BY CUBE (event) ORDER BY 1 NULLS FIRST",
    ),
)
