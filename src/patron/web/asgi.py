"""The ASGI entry point for servers: ``uvicorn patron.web.asgi:app``."""

from patron.web.app import create_app

app = create_app()
