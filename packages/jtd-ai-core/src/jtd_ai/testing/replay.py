"""Helpers for tests that replay recorded provider traffic ("captures") through a driver.

A captures folder holds one file per recorded body, named for what it is: ``chat_request.json``,
``chat_stream.txt``, ``error_429.json`` (with the reply's headers, when kept, beside it in
``error_429.headers.json``), and so on. A replay test sorts the files into kinds by its own
rule, replays every file of each kind, and fails on any file no rule knows, so no capture is
passed over in silence::

    def kind_of(path: Path) -> str | None:
        if path.name.endswith(".headers.json"):
            return "headers"
        if path.name.startswith("error_"):
            return "error"
        ...
        return None                       # unknown: test_every_capture_is_known fails

    @pytest.fixture
    def folder(captures) -> CaptureFolder:   # captures(): the folder, or a skip saying why
        return CaptureFolder(captures("acme"), kind_of)

    def test_every_capture_is_known(folder: CaptureFolder) -> None:
        folder.check_every_file_is_known()

    def test_errors(folder: CaptureFolder) -> None:
        for path in folder.files("error"):
            status, headers = error_status(path.name), sidecar_headers(path)
            ...                               # what the driver makes of it, checked here
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

__all__ = ["CaptureFolder", "error_status", "sidecar_headers", "sidecar_owner"]

_SIDECAR = ".headers.json"


class CaptureFolder:
    """The capture files under ``path``, each of a kind given by ``kind_of`` (None: unknown).

    ``recursive`` takes in files of subfolders too; ``skip_empty_kinds`` makes :meth:`files`
    skip the test, naming the kind, when the folder holds none of it."""

    def __init__(self, path: Path, kind_of: Callable[[Path], str | None], *,
                 recursive: bool = False, skip_empty_kinds: bool = False) -> None:
        self.path = path
        self.kind_of = kind_of
        self.recursive = recursive
        self.skip_empty_kinds = skip_empty_kinds

    def __repr__(self) -> str:
        return f"CaptureFolder({str(self.path)!r})"

    def all_files(self) -> list[Path]:
        """Every file, sorted."""
        found = self.path.rglob("*") if self.recursive else self.path.iterdir()
        return sorted(p for p in found if p.is_file())

    def files(self, kind: str) -> list[Path]:
        """The files of ``kind``, sorted."""
        found = [p for p in self.all_files() if self.kind_of(p) == kind]
        if not found and self.skip_empty_kinds:
            pytest.skip(f"no {kind} captures in {self.path}")
        return found

    def unknown(self) -> list[str]:
        """Files of no known kind, relative to the folder."""
        return [str(p.relative_to(self.path)) for p in self.all_files()
                if self.kind_of(p) is None]

    def check_every_file_is_known(self) -> None:
        """Fail, listing them, if any file is of no known kind: teach ``kind_of`` what it is."""
        unknown = self.unknown()
        if unknown:
            raise AssertionError(f"captures in {self.path} that no replay knows how to use "
                                 f"yet: {unknown}")


def error_status(name: str) -> int:
    """The HTTP status in an error capture's name, ``error_<status>[...].json``."""
    match = re.match(r"error_(\d{3})", name)
    if match is None:
        raise AssertionError(f"{name}: error captures are named error_<status>..., "
                             f"e.g. error_429.json")
    return int(match.group(1))


def sidecar_headers(path: Path) -> dict[str, str]:
    """The reply headers recorded beside ``path`` (``<name>.headers.json``), names lower-cased
    as the core hands them to a driver; empty when none were kept."""
    sidecar = path.with_name(path.name.removesuffix(".json") + _SIDECAR)
    if not sidecar.exists():
        return {}
    return {str(k).lower(): str(v) for k, v in json.loads(sidecar.read_text()).items()}


def sidecar_owner(sidecar: Path) -> Path:
    """The capture a ``<name>.headers.json`` file belongs to: ``<name>.json``."""
    return sidecar.with_name(sidecar.name.removesuffix(_SIDECAR) + ".json")
