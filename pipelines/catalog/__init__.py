"""The data catalog: DataHub ingestion of the repository's own metadata (see docs/CATALOG.md)."""
