"""The web application: app factory, pages, templates and static files."""
