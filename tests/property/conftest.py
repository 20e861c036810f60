"""The property-based suite: whatever goes into the public API (messages, options, tools,
config tables and files, environment variables), the call succeeds or raises a jtd_ai error,
and a ValidationError or ConfigurationError means no request reached the server.

Every test runs derandomized (a fixed seed: the same examples every run, CI included) with a
bounded example count (``propkit.examples``), so the suite stays well under a minute on two
cores. The strategies and the counting server live in ``helpers/propkit.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent / "helpers"))


@pytest.fixture(scope="session")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder for config files, the store (``JTD_AI_HOME``) and an empty user config
    directory, so no example reads or writes the user's own files."""
    path = tmp_path_factory.mktemp("property")
    (path / "home").mkdir()
    (path / "xdg").mkdir()
    return path
