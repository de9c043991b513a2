"""psql, the reference client, as a subprocess."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import READER_PASSWORD


def psql(dsn: str, *commands: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    args = ["psql", "-X", "-v", "ON_ERROR_STOP=1", dsn]
    for command in commands:
        args += ["-c", command]
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=60,
        input=stdin,
        env={**os.environ, "PGCONNECT_TIMEOUT": "10"},
    )


def direct(pg, *commands: str) -> subprocess.CompletedProcess[str]:
    dsn = f"host=127.0.0.1 port={pg.port} dbname=testdb user=reader password={READER_PASSWORD}"
    return psql(dsn, *commands)


def test_select_matches_direct(gateway, pg):
    query = "select film_id, title, rental_rate, last_update from film order by film_id limit 5"
    through = psql(gateway.dsn(), query)
    assert through.returncode == 0, through.stderr
    assert through.stdout == direct(pg, query).stdout
    assert "Film 1" in through.stdout


def test_readme_command(gateway):
    result = psql(
        f"host=127.0.0.1 port={gateway.port} dbname=pagila user=analyst password=secret "
        "sslmode=require",
        "select title from film limit 3",
    )
    assert result.returncode == 0, result.stderr
    assert "(3 rows)" in result.stdout


@pytest.mark.parametrize(
    "command, expected",
    [
        ("\\dt", ["film", "actor", "film_actor", "typed"]),
        ("\\d film", ["film_id", "integer", "rental_rate", "numeric(4,2)", "film_pkey"]),
        ("\\l", ["testdb", "otherdb"]),
        ("\\dt+ film", ["films for rent"]),
        ("\\df+ now", ["now"]),
        ("\\dn", ["public"]),
    ],
)
def test_meta_commands(gateway, pg, command, expected):
    through = psql(gateway.dsn(), command)
    assert through.returncode == 0, through.stderr
    for word in expected:
        assert word in through.stdout
    assert through.stdout == direct(pg, command).stdout


def test_copy_to_stdout_and_backslash_copy(gateway, pg, tmp_path: Path):
    target = tmp_path / "films.csv"
    result = psql(
        gateway.dsn(), f"\\copy (select film_id, title from film order by 1) to '{target}' csv"
    )
    assert result.returncode == 0, result.stderr
    lines = target.read_text().splitlines()
    assert len(lines) == 1000
    assert lines[0] == "1,Film 1"
    table_copy = tmp_path / "actor.txt"
    result = psql(gateway.dsn(), f"\\copy actor to '{table_copy}'")
    assert result.returncode == 0, result.stderr
    assert len(table_copy.read_text().splitlines()) == 200
    stdout_copy = psql(gateway.dsn(), "copy (select 1 as a, 'x' as b) to stdout with csv header")
    assert stdout_copy.stdout == "a,b\n1,x\n"


def test_copy_from_is_refused_and_nothing_changes(gateway, pg, tmp_path: Path):
    source = tmp_path / "in.csv"
    source.write_text("9001,First,Last\n")
    result = psql(gateway.dsn(), f"\\copy actor from '{source}' csv")
    assert result.returncode != 0
    assert "read-only" in result.stderr
    assert direct(pg, "select count(*) from actor").stdout.split()[2] == "200"


def test_multi_statement_and_empty_queries(gateway):
    result = psql(gateway.dsn(), "select 1 as a; select 2 as b")
    assert result.returncode == 0, result.stderr
    assert " b \n---\n 2\n" in result.stdout
    for empty in ("", ";", "-- ping"):
        result = psql(gateway.dsn(), empty)
        assert result.returncode == 0, result.stderr


def test_write_is_refused_with_25006(gateway, pg):
    result = subprocess.run(
        [
            "psql",
            "-X",
            "-v",
            "ON_ERROR_STOP=1",
            "-v",
            "VERBOSITY=verbose",
            gateway.dsn(),
            "-c",
            "\\set VERBOSITY verbose",
            "-c",
            "update film set title = 'x' where film_id = 1",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "25006" in result.stderr
    assert direct(pg, "select title from film where film_id = 1").stdout.split()[2:4] == [
        "Film",
        "1",
    ]
