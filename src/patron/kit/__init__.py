"""Small shared tools with no domain imports: ids, clock, money, pagination cursors."""
