"""Catalog answers for non-PostgreSQL sources: a real PostgreSQL database per source that
mirrors the source's tables (the shadow catalog), and a private cluster to keep them in when
the configuration names none."""

from gateway.catalog.private import PrivateCatalogServer
from gateway.catalog.shadow import CatalogError, ShadowCatalog, catalog_database, reader_role

__all__ = [
    "CatalogError",
    "PrivateCatalogServer",
    "ShadowCatalog",
    "catalog_database",
    "reader_role",
]
