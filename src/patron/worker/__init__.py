"""Background jobs: a database-backed queue, the runner, and the registry of job kinds."""
