"""A throw-away PostgreSQL cluster run from the system's server binaries.

Used by the test suite and the benchmarks, which need real servers: initdb runs as an
unprivileged user (PostgreSQL refuses root), on a free port, with the socket inside the data
directory so that nothing on the machine is touched.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from gateway.protocol.tls import make_self_signed

UNPRIVILEGED_USER = "postgres"


def find_bindir() -> Path:
    """The newest installed PostgreSQL server's bin directory."""
    candidates = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        out = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True).stdout.strip()
        if out and Path(out, "initdb").exists():
            candidates.append(Path(out))
    for path in glob.glob("/usr/lib/postgresql/*/bin"):
        if Path(path, "initdb").exists():
            candidates.append(Path(path))
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).parent)
    if not candidates:
        raise RuntimeError(
            "no PostgreSQL server binaries found: install them (apt-get install postgresql)"
        )

    def version(path: Path) -> float:
        try:
            return float(path.parent.name)
        except ValueError:
            return 0.0

    return max(candidates, key=version)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LocalPostgres:
    """One cluster. `hba` lines come first, before the catch-all SCRAM rule."""

    def __init__(
        self,
        *,
        port: int | None = None,
        ssl: bool = False,
        hba: Sequence[str] = (),
        settings: dict[str, str] | None = None,
        directory: Path | None = None,
    ) -> None:
        self.bindir = find_bindir()
        self.port = port or free_port()
        self.ssl = ssl
        self.hba = list(hba)
        self.settings = settings or {}
        # A given directory is kept between runs; a temporary one is removed by stop().
        self.keep = directory is not None
        if directory is not None:
            directory.mkdir(parents=True, exist_ok=True)
        self.directory = directory or Path(tempfile.mkdtemp(prefix="metahog-pg-"))
        self.data = self.directory / "data"
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            self._as_user = ["runuser", "-u", UNPRIVILEGED_USER, "--"]
            owner = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
        self.directory.chmod(0o755)

    @property
    def socket_dir(self) -> str:
        return str(self.directory)

    def _run(self, args: Sequence[str], **kwargs) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([*self._as_user, *args], capture_output=True, text=True, **kwargs)
        if result.returncode != 0:
            raise RuntimeError(
                f"{Path(args[0]).name} failed (exit {result.returncode}): "
                f"{(result.stderr or result.stdout).strip()}"
            )
        return result

    @property
    def initialized(self) -> bool:
        return (self.data / "PG_VERSION").exists()

    def start(self) -> LocalPostgres:
        if self.initialized:
            self._write_port()
            self._pg_ctl_start()
            return self
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.data),
                "-U",
                "postgres",
                "--auth-local=trust",
                "--auth-host=scram-sha-256",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
            ]
        )
        lines = [
            "include_if_exists = 'metahog_port.conf'",
            "listen_addresses = '127.0.0.1'",
            f"unix_socket_directories = '{self.socket_dir}'",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "max_connections = 200",
            "shared_buffers = 128MB",
            "log_min_messages = warning",
        ]
        if self.ssl:
            cert, key = make_self_signed("localhost")
            self._write_owned(self.data / "server.crt", cert, 0o644)
            self._write_owned(self.data / "server.key", key, 0o600)
            lines += ["ssl = on", "ssl_cert_file = 'server.crt'", "ssl_key_file = 'server.key'"]
        lines += [f"{name} = '{value}'" for name, value in self.settings.items()]
        with open(self.data / "postgresql.conf", "a") as conf:
            conf.write("\n".join(lines) + "\n")
        hba = ["local all all trust", *self.hba, "host all all 127.0.0.1/32 scram-sha-256"]
        (self.data / "pg_hba.conf").write_text("\n".join(hba) + "\n")
        self._write_port()
        self._pg_ctl_start()
        return self

    def _write_port(self) -> None:
        # The port lives in its own file so that a kept cluster can move to a free port.
        self._write_owned(self.data / "metahog_port.conf", f"port = {self.port}\n".encode(), 0o644)

    def _pg_ctl_start(self) -> None:
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.data),
                "-l",
                str(self.directory / "log"),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def _write_owned(self, path: Path, data: bytes, mode: int) -> None:
        path.write_bytes(data)
        path.chmod(mode)
        if self._as_user:
            owner = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(path, owner.pw_uid, owner.pw_gid)

    def psql(self, sql: str, database: str = "postgres") -> str:
        """Run SQL as the superuser over the cluster's private socket."""
        result = subprocess.run(
            [
                str(self.bindir / "psql") if (self.bindir / "psql").exists() else "psql",
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-h",
                self.socket_dir,
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
            ],
            input=sql,
            capture_output=True,
            text=True,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql failed: {result.stderr.strip()}")
        return result.stdout

    def dsn(self, user: str, password: str, database: str, **params: str) -> str:
        query = "&".join(f"{k}={v}" for k, v in params.items())
        return f"postgresql://{user}:{password}@127.0.0.1:{self.port}/{database}" + (
            f"?{query}" if query else ""
        )

    def stop(self) -> None:
        try:
            mode = "fast" if self.keep else "immediate"
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"])
        except RuntimeError:
            pass
        if not self.keep:
            shutil.rmtree(self.directory, ignore_errors=True)

    def __enter__(self) -> LocalPostgres:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
