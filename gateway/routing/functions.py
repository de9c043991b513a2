"""Functions that must never run through the gateway: they write, signal, read files, reach the
network, assign transaction ids, or run SQL held in a string."""

from __future__ import annotations

from sqlglot import exp

from gateway.routing.settings import SETTING_VALUES_CHECKED, is_safe_setting, is_safe_value

DENIED_FUNCTIONS: frozenset[str] = frozenset(
    {
        "set_config",
        "nextval",
        "setval",
        "loread",
        "lowrite",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_stat_file",
        "pg_logdir_ls",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_signal_backend",
        "pg_notify",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_rotate_logfile_old",
        "pg_logfile_rotate",
        "pg_switch_wal",
        "pg_switch_xlog",
        "pg_backup_start",
        "pg_backup_stop",
        "pg_start_backup",
        "pg_stop_backup",
        "pg_promote",
        "pg_log_backend_memory_contexts",
        "pg_log_standby_snapshot",
        "pg_import_system_collations",
        "pg_sync_replication_slots",
        "pg_drop_replication_slot",
        "pg_export_snapshot",
        "pg_nextoid",
        "pg_truncate_visibility_map",
        "pg_prewarm",
        "pg_stat_statements_reset",
        "txid_current",
        "pg_current_xact_id",
        "brin_summarize_new_values",
        "brin_summarize_range",
        "brin_desummarize_range",
        "gin_clean_pending_list",
        # Functions that run SQL handed to them as text, out of the guard's sight.
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "ts_stat",
        "xpath_table",
        "connectby",
    }
)

DENIED_PREFIXES: tuple[str, ...] = (
    "lo_",
    "pg_ls_",
    "pg_file_",
    "pg_advisory_",
    "pg_try_advisory_",
    "dblink",
    "crosstab",
    "pg_create_",
    "pg_copy_",
    "pg_replication_",
    "pg_logical_",
    "pg_wal_replay_",
    "pg_xlog_replay_",
    "pg_stat_reset",
    "binary_upgrade_",
    "heap_force_",
    "autoprewarm",
    "postgres_fdw_disconnect",
    # PostgreSQL 18's planner-statistics writers: pg_set_relation_stats, pg_clear_...
    "pg_set_",
    "pg_clear_",
    "pg_restore_",
)

# Functions that run SQL text only when called with this many arguments: ts_rewrite(query,
# select) runs `select`; ts_rewrite(query, target, substitute) is a pure function.
DENIED_ARITIES: dict[str, int] = {"ts_rewrite": 2}


def function_name(node: exp.Func) -> str | None:
    """The called function's name, lower-cased and without its schema.

    Quoted names are folded too: "nextval" is nextval, and "NEXTVAL", which PostgreSQL would
    not find, is refused like it rather than let through.
    """
    if isinstance(node, exp.Anonymous):
        return node.name.lower() or None
    try:
        return node.sql_name().lower()
    except Exception:
        return None


def is_denied(name: str) -> bool:
    name = name.lower().rsplit(".", 1)[-1]
    return name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES)


def is_denied_call(name: str, node: exp.Func) -> bool:
    """is_denied, and the calls DENIED_ARITIES names."""
    if is_denied(name):
        return True
    arity = DENIED_ARITIES.get(name)
    return arity is not None and isinstance(node, exp.Anonymous) and len(node.expressions) == arity


def is_safe_set_config(node: exp.Func) -> bool:
    """set_config() is SET in function form: drivers such as asyncpg call it to turn JIT off.
    It passes when its setting is a literal naming an allowed setting, like SET would, and for
    the settings whose value matters, when its value is a literal allowed value."""
    arguments = node.expressions if isinstance(node, exp.Anonymous) else list(node.args.values())
    if not arguments:
        return False
    name = arguments[0]
    if not (isinstance(name, exp.Literal) and name.is_string and is_safe_setting(name.this)):
        return False
    if name.this.lower() not in SETTING_VALUES_CHECKED:
        return True
    value = arguments[1] if len(arguments) > 1 else None
    return (
        isinstance(value, exp.Literal) and value.is_string and is_safe_value(name.this, value.this)
    )
