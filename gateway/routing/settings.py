"""Session settings a client may change: the allow-list behind SET, RESET and start-up
parameters.

Everything not listed is refused, in particular the settings that could re-enable writes or lift
the gateway's limits (default_transaction_read_only, transaction_read_only, statement_timeout,
session_replication_role, role, session_authorization...).
"""

from __future__ import annotations

SAFE_SETTINGS: frozenset[str] = frozenset(
    {
        # MetaHog's own: the dialect of data queries on sources that take another one
        # (HogQL on PostHog sources). PostgreSQL keeps it as a placeholder variable.
        "metahog.dialect",
        # presentation and encoding
        "application_name",
        "client_encoding",
        "datestyle",
        "intervalstyle",
        "timezone",
        "timezone_abbreviations",
        "extra_float_digits",
        "bytea_output",
        "client_min_messages",
        "lc_monetary",
        "lc_numeric",
        "lc_time",
        "xmlbinary",
        "xmloption",
        "array_nulls",
        "quote_all_identifiers",
        "escape_string_warning",
        "default_text_search_config",
        # name resolution
        "search_path",
        # transaction characteristics that cannot enable writes
        "transaction_isolation",
        "default_transaction_isolation",
        "transaction_deferrable",
        "default_transaction_deferrable",
        # planner knobs: they change plans, not results or resource limits
        "enable_bitmapscan",
        "enable_gathermerge",
        "enable_hashagg",
        "enable_hashjoin",
        "enable_incremental_sort",
        "enable_indexonlyscan",
        "enable_indexscan",
        "enable_material",
        "enable_memoize",
        "enable_mergejoin",
        "enable_nestloop",
        "enable_parallel_append",
        "enable_parallel_hash",
        "enable_partition_pruning",
        "enable_partitionwise_join",
        "enable_partitionwise_aggregate",
        "enable_seqscan",
        "enable_sort",
        "enable_tidscan",
        "geqo",
        "jit",
        "plan_cache_mode",
        "random_page_cost",
        "seq_page_cost",
        "cpu_tuple_cost",
        "cpu_index_tuple_cost",
        "cpu_operator_cost",
        "effective_cache_size",
        "from_collapse_limit",
        "join_collapse_limit",
        "cursor_tuple_fraction",
        "constraint_exclusion",
        "row_security",
    }
)

# SET forms with their own syntax, mapped to the setting they change.
SPECIAL_FORMS = {"time zone": "timezone", "names": "client_encoding", "schema": "search_path"}

# Start-up parameters that are not settings: the gateway reads them itself.
STARTUP_KEYS = frozenset({"user", "database", "options", "replication"})


# PostgreSQL's client-only encodings, by every name and alias it accepts for them (cleaned as
# its encoding lookup cleans names). In SJIS, BIG5, GBK and GB18030 the second byte of a
# character may be a backslash: unless the gateway decodes the text byte for byte as the server
# does, `E'<character>\'; delete ...'` is one string to the guard and a string and a DELETE to
# the server (with GB18030, which the relay decodes as UTF-8, it was). UHC, JOHAB and
# SHIFT_JIS_2004 share the multi-byte design and are refused with them. In every other encoding a
# byte below 0x80 is always the ASCII character the guard reads.
UNSAFE_CLIENT_ENCODINGS = frozenset(
    {
        "sjis",
        "mskanji",
        "shiftjis",
        "win932",
        "windows932",
        "shiftjis2004",
        "big5",
        "win950",
        "windows950",
        "gbk",
        "cp936",
        "win936",
        "windows936",
        "uhc",
        "win949",
        "windows949",
        "gb18030",
        "johab",
    }
)


def is_safe_setting(name: str) -> bool:
    return name.lower() in SAFE_SETTINGS


# Allowed settings whose value is checked too.
SETTING_VALUES_CHECKED = frozenset({"client_encoding"})


def is_safe_value(name: str, value: str) -> bool:
    """Whether an allowed setting may take this value: every value, except the client
    encodings above."""
    if name.lower() not in SETTING_VALUES_CHECKED:
        return True
    return "".join(c for c in value.lower() if c.isalnum()) not in UNSAFE_CLIENT_ENCODINGS


def parse_options(options: str) -> list[tuple[str, str]]:
    """The `-c name=value` and `--name=value` pairs of a libpq `options` string. Backslash
    escapes a space, as in PostgreSQL's own parser."""
    words: list[str] = []
    current: list[str] = []
    escaped = False
    for char in options:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char.isspace():
            if current:
                words.append("".join(current))
                current = []
        else:
            current.append(char)
    if current:
        words.append("".join(current))
    pairs: list[tuple[str, str]] = []
    index = 0
    while index < len(words):
        word = words[index]
        assignment = None
        if word == "-c" and index + 1 < len(words):
            index += 1
            assignment = words[index]
        elif word.startswith("-c"):
            assignment = word[2:]
        elif word.startswith("--"):
            assignment = word[2:]
        if assignment and "=" in assignment:
            name, value = assignment.split("=", 1)
            pairs.append((name.replace("-", "_"), value))
        index += 1
    return pairs
