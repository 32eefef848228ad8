"""Backups: consistent, compressed, encrypted and checksummed copies of the database.

``service`` makes, verifies and restores them; ``container`` is the file format; ``checksums``
defines the per-table content checksums of the manifest; ``sqlite`` and ``postgres`` hold what
each backend does differently; ``jobs`` runs scheduled backups in the worker.
"""
