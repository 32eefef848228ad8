"""Customer service: tickets."""
