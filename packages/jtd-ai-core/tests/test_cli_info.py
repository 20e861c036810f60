"""``jtd-ai models``, ``drivers``, ``providers``, ``usage``: tables, --json and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal

from cli_helpers import (  # noqa: F401  (the fixtures)
    Cli,
    driver_modules,
    jtd_fixture,
    keyed_server_fixture,
    needs,
)
from importlib_metadata import entry_points

from jtd_ai.testing.server import MODELS

IMPORTED = (
    "import json, sys\n"
    "from jtd_ai.cli import cli\n"
    "try:\n"
    "    cli.main({args!r}, prog_name='jtd-ai')\n"
    "except SystemExit as exit:\n"
    "    code = exit.code\n"
    "print(json.dumps({{'code': code, 'modules': sorted(sys.modules)}}))\n"
)


def imported_by(*args: str) -> tuple[int, set[str]]:
    """Run the CLI in a fresh interpreter: (exit code, modules imported by then)."""
    out = subprocess.run([sys.executable, "-c", IMPORTED.format(args=list(args))],
                         capture_output=True, text=True, timeout=60, check=True)
    data = json.loads(out.stdout.strip().splitlines()[-1])
    return data["code"], set(data["modules"])


def test_help_and_drivers_import_no_driver_module() -> None:
    drivers = driver_modules()
    assert "jtd_ai.echo" in drivers  # the core's own driver counts too
    for args in (["--help"], ["drivers"], ["drivers", "--json"]):
        code, modules = imported_by(*args)
        assert code == 0
        loaded = {m for m in modules for d in drivers if m == d or m.startswith(d + ".")}
        assert loaded == set(), (args, loaded)
        assert "rich" not in modules  # not a terminal: plain text, rich never imported


def test_drivers_lists_installed_packages_with_versions(jtd: Cli) -> None:
    result = jtd("drivers", "--json")
    assert result.exit_code == 0
    listed = {d["name"]: d for d in json.loads(result.stdout)["drivers"]}
    for ep in entry_points(group="jtd_ai.drivers"):
        assert listed[ep.name]["distribution"] == ep.dist.name
        assert listed[ep.name]["version"] == ep.dist.version
        assert listed[ep.name]["entry_point"] == ep.value


def test_drivers_capabilities_load_only_named_drivers(jtd: Cli) -> None:
    result = jtd("drivers", "-c", "echo", "--json")
    assert result.exit_code == 0, result.stderr
    (echo,) = json.loads(result.stdout)["drivers"]
    assert "streaming" in echo["capabilities"]
    assert echo["requires_api_key"] is False
    missing = jtd("drivers", "no-such-driver")
    assert missing.exit_code == 1
    assert "no-such-driver" in missing.stderr


@needs("openai")
def test_models_list_asks_the_provider(jtd: Cli) -> None:
    result = jtd("models", "list", "-p", "openai", "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)["models"]
    assert {r["id"] for r in rows} == set(MODELS["openai"])
    mini = next(r for r in rows if r["id"] == "gpt-4o-mini")
    assert Decimal(mini["input_per_million"]) > 0
    plain = jtd("models", "list", "-p", "openai")
    assert all(m in plain.stdout for m in MODELS["openai"])


@needs("openai")
@needs("ollama")
def test_models_sync_then_offline_listing(jtd: Cli) -> None:
    before = jtd("models", "list", "--offline", "-p", "ollama", "--json")
    assert json.loads(before.stdout)["models"] == []
    dry = jtd("models", "sync", "-p", "ollama", "--dry-run", "--json")
    assert json.loads(dry.stdout)["providers"][0]["added"] == sorted(MODELS["ollama"])
    assert json.loads(jtd("models", "list", "--offline", "-p", "ollama",
                          "--json").stdout)["models"] == []
    synced = jtd("models", "sync", "-p", "ollama", "-p", "wrongkey", "--json")
    assert synced.exit_code == 1  # one provider failed, the other was stored
    report = {p["provider"]: p for p in json.loads(synced.stdout)["providers"]}
    assert report["ollama"]["error"] is None
    assert report["wrongkey"]["error"]
    after = jtd("models", "list", "--offline", "-p", "ollama", "--json")
    assert {r["id"] for r in json.loads(after.stdout)["models"]} == set(MODELS["ollama"])


@needs("openai")
def test_providers_check_accepts_and_rejects_keys(jtd: Cli) -> None:
    good = jtd("providers", "--check", "openai", "--json")
    assert good.exit_code == 0, good.stdout
    (row,) = json.loads(good.stdout)["providers"]
    assert row["status"].startswith("ok")
    assert row["default"] is True
    bad = jtd("providers", "--check", "openai", "wrongkey", "--json")
    assert bad.exit_code == 1
    status = {r["name"]: r["status"] for r in json.loads(bad.stdout)["providers"]}
    assert status["wrongkey"].startswith("rejected")


@needs("openai")
def test_providers_never_show_keys(jtd: Cli) -> None:
    result = jtd("providers")
    assert result.exit_code == 0
    assert "sk-" not in result.output
    assert "set (config)" in result.stdout


@needs("openai")
def test_usage_reports_the_ledger(jtd: Cli) -> None:
    empty = jtd("usage")
    assert empty.exit_code == 0
    assert "no usage ledger yet" in empty.stderr
    reply = json.loads(jtd("chat", "--json", "hello ledger").stdout)
    result = jtd("usage", "--by", "provider,model", "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    (row,) = data["totals"]
    assert (row["provider"], row["model"], row["calls"]) == ("openai", reply["model"], 1)
    assert Decimal(row["cost"]) == Decimal(reply["cost"])
    assert row["input_tokens"] == reply["usage"]["input_tokens"]
    assert jtd("usage", "--by", "colour").exit_code == 2
    assert jtd("usage", "--since", "yesterday-ish").exit_code == 2


def test_version_and_python_dash_m(jtd: Cli) -> None:
    out = subprocess.run([sys.executable, "-m", "jtd_ai", "--version"], capture_output=True,
                         text=True, timeout=60, check=True)
    assert "jtd-ai" in out.stdout


def test_providers_mask_a_password_in_base_url(jtd: Cli) -> None:
    with jtd.config.open("a", encoding="utf-8") as config:
        config.write('\n[providers.gateway]\ndriver = "ollama"\n'
                     'base_url = "http://bob:hunter2-secret@127.0.0.1:9"\n')
    result = jtd("providers", "--json")
    assert result.exit_code in (0, 1), result.output
    rows = {r["name"]: r for r in json.loads(result.stdout)["providers"]}
    assert "hunter2-secret" not in result.output
    assert rows["gateway"]["base_url"] == "http://bob:[REDACTED]@127.0.0.1:9"
