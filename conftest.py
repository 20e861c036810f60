"""Fixtures shared by every package's tests (pytest loads this from the repository root)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import stamina

ROOT = Path(__file__).resolve().parent


def wire_dir() -> Path:
    """Where recorded provider captures live: ``$JTD_AI_WIRE_DIR``, else the team's shared
    folder beside the repository. Absent on a user's machine; tests that need it skip."""
    explicit = os.environ.get("JTD_AI_WIRE_DIR")
    return Path(explicit) if explicit else ROOT.parent / "shared" / "wire"


@pytest.fixture
def captures() -> Callable[[str], Path]:
    """``captures("openai")`` is the folder of recorded captures for a provider, or a skip
    that says why (the captures are not part of this project and may be missing)."""

    def for_provider(provider: str) -> Path:
        folder = wire_dir() / provider
        if not folder.is_dir():
            pytest.skip(f"no recorded captures at {folder} (set JTD_AI_WIRE_DIR to a folder "
                        f"holding <provider>/ captures to replay them)")
        return folder

    return for_provider


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory,
                   monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real user's jtd-ai files (config, catalog, ledger): each
    gets its own home and data directories, and no jtd-ai variable leaks in."""
    home = tmp_path_factory.mktemp("home")
    for name in ("HOME", "USERPROFILE", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "LOCALAPPDATA",
                 "APPDATA"):
        monkeypatch.setenv(name, str(home))
    for name in ("JTD_AI_HOME", "JTD_AI_CONFIG", "JTD_AI_DEFAULT_PROVIDER",
                 "JTD_AI_HTTP_BACKEND"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture(autouse=True)
def _no_backoff_sleep() -> Iterator[None]:
    """Retries run for real but without sleeping; each test's attempt limits still apply."""
    with stamina.set_testing(True, attempts=1000, cap=True):
        yield
