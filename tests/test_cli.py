"""The `metahog` command line and config validation."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from gateway.config import ConfigError, load_config, parse_config
from gateway.protocol.scram import parse_verifier


def metahog(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gateway", *args],
        capture_output=True,
        text=True,
        input=stdin,
        timeout=60,
    )


@pytest.mark.parametrize(
    "args", [["--help"], ["serve", "--help"], ["user", "--help"], ["user", "add", "--help"]]
)
def test_help_describes_every_command(args):
    result = metahog(*args)
    assert result.returncode == 0
    assert "usage: metahog" in result.stdout
    if args == ["--help"]:
        assert "serve" in result.stdout and "user" in result.stdout
    if args == ["serve", "--help"]:
        assert "--config" in result.stdout and "--log-level" in result.stdout


def test_user_add_prints_a_postgresql_scram_verifier():
    result = metahog("user", "add", "alice", "--password-stdin", stdin="s3cret\n")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "[[users]]" and lines[1] == 'name = "alice"'
    verifier = lines[2].split('"')[1]
    assert verifier.startswith("SCRAM-SHA-256$4096:")
    assert parse_verifier(verifier).matches("s3cret")
    assert not parse_verifier(verifier).matches("wrong")
    assert "s3cret" not in result.stdout


def test_invalid_config_fails_at_startup_naming_the_key(tmp_path: Path):
    config = tmp_path / "bad.toml"
    config.write_text('[server]\nport = "six"\n')
    result = metahog("serve", "--config", str(config))
    assert result.returncode == 2
    assert "server.port" in result.stderr


@pytest.mark.parametrize(
    "raw, key",
    [
        ({"server": {"tls": "maybe"}}, "server.tls"),
        ({"server": {"colour": "red"}}, "server.colour"),
        ({"sources": {"a": {"kind": "mysql"}}}, "sources.a.kind"),
        ({"sources": {"a": {"kind": "postgres"}}}, "sources.a.dsn"),
        ({"sources": {"a": {"kind": "postgres", "dsn": "mysql://x"}}}, "sources.a.dsn"),
        ({"users": [{"name": "u"}]}, "users[0].password"),
        ({"users": [{"name": "u", "password": "p", "sources": ["nope"]}]}, "users[0].sources"),
        (
            {
                "sources": {
                    "a": {
                        "kind": "postgres",
                        "dsn": "postgresql://u@h/d",
                        "statement_timeout": "soon",
                    }
                }
            },
            "sources.a.statement_timeout",
        ),
    ],
)
def test_config_errors_name_the_key(raw, key):
    with pytest.raises(ConfigError) as info:
        parse_config(raw)
    assert key in str(info.value)


def test_config_shape_from_the_issue(tmp_path: Path):
    path = tmp_path / "metahog.toml"
    path.write_text(
        """
[server]
host = "127.0.0.1"
port = 6543
tls = "auto"
[[users]]
name = "analyst"
password = "secret"
sources = ["pagila"]
[sources.pagila]
kind = "postgres"
dsn = "postgresql://user:p%40ss@db.example:5433/pagila?sslmode=require"
"""
    )
    config = load_config(path)
    source = config.sources["pagila"]
    assert (source.backend.host, source.backend.port, source.backend.user) == (
        "db.example",
        5433,
        "user",
    )
    assert source.backend.password.reveal() == "p@ss"
    assert source.backend.sslmode == "require"
    assert "p@ss" not in repr(config)
    assert config.user("analyst").may_use("pagila")
    assert not config.user("analyst").may_use("other")
