"""The create / read / update / delete machinery every domain shares.

A domain describes a resource (its table, scope, filters and sorts) and adds its own rules by
overriding the service hooks; this package supplies keyset pagination, the version check, the
changed-field diff and the outbox event, so those are written once.
"""
