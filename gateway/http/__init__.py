"""The gateway's HTTP port: health checks, metrics and the direct-query API."""
