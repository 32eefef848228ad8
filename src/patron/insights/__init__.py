"""Analysis runs: read the data for analytics, store the results and apply them."""
