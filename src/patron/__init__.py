"""Patron: a self-hosted CRM with analytics built in."""

__version__ = "0.1.0"
