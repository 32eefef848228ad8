"""Sales: products, orders and their lines, deals and the pipeline, sales targets."""
