"""The conformance kit, once per mutant and once per unchanged driver: collected only by the
nested run in :mod:`test_mutation` (the name does not start with ``test_``).

Each class is the driver's own conformance class (its samples, settings and model, read from
its test file) with the mutant's protocol as ``factory``; a mutant with a patch applies it
for the length of its own tests.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
from mutants import CONTROLS, MUTANTS, Mutant  # the mutation folder is on sys.path

from jtd_ai.testing import DriverConformanceTests

ROOT = Path(__file__).resolve().parents[2]
KITS = {
    "openai": ("packages/jtd-ai-openai/tests/test_openai_conformance.py",
               "TestOpenAIConformance", "https://api.openai.com/v1"),
    "gemini": ("packages/jtd-ai-gemini/tests/test_gemini_conformance.py",
               "TestGeminiConformance", "https://generativelanguage.googleapis.com/v1beta"),
    "deepseek": ("examples/jtd-ai-deepseek/tests/test_deepseek_conformance.py",
                 "TestDeepSeekConformance", "https://api.deepseek.com"),
}


def _driver_kit(kit: str) -> Any:
    path, name, _ = KITS[kit]
    spec = importlib.util.spec_from_file_location(f"_kit_source_{kit}", ROOT / path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, name)


_SOURCES = {kit: _driver_kit(kit) for kit in KITS}


def _kit_class(label: str, kit: str, protocol: type, mutant: Mutant | None) -> type:
    source = _SOURCES[kit]
    body: dict[str, Any] = {
        "driver": source.driver, "model": source.model, "samples": source.samples,
        "settings": {**source.settings, "base_url": KITS[kit][2]},
        "unsupported_options": source.unsupported_options,
        "factory": protocol, "mutant_label": label,
    }
    if mutant is not None and mutant.patch is not None:
        patch = mutant.patch

        @pytest.fixture(autouse=True)
        def _seed_the_defect(self: Any, monkeypatch: pytest.MonkeyPatch) -> None:
            patch(monkeypatch)  # undone by monkeypatch after each test

        body["_seed_the_defect"] = _seed_the_defect
    return type(f"Test_{label}", (DriverConformanceTests,), body)


for _mutant in MUTANTS:
    globals()[f"Test_{_mutant.name}"] = _kit_class(_mutant.name, _mutant.kit, _mutant.protocol,
                                                   _mutant)
for _kit, _protocol in CONTROLS.items():
    globals()[f"Test_control_{_kit}"] = _kit_class(f"control_{_kit}", _kit, _protocol, None)
