"""The fast path of ``patron analyze itemsets | rules`` (:mod:`patron.cli.quick_rules`): the
same files, summaries and messages as the Typer command, in a process without numpy or Typer."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from patron.analytics import _rule_tables
from patron.cli import main as cli_main
from tests.datasets import dataset_path

pytestmark = pytest.mark.skipif(_rule_tables._fim is None, reason="the C kernel is not built here")

PROBE = (
    "import sys\n"
    "from patron.cli.main import main\n"
    "try:\n"
    "    main()\n"
    "finally:\n"
    "    heavy = ('numpy', 'pandas', 'typer', 'click', 'pydantic', 'sqlalchemy')\n"
    "    loaded = sorted({m.split('.')[0] for m in sys.modules} & set(heavy))\n"
    "    print('LOADED ' + __import__('json').dumps(loaded), file=sys.stderr)\n"
)


def _process(*args: str) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    completed = subprocess.run(
        [sys.executable, "-c", PROBE, "analyze", *map(str, args)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    lines = completed.stderr.splitlines()
    loaded = json.loads(lines[-1].removeprefix("LOADED ")) if lines else []
    completed.stderr = "\n".join(lines[:-1])
    return completed, loaded


def _typer(*args: str):
    return CliRunner().invoke(cli_main.app, ["analyze", *map(str, args)])


def _said(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def tricky_file(tmp_path):
    """Labels with commas, quotes, spaces and accents (separator ';'), CRLF and CR line ends, a
    blank line, a repeated item, a line of separators only (an empty basket)."""
    rows = [
        'bread;milk, whole;"quoted";crème',
        "bread;milk, whole;beer ;beer ",
        "",
        ";;",
        'milk, whole;"quoted";crème;bread',
        "bread;crème;beer ",
        'bread;milk, whole;"quoted";beer ;crème',
    ]
    path = tmp_path / "baskets.txt"
    path.write_bytes(("\r\n".join(rows[:4]) + "\r" + "\n".join(rows[4:]) + "\n").encode())
    return path


@pytest.mark.parametrize(
    "options",
    [
        ["rules", "--min-support", "2"],
        ["rules", "--min-support", "0.3", "--min-confidence", "0.6", "--min-lift", "1.05"],
        ["rules", "--min-support=2", "--max-len", "2"],
        ["itemsets", "--min-support", "2"],
        ["itemsets", "--min-support", "0.5", "--max-len=1"],
    ],
)
def test_the_fast_path_writes_and_says_what_the_command_does(tricky_file, tmp_path, options):
    command, *rest = options
    fast_out, slow_out = tmp_path / "fast.csv", tmp_path / "slow.csv"
    common = ["--baskets", tricky_file, "--sep", ";", *rest]
    fast, loaded = _process(command, *common, "-o", fast_out, "--json")
    assert fast.returncode == 0, fast.stderr
    assert loaded == []  # neither numpy nor Typer: the fast path ran
    slow = _typer(command, *common, "-o", slow_out, "--json")
    assert slow.exit_code == 0, slow.output
    assert fast_out.read_bytes() == slow_out.read_bytes()
    fast_summary, slow_summary = json.loads(fast.stdout), json.loads(slow.stdout)
    for summary in (fast_summary, slow_summary):
        del summary["seconds"], summary["output"]
    assert fast_summary == slow_summary
    assert fast_summary["baskets"] == 6  # the blank line is no basket, ';;' an empty one
    # The human summary and table.
    fast, _ = _process(command, *common, "-o", fast_out)
    slow = _typer(command, *common, "-o", slow_out)
    assert _said(fast.stdout) == _said(slow.stdout.replace(str(slow_out), str(fast_out)))


def test_groceries_files_are_byte_for_byte_the_library_s(tmp_path):
    path = dataset_path("groceries", "groceries.csv")
    for support in ("0.01", "0.003"):
        fast, loaded = _process(
            "rules", "--baskets", path, "--min-support", support, "-o", tmp_path / "fast.csv"
        )
        assert fast.returncode == 0, fast.stderr
        assert loaded == []
        slow = _typer(
            "rules", "--baskets", path, "--min-support", support, "-o", tmp_path / "s.csv"
        )
        assert slow.exit_code == 0, slow.output
        assert (tmp_path / "fast.csv").read_bytes() == (tmp_path / "s.csv").read_bytes()


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--min-support", "0"], 2, "--min-support as a fraction must be in (0, 1]"),
        (["--min-support", "lots"], 2, "--min-support must be a number"),
        (["--min-support", "0.1", "--min-confidence", "2"], 2, "less than or equal to"),
        (["--min-support", "0.1", "--baskets", "{tmp}/nope.csv"], 74, "file not found"),
        (["--min-support", "0.1", "-o", "{tmp}/missing/out.csv"], 74, "does not exist"),
        (["--min-support", "0.1", "--bogus"], 2, "No such option"),
    ],
)
def test_what_the_fast_path_cannot_do_goes_to_the_command(lines, tmp_path, args, code, message):
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    defaults = {"--baskets": str(lines), "-o": str(tmp_path / "out.csv")}
    for option, value in defaults.items():
        if option not in args:
            args += [option, value]
    completed, loaded = _process("rules", *args)
    assert completed.returncode == code, completed.stderr
    assert message in _said(completed.stderr)
    assert "Traceback" not in completed.stderr
    assert "typer" in loaded  # the Typer command said it


def test_other_outputs_and_long_files_take_the_command(lines, tmp_path):
    completed, loaded = _process(
        "rules", "--baskets", lines, "--min-support", "2", "-o", tmp_path / "r.jsonl"
    )
    assert completed.returncode == 0, completed.stderr
    assert "numpy" in loaded
    assert len((tmp_path / "r.jsonl").read_text(encoding="utf-8").splitlines()) > 0


@pytest.fixture
def lines(tmp_path):
    path = tmp_path / "baskets.csv"
    path.write_text("bread,milk\nbread,beer\nbread,milk,beer\nmilk\n", encoding="utf-8")
    return path
