"""Structured logging of a real gateway process: JSON or text lines, the level from the config
or `--log-level`, every session's lines carrying its id, and no secret in any line."""

from __future__ import annotations

import io
import json
import logging
import re
import time

import psycopg
import pytest

from gateway.config import Config, parse_config
from gateway.ops import logging as ops_logging
from gateway.ops.masking import SecretsOf, mask
from tests.conftest import READER_PASSWORD, SCRAM_PASSWORD

LOUD_PASSWORD = "loud-user-pw-5521"
LOUD_USER = f'\n[[users]]\nname = "loud"\npassword = "{LOUD_PASSWORD}"\n'


def logging_config(**settings: str) -> str:
    return "\n[logging]\n" + "".join(f'{key} = "{value}"\n' for key, value in settings.items())


def wait_for(gateway, pattern: str) -> str:
    deadline = time.monotonic() + 10
    while not re.search(pattern, gateway.log()):
        assert time.monotonic() < deadline, f"no {pattern!r} in the log:\n{gateway.log()}"
        time.sleep(0.05)
    return gateway.log()


def json_lines(text: str) -> list[dict]:
    # The start-up banner is printed, not logged; every logged line is one JSON object.
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def test_json_lines_with_the_session_id(gateway_factory) -> None:
    gateway = gateway_factory(
        sources_extra=logging_config(level="debug", format="json"),
        users_extra=LOUD_USER,
        log_level=None,
    )
    with psycopg.connect(gateway.dsn(user="loud", password=LOUD_PASSWORD)) as conn:
        pid = conn.info.backend_pid
        conn.execute("select 1").fetchall()
    text = wait_for(gateway, rf"session {pid}: .* connected as loud")
    lines = json_lines(text)
    assert lines, text
    for line in lines:
        assert set(line) >= {"time", "level", "logger", "message", "session"}
        assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$", line["time"])
    connected = [line for line in lines if "connected as loud" in line["message"]]
    assert len(connected) == 1
    assert connected[0]["session"] == pid
    assert connected[0]["level"] == "info"
    assert connected[0]["logger"] == "gateway.session"
    listening = [line for line in lines if line["message"].startswith("listening on")]
    assert listening and listening[0]["session"] is None
    # The level is the config's: debug lines are there.
    assert any(line["level"] == "debug" for line in lines)


def test_level_from_the_config_and_the_flag_overrides_it(gateway_factory) -> None:
    quiet = gateway_factory(sources_extra=logging_config(level="warning"), log_level=None)
    loud = gateway_factory(sources_extra=logging_config(level="warning"), log_level="info")
    for gateway in (quiet, loud):
        with psycopg.connect(gateway.dsn()) as conn:
            conn.execute("select 1").fetchall()
    text = wait_for(loud, r"connected as analyst")
    assert re.search(r"INFO \[session \d+\] gateway\.session: session \d+: .* connected", text)
    assert "INFO" not in quiet.log()
    assert "connected as analyst" not in quiet.log()


def test_text_lines_carry_the_session_id(gateway_factory) -> None:
    gateway = gateway_factory(log_level="info")
    with psycopg.connect(gateway.dsn()) as conn:
        pid = conn.info.backend_pid
    text = wait_for(gateway, rf"\[session {pid}\] gateway\.session: session {pid}: ")
    assert re.search(r"INFO \[session -\] gateway\.server: listening on", text)


def test_no_secret_in_the_log_at_debug_level(gateway_factory) -> None:
    gateway = gateway_factory(users_extra=LOUD_USER, log_level="debug")
    with psycopg.connect(gateway.dsn(user="loud", password=LOUD_PASSWORD)) as conn:
        conn.execute("select 1").fetchall()
        with pytest.raises(psycopg.Error):
            conn.execute("alter role reader password 'statement-pw-9911'")
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(gateway.dsn(user="loud", password="wrong-pw-4417"))
    wait_for(gateway, r"connected as loud")
    text = gateway.log()
    for secret in (LOUD_PASSWORD, READER_PASSWORD, SCRAM_PASSWORD, "wrong-pw-4417"):
        assert secret not in text


def test_secrets_masked_in_messages_and_tracebacks() -> None:
    stream = io.StringIO()
    ops_logging.configure("debug", "json", stream=stream, secrets=lambda: ("hunter2-secret",))
    try:
        log = logging.getLogger("gateway.test")
        log.info("connecting with %s", "postgresql://u:hunter2-secret@h/db")
        try:
            raise ValueError("bad url http://u:hunter2-secret@h")
        except ValueError:
            log.exception("failed")
    finally:
        ops_logging.configure("warning", "text", secrets=tuple)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert lines[0]["message"] == "connecting with postgresql://u:***@h/db"
    assert "hunter2-secret" not in stream.getvalue()
    assert "http://u:***@h" in lines[1]["exception"]


def test_masked_secrets_follow_the_running_config() -> None:
    """After a reload the gateway runs another config: its new secrets are masked too."""

    def config(password: str) -> Config:
        return parse_config(
            {
                "users": [{"name": "u", "password": "user-pw-1"}],
                "sources": {
                    "s": {"kind": "postgres", "dsn": f"postgresql://r:{password}@h/db"},
                },
            }
        )

    running = [config("dsn-pw-old")]
    secrets = SecretsOf(lambda: running[0])
    assert set(secrets()) == {"user-pw-1", "dsn-pw-old"}
    running[0] = config("dsn-pw-new")
    assert set(secrets()) == {"user-pw-1", "dsn-pw-new"}
    assert mask("postgresql://r:dsn-pw-new@h", secrets()) == "postgresql://r:***@h"
