"""Command groups whose commands are built only when they run.

Typer turns every registered command into a Click command, annotations evaluated and parameters
made, before it runs any: with every group imported that was a tenth of a second of each ``patron``
run. A lazy group knows its commands by name and module, imports the one module it needs and
builds its commands alone (pip and the FastAPI CLI load sub-commands the same way). Listing
the commands, as ``--help`` does, builds them all.
"""

from __future__ import annotations

import importlib
from typing import Any, ClassVar

import typer
from typer.core import TyperGroup


class LazyGroup(TyperGroup):
    """A group with commands ``name → module`` in :attr:`lazy`, besides any registered ones.

    The module either has a Typer ``app`` (the command is that group) or a ``register(app)``
    that adds its commands to a Typer app.
    """

    lazy: ClassVar[dict[str, str]] = {}

    def list_commands(self, ctx: typer.Context) -> list[str]:
        """The lazy commands in their order, then any registered otherwise."""
        return list(dict.fromkeys([*self.lazy, *super().list_commands(ctx)]))

    def get_command(self, ctx: typer.Context, cmd_name: str) -> Any:
        command = super().get_command(ctx, cmd_name)
        if command is None and cmd_name in self.lazy:
            command = _load(self.lazy[cmd_name], cmd_name)
            if command is not None:
                self.add_command(command, cmd_name)
        return command


def _load(module_name: str, name: str) -> Any:
    module = importlib.import_module(module_name)
    holder = typer.Typer()
    register = getattr(module, "register", None)
    if register is not None:
        register(holder)
    else:
        holder.add_typer(module.app, name=name)
    return typer.main.get_group(holder).commands.get(name)


def lazy_group(commands: dict[str, str]) -> type[LazyGroup]:
    """A :class:`LazyGroup` class for ``typer.Typer(cls=...)`` with these commands."""
    return type("LazyGroup", (LazyGroup,), {"lazy": dict(commands)})
