"""MetaHog: a read-only federated SQL gateway that speaks the PostgreSQL wire protocol."""

__version__ = "0.1.0"
