"""The lazy command groups: every command named is there, and a file analysis loads no more
than it needs."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from patron.cli import analyze, main
from tests.datasets import dataset_path


@pytest.mark.parametrize(("module", "path"), [(main, []), (analyze, ["analyze"])])
def test_every_lazy_command_is_found_and_has_help(module, path) -> None:
    root = typer.main.get_command(main.app)
    ctx = typer.Context(root)
    group = root
    for name in path:
        group = group.get_command(ctx, name)
    assert group.list_commands(ctx) == list(module.COMMANDS)
    for name in module.COMMANDS:
        command = group.get_command(ctx, name)
        assert command is not None, name
        assert command.name == name
        result = CliRunner().invoke(main.app, [*path, name, "--help"])
        assert result.exit_code == 0, (name, result.output)
        assert f"Usage: patron {' '.join([*path, name])}" in " ".join(result.stdout.split())


def test_unknown_command_is_a_usage_error() -> None:
    result = CliRunner().invoke(main.app, ["analyse"])
    assert result.exit_code == 2
    assert "No such command 'analyse'" in result.output


def test_rules_from_a_file_load_neither_pandas_nor_the_database(tmp_path) -> None:
    """The whole process, as a user runs it: the heavy libraries stay unloaded."""
    script = (
        "import sys\n"
        "from patron.cli.main import main\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    heavy = ('pandas', 'pyarrow', 'sklearn', 'scipy', 'sqlalchemy', 'fastapi',\n"
        "             'pydantic_settings')\n"
        "    loaded = sorted({m.split('.')[0] for m in sys.modules} & set(heavy))\n"
        "    print(__import__('json').dumps(loaded), file=sys.stderr)\n"
    )
    out = tmp_path / "rules.csv"
    groceries = dataset_path("groceries", "groceries.csv")
    completed = subprocess.run(
        [sys.executable, "-c", script, "analyze", "rules", "--baskets", str(groceries),
         "--min-support", "0.01", "-o", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    assert json.loads(completed.stderr.strip().splitlines()[-1]) == []
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1 + 618
