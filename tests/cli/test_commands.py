"""The command line: init, users, API keys — and the key works against the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from patron.cli.main import app
from patron.config import Settings
from patron.web.app import create_app


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        "PATRON_DATA_DIR": str(tmp_path / "data"),
        "PATRON_DATABASE_URL": "",
        "PATRON_SECRET_KEY": "cli-test-secret",
    }


def run(env: dict[str, str], *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=env)
    # Rich wraps to the terminal's width; compare messages with their spaces normalised.
    return result.exit_code, result.stdout, " ".join(result.stderr.split())


def test_help_on_every_group() -> None:
    for args in ([], ["db"], ["users"], ["api-keys"], ["analyze"]):
        result = CliRunner().invoke(app, [*args, "--help"])
        assert result.exit_code == 0, args
        assert "Usage" in result.stdout


def test_init_creates_admin_once_and_keys_work(env: dict[str, str], tmp_path: Path) -> None:
    code, out, err = run(env, "init", "--admin-email", "boss@example.com", "--json")
    assert code == 0, err
    first = json.loads(out)
    assert first["admin"]["email"] == "boss@example.com"
    password = first["admin"]["password"]
    assert len(password) >= 16
    assert password in err  # printed once for the person at the terminal
    assert (tmp_path / "data" / "patron.db").exists()

    code, out, err = run(env, "init", "--json")
    assert code == 0
    assert json.loads(out)["admin"] is None
    assert "no admin was created" in err

    code, out, err = run(
        env,
        "users",
        "create",
        "--email",
        "rep@example.com",
        "--role",
        "sales",
        "--team",
        "North",
        "--json",
    )
    assert code == 0, err
    assert json.loads(out)["role"] == "sales"
    code, _, err = run(env, "users", "create", "--email", "x@example.com", "--role", "boss")
    assert code == 2
    assert "Unknown role" in err
    code, _, err = run(env, "users", "create", "--email", "rep@example.com", "--role", "sales")
    assert code == 2
    assert "exists" in err

    code, out, err = run(
        env, "api-keys", "create", "--user", "rep@example.com", "--name", "ci", "--json"
    )
    assert code == 0, err
    key = json.loads(out)["key"]
    assert key.startswith("ptn_")

    settings = Settings(data_dir=tmp_path / "data", secret_key="cli-test-secret")
    with TestClient(create_app(settings)) as client:
        me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"})
        assert me.status_code == 200
        assert me.json()["email"] == "rep@example.com"
        assert me.json()["role"] == "sales"

        code, out, err = run(env, "api-keys", "revoke", key[:10])
        assert code == 0, err
        assert (
            client.get("/api/v1/me", headers={"Authorization": f"Bearer {key}"}).status_code == 401
        )


def test_unknown_user_and_unreachable_database(env: dict[str, str]) -> None:
    run(env, "init")
    code, _, err = run(env, "api-keys", "create", "--user", "nobody@example.com", "--name", "x")
    assert code == 1
    assert "No user" in err
    unreachable = {**env, "PATRON_DATABASE_URL": "postgresql+psycopg://postgres@127.0.0.1:1/none"}
    code, _, err = run(unreachable, "db", "upgrade")
    assert code == 69
    assert "Cannot reach the database" in err
    assert "Traceback" not in err
