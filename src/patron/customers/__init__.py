"""Customers: people and companies."""
