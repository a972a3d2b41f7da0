"""What names the export format (docs/export.md), shared by the exporter and the importer."""

from __future__ import annotations

FORMAT = "memfuse-export"  # the header line's "format"
VERSION = 1  # the header line's "version": a reader refuses a newer one
DERIVED_TYPES = ("fact", "entity", "relation")  # lines an import leaves to the server to derive

__all__ = ["DERIVED_TYPES", "FORMAT", "VERSION"]
