"""The HTTP port: off by default, and on when `[http] port` is set."""

from __future__ import annotations

import json
import urllib.request

from gateway.embedded.postgres import free_port


def test_http_port_serves_healthz_when_configured(gateway_factory) -> None:
    port = free_port()
    gateway_factory(sources_extra=f"\n[http]\nport = {port}\n")
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=5) as response:
        assert response.status == 200
        assert json.loads(response.read()) == {"status": "ok"}
