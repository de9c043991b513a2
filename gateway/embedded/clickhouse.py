"""A throw-away ClickHouse server from the system's `clickhouse-server` binary (Debian's
package), for the test suite: it runs as an unprivileged user, listens on free ports on
127.0.0.1 only, and keeps its configuration, data and logs in a temporary directory."""

from __future__ import annotations

import base64
import os
import pwd
import shutil
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from xml.sax.saxutils import escape

from gateway.embedded.postgres import free_port

UNPRIVILEGED_USER = "clickhouse"  # created by the Debian package

CONFIG = """<?xml version="1.0"?>
<yandex>
  <logger><level>warning</level><log>{dir}/server.log</log><errorlog>{dir}/error.log</errorlog>
    <console>0</console></logger>
  <listen_host>127.0.0.1</listen_host>
  <http_port>{http_port}</http_port>
  <tcp_port>{tcp_port}</tcp_port>
  <path>{dir}/data/</path>
  <tmp_path>{dir}/tmp/</tmp_path>
  <user_files_path>{dir}/user_files/</user_files_path>
  <format_schema_path>{dir}/format_schemas/</format_schema_path>
  <mark_cache_size>5368709120</mark_cache_size>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <users>
    <{user}>
      <password>{password}</password>
      <networks><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </{user}>
  </users>
  <profiles><default></default></profiles>
  <quotas><default></default></quotas>
</yandex>
"""


def find_server() -> str | None:
    return shutil.which("clickhouse-server") or (
        "/usr/sbin/clickhouse-server" if Path("/usr/sbin/clickhouse-server").exists() else None
    )


class LocalClickHouse:
    def __init__(self, *, user: str = "metahog", password: str = "metahog") -> None:
        binary = find_server()
        if binary is None:
            raise RuntimeError("no clickhouse-server found: apt-get install clickhouse-server")
        self.binary = binary
        self.user = user
        self.password = password
        self.http_port = free_port()
        self.directory = Path(tempfile.mkdtemp(prefix="metahog-ch-"))
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{self.user}:{self.password}@127.0.0.1:{self.http_port}/"

    def start(self) -> LocalClickHouse:
        config = self.directory / "config.xml"
        config.write_text(
            CONFIG.format(
                dir=escape(str(self.directory)),
                http_port=self.http_port,
                tcp_port=free_port(),
                user=self.user,
                password=escape(self.password),
            )
        )
        as_user: list[str] = []
        if os.geteuid() == 0:
            as_user = ["runuser", "-u", UNPRIVILEGED_USER, "--"]
            owner = pwd.getpwnam(UNPRIVILEGED_USER)
            os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            os.chown(config, owner.pw_uid, owner.pw_gid)
        self.process = subprocess.Popen(
            [*as_user, self.binary, f"--config-file={config}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"clickhouse-server exited: {self._log()}")
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{self.http_port}/ping", timeout=1):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"clickhouse-server did not start: {self._log()}")

    def query(self, sql: str) -> str:
        """Run SQL with full rights (fixtures), as the configured user."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.http_port}/",
            data=sql.encode(),
            headers={"Authorization": _basic(self.user, self.password)},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.read().decode()

    def _log(self) -> str:
        log = self.directory / "error.log"
        return log.read_text()[-2000:] if log.exists() else "(no log)"

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.directory, ignore_errors=True)


def _basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
