"""Operations: what the people who run a gateway watch (statement observation, metrics, the audit
log, structured logging) and control (reload, shutdown)."""
