"""Data in and out of Patron: exports (and, later, imports, cleaning, webhooks, ETL)."""
