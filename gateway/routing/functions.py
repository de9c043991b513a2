"""Functions that must never run through the gateway: they write, signal, read files, reach the
network, assign transaction ids, or run SQL held in a string."""

from __future__ import annotations

from sqlglot import exp

from gateway.routing.settings import is_safe_setting

DENIED_FUNCTIONS: frozenset[str] = frozenset(
    {
        "set_config",
        "nextval",
        "setval",
        "pg_read_file",
        "pg_read_binary_file",
        "pg_stat_file",
        "pg_terminate_backend",
        "pg_cancel_backend",
        "pg_notify",
        "pg_logical_emit_message",
        "pg_reload_conf",
        "pg_rotate_logfile",
        "pg_switch_wal",
        "pg_create_restore_point",
        "pg_backup_start",
        "pg_backup_stop",
        "pg_start_backup",
        "pg_stop_backup",
        "pg_promote",
        "pg_wal_replay_pause",
        "pg_wal_replay_resume",
        "pg_log_backend_memory_contexts",
        "pg_import_system_collations",
        "pg_replication_slot_advance",
        "pg_logical_slot_get_changes",
        "pg_logical_slot_get_binary_changes",
        "txid_current",
        "pg_current_xact_id",
        "query_to_xml",
        "query_to_xmlschema",
        "query_to_xml_and_xmlschema",
        "cursor_to_xml",
        "cursor_to_xmlschema",
        "brin_summarize_new_values",
        "brin_summarize_range",
        "brin_desummarize_range",
        "gin_clean_pending_list",
        "pg_stat_statements_reset",
        "pg_file_write",
        "pg_file_rename",
        "pg_file_unlink",
        "pg_file_sync",
    }
)

DENIED_PREFIXES: tuple[str, ...] = (
    "lo_",
    "pg_ls_",
    "pg_advisory_",
    "pg_try_advisory_",
    "dblink",
    "pg_create_",
    "pg_drop_replication_slot",
    "pg_copy_",
    "pg_replication_origin_",
    "pg_stat_reset",
)


def function_name(node: exp.Func) -> str | None:
    """The called function's name, lower-cased and without its schema."""
    if isinstance(node, exp.Anonymous):
        name = node.this
        return name.lower() if isinstance(name, str) else None
    try:
        return node.sql_name().lower()
    except Exception:
        return None


def is_denied(name: str) -> bool:
    name = name.lower().rsplit(".", 1)[-1]
    return name in DENIED_FUNCTIONS or name.startswith(DENIED_PREFIXES)


def is_safe_set_config(node: exp.Func) -> bool:
    """set_config() is SET in function form: drivers such as asyncpg call it to turn JIT off.
    It passes when its setting is a literal naming an allowed setting, like SET would."""
    arguments = node.expressions if isinstance(node, exp.Anonymous) else list(node.args.values())
    if not arguments:
        return False
    name = arguments[0]
    return isinstance(name, exp.Literal) and name.is_string and is_safe_setting(name.this)
