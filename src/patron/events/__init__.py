"""The event log (transactional outbox) and the change feed."""
